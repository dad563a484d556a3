// Unit tests of the caption-fidelity evaluator (eval/) that need no data: the dense head's
// gradients by finite differences, the caption grammar, the motion rule on exact tracks, windows
// and segments of a video score, the report and contact sheet, classifier directory errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core/error.h"
#include "core/fs.h"
#include "eval/caption.h"
#include "eval/contact_sheet.h"
#include "eval/dense.h"
#include "eval/digit_classifier.h"
#include "eval/evaluation_report.h"
#include "eval/motion.h"
#include "eval/tokenizer_round_trip.h"
#include "eval/video_score.h"
#include "tests/common/test_data.h"

namespace fs = std::filesystem;
using namespace loong;
using namespace loong::eval;
using loong::testing::dot;
using loong::testing::randn;

namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("loong-eval-units-" + name + "-" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Predictions of a digit moving at (vx, vy) px/frame from (x0, y0), bouncing in [lo, hi].
std::vector<FramePrediction> moving_digit(int digit, int64_t frames, double x0, double y0, double vx, double vy,
                                          double lo = 10, double hi = 54) {
  std::vector<FramePrediction> p(static_cast<size_t>(frames));
  double x = x0, y = y0;
  for (auto& f : p) {
    f.digit_found = true, f.digit = digit, f.confidence = 1;
    f.location.found = true, f.location.x = x, f.location.y = y;
    x += vx, y += vy;
    if (x < lo || x > hi) vx = -vx, x = x < lo ? 2 * lo - x : 2 * hi - x;
    if (y < lo || y > hi) vy = -vy, y = y < lo ? 2 * lo - y : 2 * hi - y;
  }
  return p;
}

}  // namespace

TEST(Dense, GradientsMatchFiniteDifferences) {
  tok::ParamStore store;
  Dense dense(store, "head", 2 * 1 * 2 * 3, 5);
  store.allocate();
  store.init_random(3);
  const tok::Shape5 in{3, 2, 1, 2, 3};
  EXPECT_EQ(dense.out_shape(in), (tok::Shape5{3, 5, 1, 1, 1}));
  auto x = randn(static_cast<size_t>(in.numel()), 1);
  const auto r = randn(15, 2);
  auto loss = [&] { return dot(dense.forward(x.data(), in), r); };
  store.zero_grad();
  dense.forward(x.data(), in);
  const float* dx = dense.backward(r.data(), true);
  const std::vector<float> dx_a(dx, dx + in.numel());
  loong::testing::expect_grad_matches(x, dx_a, loss, "dense dx");
  for (int64_t t = 0; t < 2; ++t) {
    const auto& info = store.tensor(t);
    std::vector<float> p(store.param(t), store.param(t) + info.numel);
    const std::vector<float> g(store.grad(t), store.grad(t) + info.numel);
    auto loss_p = [&] {
      std::copy(p.begin(), p.end(), store.param(t));
      return dot(dense.forward(x.data(), in), r);
    };
    loong::testing::expect_grad_matches(p, g, loss_p, info.name.c_str());
    std::copy(p.begin(), p.end(), store.param(t));
  }
  // Gradients accumulate across backward calls (the layer contract).
  dense.forward(x.data(), in);
  dense.backward(r.data(), false);
  EXPECT_NEAR(store.grad(1)[0], 2 * (r[0] + r[5] + r[10]), 1e-5) << "bias gradient after two backward passes";
  EXPECT_THROW(dense.out_shape({3, 2, 1, 2, 2}), InputError);
}

TEST(Caption, ParsesEveryMovingMnistForm) {
  Caption c = parse_caption("the digit 3 moves down and right");
  EXPECT_EQ(c.digit, 3);
  EXPECT_EQ(c.direction, (Direction{1, 1}));
  EXPECT_FALSE(c.bouncing);
  c = parse_caption("the digit 7 moves left, bouncing off the edges");
  EXPECT_EQ(c.digit, 7);
  EXPECT_EQ(c.direction, (Direction{-1, 0}));
  EXPECT_TRUE(c.bouncing);
  EXPECT_EQ(parse_caption("The digit 0 moves UP.").direction, (Direction{0, -1}));
  EXPECT_EQ(parse_caption("the digit 9 moves up and left").direction.str(), "up and left");
  EXPECT_EQ(parse_caption("the digit 1 moves right").direction.str(), "right");
  EXPECT_EQ((Direction{}).str(), "none");
  EXPECT_TRUE((Direction{1, -1}).same_axes({-1, 1}));
  EXPECT_FALSE((Direction{1, 0}).same_axes({1, 1}));
}

