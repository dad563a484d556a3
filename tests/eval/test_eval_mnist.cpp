// The caption-fidelity evaluator on real data: a digit classifier trained on the MNIST train
// digits and measured on the 10,000 test digits, scoring real Moving-MNIST test videos (mp4 through
// FFmpeg, as `loong eval videos` does) against their shuffled-frame and wrong-caption versions;
// bad manifests and the CLI's errors.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "dataloader/manifest.h"
#include "dataloader/moving_mnist.h"
#include "dataloader/video_decoder.h"
#include "dataloader/video_encoder.h"
#include "eval/classifier_training.h"
#include "eval/manifest_evaluation.h"

namespace fs = std::filesystem;
using namespace loong;
using namespace loong::eval;

namespace {

const fs::path kCache = LOONG_TEST_CACHE;
constexpr int64_t kTestSteps = 300;  // ~11 s on one core; the default (1000) is for the product

fs::path fresh_dir(const std::string& name) {
  fs::path d = kCache / "work" / (name + "-" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

const MnistSplit* mnist(const std::string& split) {
  static std::map<std::string, MnistSplit> cache;
  if (!cache.count(split)) cache[split] = load_mnist(fetch_mnist(kCache), split);
  return &cache[split];
}

ClassifierTrainOptions test_training() {
  ClassifierTrainOptions o;
  o.steps = kTestSteps;
  o.progress = false;
  return o;
}

// The classifier the scoring tests use: the one ClassifierReachesAccuracyOnMnistTest saved in this
// build's cache when it is newer than this test binary, else one trained here (each test case
// runs in its own process).
DigitClassifier& trained_classifier() {
  static std::unique_ptr<DigitClassifier> c;
  if (c) return *c;
  const fs::path dir = kCache / "classifier";
  std::error_code ec;
  const bool fresh =
      fs::exists(dir / "DONE") && fs::last_write_time(dir / "DONE", ec) > fs::last_write_time("/proc/self/exe", ec);
  if (fresh) {
    c = std::make_unique<DigitClassifier>(DigitClassifier::load(dir));
  } else {
    c = std::make_unique<DigitClassifier>(train_digit_classifier(*mnist("train"), *mnist("test"), test_training()));
    // Saved under a private name and renamed: test cases may run in parallel.
    const fs::path mine = kCache / ("classifier-" + std::to_string(getpid()));
    c->save(mine);
    fs::remove_all(dir, ec);
    fs::rename(mine, dir, ec);
    if (ec) fs::remove_all(mine, ec);
  }
  return *c;
}

struct VideoSet {
  fs::path manifest;
  std::vector<ManifestEntry> entries;
};

// `count` real one-digit Moving-MNIST test videos of `frames` frames, as mp4 + manifest.
VideoSet real_videos(const fs::path& dir, int64_t count, int frames, uint64_t seed) {
  MovingMnistOptions o;
  o.count = count;
  o.frames = frames;
  o.split = "test";
  o.seed = seed;
  VideoSet s;
  s.manifest = write_moving_mnist(*mnist("test"), o, dir, false);
  s.entries = read_manifest(s.manifest).entries;
  return s;
}

// A manifest of the same videos, each with its frames permuted, or with its caption's digit changed.
fs::path variant(const fs::path& dir, const VideoSet& real, const std::string& kind) {
  MovingMnistOptions o;
  o.split = "test";
  std::string csv = "path,caption,split\n";
  std::mt19937_64 rng(11);
  fs::create_directories(dir / kind);
  for (size_t i = 0; i < real.entries.size(); ++i) {
    const ManifestEntry& e = real.entries[i];
    std::string caption = e.caption, path = e.path.string();
    if (kind == "shuffled") {
      DecodeOptions d;
      auto frames = decode_video(e.path, d).frames;
      std::shuffle(frames.begin(), frames.end(), rng);
      path = (dir / kind / e.path.filename()).string();
      write_mp4(path, frames, 64, 64, 8);
    } else {
      const size_t at = caption.find("the digit ") + 10;
      caption[at] = static_cast<char>('0' + (caption[at] - '0' + 1) % 10);
    }
    csv += path + ",\"" + caption + "\",test\n";
  }
  write_file_atomic(dir / (kind + ".csv"), csv);
  return dir / (kind + ".csv");
}

EvaluationReport evaluate(const fs::path& manifest, const std::string& label) {
  ManifestEvaluationOptions o;
  o.label = label;
  o.progress = false;
  EvaluationReport r = evaluate_manifest(manifest, trained_classifier(), kCache / "classifier", o);
  std::printf("%s\n", r.table().c_str());
  return r;
}

// Runs `loong` with args, stdout+stderr into *output; returns the exit status.
int run_loong(const std::vector<std::string>& args, std::string* output) {
  std::string cmd = std::string("'") + LOONG_BIN + "'";
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  output->clear();
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) output->append(buf, n);
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST(EvalOnMnist, ClassifierReachesAccuracyOnMnistTest) {
  const MnistSplit* train = mnist("train");
  const MnistSplit* test = mnist("test");
  ASSERT_EQ(train->count, 60000);
  ASSERT_EQ(test->count, 10000);
  DigitClassifier c = train_digit_classifier(*train, *test, test_training());
  std::printf("test accuracy %.4f on %lld MNIST test digits after %lld steps (%.1f s)\n", c.info().test_accuracy,
              static_cast<long long>(c.info().test_digits), static_cast<long long>(kTestSteps),
              c.info().training.value("train_seconds", 0.0));
  EXPECT_EQ(c.info().test_digits, 10000);
  EXPECT_GE(c.info().test_accuracy, 0.95);
  for (int d = 0; d < kDigitClasses; ++d) EXPECT_GE(c.info().per_digit_accuracy[d], 0.85) << "digit " << d;
  // Saved and loaded, it classifies the test digits exactly as before.
  const fs::path mine = kCache / ("classifier-" + std::to_string(getpid()));
  c.save(mine);
  DigitClassifier loaded = DigitClassifier::load(mine);
  EXPECT_EQ(loaded.info().test_accuracy, c.info().test_accuracy);
  EXPECT_EQ(measure_accuracy(loaded, *test).correct,
            static_cast<int64_t>(std::llround(c.info().test_accuracy * 10000)));
  std::error_code ec;
  fs::remove_all(kCache / "classifier", ec);
  fs::rename(mine, kCache / "classifier", ec);
  if (ec) fs::remove_all(mine, ec);
}

TEST(EvalOnMnist, RealVideosRankAboveShuffledFramesAndWrongCaptions) {
  const fs::path d = fresh_dir("rank");
  const VideoSet real = real_videos(d, 16, 80, 5);
  const EvaluationReport r = evaluate(real.manifest, "real");
  const EvaluationReport s = evaluate(variant(d, real, "shuffled"), "shuffled");
  const EvaluationReport w = evaluate(variant(d, real, "wrong-digit"), "wrong digit");
  ASSERT_EQ(r.summary.videos, 16);
  ASSERT_EQ(s.summary.videos, 16);
  ASSERT_EQ(w.summary.videos, 16);
  EXPECT_TRUE(r.skipped.empty());
  // Real test videos: the ceiling.
  EXPECT_GE(*r.summary.captioned_digit.mean, 0.9);
  EXPECT_GE(*r.summary.identity.mean, 0.9);
  EXPECT_GE(*r.summary.initial_direction_agreement, 0.8);
  EXPECT_GE(*r.summary.motion.mean, 0.9);
  EXPECT_EQ(r.summary.frames, 16 * 80);
  // Shuffled frames: the same digit in every frame, the motion gone.
  EXPECT_GE(*s.summary.identity.mean, 0.9);
  EXPECT_GE(*s.summary.captioned_digit.mean, 0.9);
  EXPECT_LE(*s.summary.initial_direction_agreement, 0.3);
  EXPECT_LE(*s.summary.motion.mean, 0.3);
  // Wrong digit in the caption: the captioned digit is (almost) never seen; motion is unaffected.
  EXPECT_LE(*w.summary.captioned_digit.mean, 0.1);
  EXPECT_DOUBLE_EQ(*w.summary.initial_direction_agreement, *r.summary.initial_direction_agreement);
  EXPECT_GE(*w.summary.identity.mean, 0.9);
  // Confusion: frames of real videos sit on the diagonal.
  int64_t diagonal = 0;
  for (int k = 0; k < kDigitClasses; ++k) diagonal += r.summary.confusion[k][k];
  EXPECT_GE(diagonal, static_cast<int64_t>(0.9 * 16 * 80));
  fs::remove_all(d);
}

TEST(EvalOnMnist, WindowsCoverALongRealVideo) {
  const fs::path d = fresh_dir("windows");
  const VideoSet real = real_videos(d, 2, 200, 9);  // 25 s at 8 fps
  ManifestEvaluationOptions o;
  o.progress = false;
  o.contact_sheet = d / "sheet.png";
  const EvaluationReport r = evaluate_manifest(real.manifest, trained_classifier(), kCache / "classifier", o);
  ASSERT_EQ(r.videos.size(), 2u);
  for (const auto& v : r.videos) {
    ASSERT_EQ(v.frames, 200);
    ASSERT_EQ(v.windows.size(), 3u);
    EXPECT_EQ(v.windows[0].frames, 80);
    EXPECT_EQ(v.windows[1].frames, 80);
    EXPECT_EQ(v.windows[2].frames, 40);
    for (const auto& w : v.windows) {
      EXPECT_GE(w.captioned_digit_fraction, 0.8);
      ASSERT_TRUE(w.motion_agreement);
      EXPECT_GE(*w.motion_agreement, 0.8);
    }
  }
  EXPECT_EQ(r.summary.captioned_digit.window_means.size(), 3u);
  EXPECT_TRUE(fs::exists(d / "sheet.png"));
  const auto j = r.to_json();
  EXPECT_EQ(j["videos"][0]["windows"][2]["frames"], 40);
  fs::remove_all(d);
}

TEST(EvalOnMnist, ManifestProblemsAreSkippedWithTheirLines) {
  const fs::path d = fresh_dir("problems");
  const VideoSet real = real_videos(d, 1, 16, 3);
  const std::string good = real.entries[0].path.string();
  write_file_atomic(d / "junk.mp4", "not a video");
  const std::string csv = "path,caption,split\n" + good + ",\"" + real.entries[0].caption + "\",test\n" +  // line 2
                          good + ",a cat walks by,test\n" +                                                // 3
                          good + ",the digit 3 moves up and the digit 5 moves left,test\n" +               // 4
                          (d / "junk.mp4").string() + ",the digit 1 moves up,test\n" +                     // 5
                          (d / "missing.mp4").string() + ",the digit 1 moves up,test\n" +                  // 6
                          "\"unterminated,the digit 1 moves up,test\n";                                    // 7
  write_file_atomic(d / "m.csv", csv);
  ManifestEvaluationOptions o;
  o.progress = false;
  const EvaluationReport r = evaluate_manifest(d / "m.csv", trained_classifier(), "c", o);
  EXPECT_EQ(r.videos.size(), 1u);
  ASSERT_EQ(r.skipped.size(), 5u);
  auto reason_of_line = [&](int line) {
    for (const auto& s : r.skipped)
      if (s.line == line) return s.reason;
    return std::string("(line not skipped)");
  };
  EXPECT_NE(reason_of_line(3).find("m.csv:3: cannot parse caption 'a cat walks by'"), std::string::npos)
      << reason_of_line(3);
  EXPECT_NE(reason_of_line(4).find("m.csv:4:"), std::string::npos);
  EXPECT_NE(reason_of_line(4).find("two digits"), std::string::npos) << reason_of_line(4);
  EXPECT_NE(reason_of_line(5).find("junk.mp4"), std::string::npos) << reason_of_line(5);
  EXPECT_NE(reason_of_line(6).find("missing.mp4"), std::string::npos) << reason_of_line(6);
  EXPECT_NE(reason_of_line(7).find("m.csv:7"), std::string::npos) << reason_of_line(7);
  EXPECT_EQ(r.to_json()["skipped"].size(), 5u);
  // --strict: the first problem is the error.
  o.strict = true;
  EXPECT_THROW(evaluate_manifest(d / "m.csv", trained_classifier(), "c", o), InputError);
  // Nothing scorable: an error that lists the reasons.
  o.strict = false;
  write_file_atomic(d / "bad.csv", "path,caption\n" + good + ",the digit 3 moves sideways\n");
  try {
    evaluate_manifest(d / "bad.csv", trained_classifier(), "c", o);
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:2: cannot parse caption"), std::string::npos) << e.what();
  }
  // A manifest without a caption column, or none at all.
  write_file_atomic(d / "nocap.csv", "path\n" + good + "\n");
  EXPECT_THROW(evaluate_manifest(d / "nocap.csv", trained_classifier(), "c", o), FormatError);
  EXPECT_THROW(evaluate_manifest(d / "none.csv", trained_classifier(), "c", o), IoError);
  fs::remove_all(d);
}

TEST(EvalOnMnist, CommandLineReportsErrorsAndWritesReports) {
  const fs::path d = fresh_dir("cli");
  std::string out;
  EXPECT_EQ(run_loong({"eval", "videos", "--classifier", (d / "nope").string(), "--manifest", "m.csv", "--json",
                       (d / "r.json").string()},
                      &out),
            1);
  EXPECT_NE(out.find("classifier directory " + (d / "nope").string() + " does not exist"), std::string::npos) << out;
  EXPECT_EQ(run_loong({"eval", "train-classifier", "--out", (d / "c").string(), "--steps", "0"}, &out), 1);
  EXPECT_NE(out.find("steps must be >= 1"), std::string::npos) << out;
  EXPECT_EQ(run_loong({"eval", "videos", "--help"}, &out), 0);
  for (const char* flag : {"--classifier", "--manifest", "--json", "--contact-sheet", "--label", "--fps",
                           "--window-seconds", "--segment-seconds", "--dead-zone", "--resolution", "--strict"})
    EXPECT_NE(out.find(flag), std::string::npos) << flag;
  // A real run: the classifier of this build, real videos, the JSON and the table.
  trained_classifier();
  const VideoSet real = real_videos(d, 2, 24, 4);
  EXPECT_EQ(run_loong({"eval", "videos", "--classifier", (kCache / "classifier").string(), "--manifest",
                       real.manifest.string(), "--json", (d / "r.json").string(), "--contact-sheet",
                       (d / "s.png").string(), "--label", "cli"},
                      &out),
            0)
      << out;
  EXPECT_NE(out.find("eval cli: 2 videos scored, 0 skipped"), std::string::npos) << out;
  const auto j = nlohmann::json::parse(read_file(d / "r.json"));
  EXPECT_EQ(j["summary"]["videos"], 2);
  EXPECT_EQ(j["label"], "cli");
  EXPECT_TRUE(fs::exists(d / "s.png"));
  fs::remove_all(d);
}