TEST(Caption, RejectsWhatItCannotScore) {
  EXPECT_THROW(parse_caption("the digit 3 moves up and the digit 5 moves left"), UnsupportedCaptionError);
  for (const char* bad : {"", "a cat", "the digit x moves up", "the digit 3 moves sideways", "the digit 3 moves up and",
                          "the digit 3 moves up and down", "the digit 3 moves left quickly"}) {
    try {
      parse_caption(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UnsupportedCaptionError&) {
      ADD_FAILURE() << "'" << bad << "' called unsupported, not malformed";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("'") + bad + "'"), std::string::npos) << e.what();
    }
  }
}

TEST(Motion, ReadsTheInitialDirectionAcrossABounce) {
  auto track_of = [](const std::vector<FramePrediction>& p) {
    std::vector<TrackPoint> t;
    for (const auto& f : p) t.push_back({f.digit_found, f.location.x, f.location.y});
    return t;
  };
  // Right at 2 px/frame, bouncing off the right wall (x = 54) after 2 steps: still "right".
  auto t = track_of(moving_digit(3, 9, 50, 30, 2, 0));
  Motion m = measure_motion(t, 0, 9, 0.5);
  ASSERT_TRUE(m.measured);
  EXPECT_EQ(m.direction, (Direction{1, 0}));
  EXPECT_NEAR(m.vx, 2.0, 1e-9);
  EXPECT_EQ(m.steps, 8);
  // The step into the wall reflected to a standstill (51 -> 53 -> 53 -> 51): the mean of the two
  // steps before the reversal.
  m = measure_motion(track_of(moving_digit(3, 9, 51, 30, 2, 0)), 0, 9, 0.5);
  EXPECT_EQ(m.direction, (Direction{1, 0}));
  EXPECT_NEAR(m.vx, 1.0, 1e-9);
  // Up and left at 1 px/frame.
  m = measure_motion(track_of(moving_digit(3, 9, 30, 30, -1, -1)), 0, 9, 0.5);
  EXPECT_EQ(m.direction, (Direction{-1, -1}));
  // Slow drift inside the dead zone is no motion; a gap without a digit is bridged.
  auto p = moving_digit(3, 9, 30, 30, 0.2, 1);
  p[3].digit_found = false;
  m = measure_motion(track_of(p), 0, 9, 0.5);
  EXPECT_EQ(m.direction, (Direction{0, 1}));
  EXPECT_NEAR(m.vy, 1.0, 1e-9);
  // Half-pixel jitter is no turn; a digit jumping back and forth turns at every step.
  p = moving_digit(3, 9, 30, 30, 0, 1);
  for (size_t i = 0; i < p.size(); ++i) p[i].location.x += i % 2 ? 0.3 : -0.3;
  m = measure_motion(track_of(p), 0, 9, 0.5);
  EXPECT_EQ(m.turns_x, 0);
  EXPECT_EQ(m.turns_y, 0);
  EXPECT_EQ(m.direction, (Direction{0, 1}));
  for (size_t i = 0; i < p.size(); ++i) p[i].location.x = 30 + (i % 2 ? 6 : -6);
  m = measure_motion(track_of(p), 0, 9, 0.5);
  EXPECT_EQ(m.turns_x, 7);
  // One bounce is one turn.
  EXPECT_EQ(measure_motion(track_of(moving_digit(3, 9, 50, 30, 2, 0)), 0, 9, 0.5).turns_x, 1);
  // One frame with a digit: nothing to measure.
  for (size_t i = 1; i < p.size(); ++i) p[i].digit_found = false;
  EXPECT_FALSE(measure_motion(track_of(p), 0, 9, 0.5).measured);
}

TEST(VideoScore, WindowsTileTheVideoExactly) {
  // 25 s at 8 fps in 10 s windows: 80 + 80 + 40 frames.
  const auto p = moving_digit(4, 200, 20, 20, 1, -2);
  ScoreOptions o;
  const VideoScore s = score_video(p, parse_caption("the digit 4 moves up and right"), o);
  ASSERT_EQ(s.windows.size(), 3u);
  EXPECT_EQ(s.windows[0].frames, 80);
  EXPECT_EQ(s.windows[1].frames, 80);
  EXPECT_EQ(s.windows[2].frames, 40);
  EXPECT_EQ(s.windows[2].first_frame, 160);
  EXPECT_EQ(s.frames, 200);
  EXPECT_EQ(s.frame_digits.size(), 200u);
  EXPECT_EQ(s.windows[0].motion_segments, 10);  // steps 0..79 in 8-step segments
  EXPECT_EQ(s.windows[2].motion_segments, 5);   // steps 160..198: 8+8+8+8+7
  EXPECT_DOUBLE_EQ(s.captioned_digit_fraction, 1.0);
  EXPECT_DOUBLE_EQ(s.identity_consistency, 1.0);
  EXPECT_TRUE(s.initial_direction_agrees);
  ASSERT_TRUE(s.motion_agreement);
  EXPECT_DOUBLE_EQ(*s.motion_agreement, 1.0);
  // A 10 s window that does not divide the video (and other window lengths) still covers it.
  for (double ws : {1.0, 3.3, 10.0, 24.9, 25.0, 60.0}) {
    o.window_seconds = ws;
    const VideoScore v = score_video(p, parse_caption("the digit 4 moves up and right"), o);
    int64_t covered = 0;
    for (const auto& w : v.windows) {
      EXPECT_EQ(w.first_frame, covered);
      covered += w.frames;
    }
    EXPECT_EQ(covered, 200) << "window " << ws << " s";
  }
}

TEST(VideoScore, CountsWrongDigitsMissingDigitsAndWrongMotion) {
  auto p = moving_digit(5, 80, 30, 30, 1, 0);
  for (int64_t f = 40; f < 60; ++f) p[f].digit = 6;                             // 20 frames of another digit
  for (int64_t f = 60; f < 70; ++f) p[f].digit_found = false, p[f].digit = -1;  // 10 without a digit
  const VideoScore s = score_video(p, parse_caption("the digit 5 moves right"), ScoreOptions{});
  EXPECT_DOUBLE_EQ(s.captioned_digit_fraction, 50.0 / 80);
  EXPECT_EQ(s.majority_digit, 5);
  EXPECT_DOUBLE_EQ(s.identity_consistency, 50.0 / 80);
  EXPECT_EQ(s.frames_with_digit, 70);
  // The same video captioned with the other direction and axis.
  const VideoScore wrong = score_video(p, parse_caption("the digit 5 moves up"), ScoreOptions{});
  EXPECT_FALSE(wrong.initial_direction_agrees);
  ASSERT_TRUE(wrong.motion_agreement);
  EXPECT_DOUBLE_EQ(*wrong.motion_agreement, 0.0);
  // Opposite sign, same axis: only the first segment disagrees.
  const VideoScore mirrored = score_video(p, parse_caption("the digit 5 moves left"), ScoreOptions{});
  EXPECT_FALSE(mirrored.initial_direction_agrees);
  EXPECT_NEAR(*mirrored.motion_agreement, 9.0 / 10, 1e-12);
  // The digit jumping about between 1-second segments' worth of frames: no segment agrees.
  auto jumpy = moving_digit(5, 80, 30, 30, 1, 0);
  for (size_t i = 0; i < jumpy.size(); ++i) jumpy[i].location.x = 30 + (i % 3 ? 5.0 * (i % 3) : -5.0);
  const VideoScore j = score_video(jumpy, parse_caption("the digit 5 moves right"), ScoreOptions{});
  EXPECT_FALSE(j.initial_direction_agrees);
  EXPECT_DOUBLE_EQ(*j.motion_agreement, 0.0);
  // Segments too long to hold only one bounce are refused.
  ScoreOptions long_segments;
  long_segments.segment_seconds = 3;
  EXPECT_THROW(score_video(p, parse_caption("the digit 5 moves right"), long_segments), ConfigError);
}

TEST(Report, AggregatesWindowsConfusionAndDirections) {
  std::vector<VideoScore> v;
  v.push_back(score_video(moving_digit(2, 160, 30, 30, 1, 1), parse_caption("the digit 2 moves down and right"), {}));
  auto p = moving_digit(7, 80, 30, 30, 0, -1);
  for (auto& f : p) f.digit = 1;  // the classifier sees a 1 throughout
  v.push_back(score_video(p, parse_caption("the digit 7 moves up"), {}));
  EvaluationReport r;
  r.label = "unit";
  r.videos = v;
  r.summary = summarize(v);
  const auto& S = r.summary;
  EXPECT_EQ(S.videos, 2);
  EXPECT_EQ(S.frames, 240);
  EXPECT_DOUBLE_EQ(*S.captioned_digit.mean, 0.5);
  ASSERT_EQ(S.captioned_digit.window_means.size(), 2u);
  EXPECT_DOUBLE_EQ(*S.captioned_digit.window_means[0], 0.5);  // both videos
  EXPECT_DOUBLE_EQ(*S.captioned_digit.window_means[1], 1.0);  // only the long one
  EXPECT_EQ(S.captioned_digit.window_videos[1], 1);
  EXPECT_DOUBLE_EQ(*S.captioned_digit.worst_window, 0.5);
  EXPECT_DOUBLE_EQ(*S.identity.mean, 1.0);
  EXPECT_EQ(S.confusion[2][2], 160);
  EXPECT_EQ(S.confusion[7][1], 80);
  EXPECT_EQ(S.initial_direction_by_caption.at("up").agreeing, 1);
  EXPECT_EQ(S.initial_direction_by_caption.at("down and right").videos, 1);
  const auto j = r.to_json();
  EXPECT_EQ(j["summary"]["confusion"]["frames"][7][1], 80);
  EXPECT_EQ(j["videos"].size(), 2u);
  EXPECT_EQ(j["videos"][0]["windows"].size(), 2u);
  const std::string table = r.table();
  EXPECT_NE(table.find("captioned digit fraction"), std::string::npos) << table;
  EXPECT_NE(table.find("up 1/1"), std::string::npos) << table;
}

TEST(ContactSheet, WritesOneRowPerVideo) {
  const fs::path d = fresh_dir("sheet");
  ContactSheet sheet(64, 8);
  std::vector<std::vector<uint8_t>> frames(20, std::vector<uint8_t>(64 * 64 * 3, 100));
  std::vector<int> digits(20, 3);
  digits[8] = 4;
  sheet.add_row(frames, digits, 3);
  sheet.add_row(frames, std::vector<int>(20, -1), 3);
  EXPECT_EQ(sheet.rows(), 2);
  sheet.write(d / "s.png");
  const std::string png = read_file(d / "s.png");
  ASSERT_GT(png.size(), 24u);
  EXPECT_EQ(png.substr(1, 3), "PNG");
  // IHDR: width = header 16 + gap 2 + 3 columns (frames 0, 8, 16) x 66; height = 2 rows x 70 + 2.
  auto be32 = [&](size_t off) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(png[off + i]);
    return v;
  };
  EXPECT_EQ(be32(16), 16u + 2 + 3 * 66);
  EXPECT_EQ(be32(20), 2u * 70 + 2);
  EXPECT_THROW(sheet.add_row(frames, std::vector<int>(3, 1), 3), InputError);
  EXPECT_THROW(ContactSheet(64, 8).write(d / "empty.png"), InputError);
  fs::remove_all(d);
}

TEST(DigitClassifier, DirectoryErrorsNameTheProblem) {
  const fs::path d = fresh_dir("classifier");
  auto message = [](const fs::path& dir) {
    try {
      DigitClassifier::load(dir);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(message(d / "nope").find("does not exist"), std::string::npos);
  // Save, then damage it in several ways.
  DigitClassifier c(DigitNetConfig{}, InkOptions{}, 1);
  c.save(d / "c");
  EXPECT_NO_THROW(DigitClassifier::load(d / "c"));
  fs::remove(d / "c" / "classifier.safetensors");
  EXPECT_NE(message(d / "c").find("classifier.safetensors"), std::string::npos);
  c.save(d / "c");
  write_file_atomic(d / "c" / "classifier.json", "{not json");
  EXPECT_NE(message(d / "c").find("not valid JSON"), std::string::npos);
  auto j = c.info().to_json();
  j["ink"].erase("threshold");
  write_file_atomic(d / "c" / "classifier.json", j.dump());
  EXPECT_NE(message(d / "c").find("'threshold'"), std::string::npos) << message(d / "c");
  j = c.info().to_json();
  j["network"]["channels"] = {16, 32, 128};  // weights of another shape
  write_file_atomic(d / "c" / "classifier.json", j.dump());
  EXPECT_NE(message(d / "c").find("conv2"), std::string::npos) << message(d / "c");
  fs::remove_all(d);
}

TEST(TokenizerRoundTrip, ReturnsEveryFrameInOrder) {
  tok::TokenizerConfig c;
  c.resolution = 16;
  c.net.channels = {8, 8, 16};
  c.net.latent_channels = 4;
  c.net.groups = 4;
  c.quantizer.codebook_size = 32;
  tok::VideoTokenizer t(c, 1);
  for (size_t n : {1u, 5u, 9u, 12u, 23u}) {  // clips of 9: 9+1+1+1, 9+9+5
    std::vector<std::vector<uint8_t>> frames(n, std::vector<uint8_t>(16 * 16 * 3, 40));
    const auto back = tokenizer_round_trip(t, frames, 16, 9);
    ASSERT_EQ(back.size(), n);
    for (const auto& f : back) EXPECT_EQ(f.size(), 16u * 16 * 3);
  }
  // The first clip's frames are the tokenizer's reconstruction of that clip.
  std::vector<std::vector<uint8_t>> frames(9, std::vector<uint8_t>(16 * 16 * 3, 0));
  for (size_t f = 0; f < 9; ++f) frames[f][f * 3] = 255;
  std::vector<uint8_t> clip;
  for (const auto& f : frames) clip.insert(clip.end(), f.begin(), f.end());
  const auto rec = t.reconstruct(clip.data(), 1, 9, 16, 16);
  const auto back = tokenizer_round_trip(t, frames, 16, 9);
  for (size_t f = 0; f < 9; ++f) EXPECT_TRUE(std::equal(back[f].begin(), back[f].end(), rec.begin() + f * 768));
  EXPECT_THROW(tokenizer_round_trip(t, frames, 16, 8), ConfigError);
  EXPECT_THROW(tokenizer_round_trip(t, frames, 32, 9), InputError);
}
