// `loong generate` end to end on a checkpoint written by the real coordinator and video worker:
// a tiny model trained for a few steps through two curriculum stages on clips of moving dots
// encoded by a tiny tokenizer, captions tokenized by a SentencePiece model trained here. Then the
// job (library and CLI): files, mp4 read back, batch prompts, and every bad input refused before
// any work.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "checkpoint/checkpoint_store.h"
#include "coordinator/coordinator.h"
#include "coordinator/training_job_runner.h"
#include "coordinator/worker_link.h"
#include "core/checksum.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/safetensors.h"
#include "dataloader/moving_mnist.h"
#include "dataloader/text_tokens.h"
#include "dataloader/video_decoder.h"
#include "generate/generate_job.h"
#include "tests/generate/generation_fixture.h"

namespace fs = std::filesystem;
using namespace loong;

namespace {

const char* kCaptions[] = {"two dots move apart",  "two dots move left",   "a dot moves right", "dots cross",
                           "two dots move right",  "a dot moves left",     "dots move apart",   "two dots cross",
                           "a dot and a dot move", "dots move left fast"};
constexpr int kClips = 10, kTrain = 8, kFrames = 17;

// Clips of moving dots: captions tokenized with the SentencePiece model, frames encoded with the
// tokenizer; provenance as CorpusSampleSource reports it.
class DotsSource final : public SampleSource {
 public:
  DotsSource(tok::VideoTokenizer& t, const fs::path& spm, const fs::path& scratch) {
    std::vector<std::string> caps(std::begin(kCaptions), std::end(kCaptions));
    vocab_.text_vocab = sentencepiece_pieces(spm, scratch);
    vocab_.codebook = t.config().quantizer.codebook_size;
    text_ = encode_texts(spm, caps, static_cast<int>(vocab_.text_vocab), scratch);
    for (int i = 0; i < kClips; ++i) {
      auto px = loong::testing::moving_dots(kFrames, 16, static_cast<uint32_t>(i + 1));
      codes_.push_back(t.encode(px.data(), 1, kFrames, 16, 16));
    }
    provenance_.fps = 8;
    provenance_.tokenizer_id = "default";
    provenance_.tokenizer_json =
        nlohmann::json{{"config", t.config().to_json()}, {"steps", t.steps_taken()}, {"fingerprint", t.fingerprint()}}
            .dump();
    provenance_.text_model = read_file(spm);
  }
  VocabLayout vocab() const override { return vocab_; }
  int64_t grid_h() const override { return 2; }
  int64_t grid_w() const override { return 2; }
  std::vector<ClipEntry> clips(const std::string& split) const override {
    std::vector<ClipEntry> out;
    for (int i = split == "train" ? 0 : kTrain; i < (split == "train" ? kTrain : kClips); ++i)
      out.push_back({static_cast<uint64_t>(i), 5});
    return out;
  }
  ClipTokens fetch(uint64_t id, int64_t frames) override {
    ClipTokens c;
    c.text = text_.at(id);
    c.codes.assign(codes_.at(id).begin(), codes_.at(id).begin() + frames * 4);
    return c;
  }
  std::string describe() const override { return "moving dots (tests)"; }
  SourceProvenance provenance() const override { return provenance_; }

 private:
  VocabLayout vocab_;
  std::vector<std::vector<int32_t>> text_, codes_;
  SourceProvenance provenance_;
};

const char* kJob = R"(
[model]
hidden_size = 32
num_hidden_layers = 2
num_attention_heads = 4
num_key_value_heads = 2
intermediate_size = 48
[data]
text_budget = 8
[train]
micro_batch_size = 2
eval_every = 0
[[curriculum.stage]]
name = "image"
latent_frames = 1
batch_tokens = 48
steps = 4
lr = 3e-3
[[curriculum.stage]]
name = "short"
latent_frames = 5
batch_tokens = 112
steps = 4
lr = 3e-3
[checkpoint]
every = 0
keep_last = 2
)";

class GenerateJobTest : public ::testing::Test {
 protected:
  static fs::path root_;
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("loong_generate_job_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "scratch");
    // The video tokenizer, and a second one of the same shape with other weights.
    tok::VideoTokenizer t(loong::testing::tiny_tokenizer_config(32), 3);
    t.save(root_ / "tok");
    tok::VideoTokenizer(loong::testing::tiny_tokenizer_config(32), 4).save(root_ / "tok_other_weights");
    tok::VideoTokenizer(loong::testing::tiny_tokenizer_config(16), 3).save(root_ / "tok_other_codebook");
    // SentencePiece on the captions, through the helper like `loong text train`.
    std::string text;
    for (auto* c : kCaptions) text += std::string(c) + "\n";
    write_file_atomic(root_ / "captions.txt", text);
    ASSERT_EQ(run_command({sentencepiece_tool().string(), "train", "--input", (root_ / "captions.txt").string(),
                           "--vocab-size", "40", "--model", (root_ / "spm.model").string(), "--model-type", "bpe"}),
              0);
    DotsSource source(t, root_ / "spm.model", root_ / "scratch");
    // Train through the curriculum with the real coordinator and worker (one process).
    TrainJob job = TrainJob::from_toml(TomlConfig::parse_string(kJob, "test job"));
    job.checkpoint_dir = (root_ / "ckpt").string();
    auto grid = ProcessGrid::local();
    VideoWorker worker(video_worker_options(job, source), *grid, source);
    InProcessWorkerLink link(worker);
    Coordinator coordinator(job, source, link);
    ASSERT_EQ(coordinator.run(""), 0);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  static GenerateRequest request(const std::string& name) {
    GenerateRequest r;
    r.checkpoint = root_ / "ckpt";
    r.tokenizer = root_ / "tok";
    r.prompt = "two dots move apart";
    r.seconds = 3;
    r.out = root_ / (name + ".mp4");
    return r;
  }
  // Expects `r` to be refused with an InputError whose message contains `says`, and no output.
  static void expect_refused(const GenerateRequest& r, const std::string& says) {
    try {
      GenerateJob job(r);
      ADD_FAILURE() << "accepted; expected an error saying '" << says << "'";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
    EXPECT_TRUE(!fs::exists(r.out) || fs::is_directory(r.out)) << "output written for a refused request";
  }
};
fs::path GenerateJobTest::root_;

}  // namespace

TEST_F(GenerateJobTest, CheckpointRecordsWhatGenerationNeeds) {
  const fs::path step = root_ / "ckpt" / "step_00000008";
  ASSERT_TRUE(fs::exists(step / "DONE"));
  const auto sums = nlohmann::json::parse(read_file(step / "checksums.json"));
  EXPECT_TRUE(sums.contains("sequence.json"));
  EXPECT_TRUE(sums.contains("text_model.spm"));
  const SequenceManifest m = SequenceManifest::read(step);
  EXPECT_EQ(m.shape.frames, 5);  // the last stage
  EXPECT_EQ(m.max_latent_frames, 5);
  EXPECT_EQ(m.shape.text_budget, 8);
  EXPECT_EQ(m.vocab.codebook, 32);
  EXPECT_EQ(m.fps, 8);
  EXPECT_EQ(m.tokenizer_fingerprint, tok::VideoTokenizer::load(root_ / "tok").fingerprint());
  EXPECT_EQ(read_file(step / "text_model.spm"), read_file(root_ / "spm.model"));
  // The image stage's checkpoint records its own (shorter) trained length.
  EXPECT_EQ(SequenceManifest::read(root_ / "ckpt" / "step_00000004").shape.frames, 1);
}

TEST_F(GenerateJobTest, WritesAReadableVideoStatsAndContactSheet) {
  GenerateRequest r = request("video");
  r.contact_sheet = root_ / "sheet.png";
  r.sampling.seed = 1;
  GenerateJob job(r);
  EXPECT_EQ(job.checkpoint().dir(), root_ / "ckpt" / "step_00000008");  // newest of the root
  EXPECT_TRUE(job.warning().empty());
  EXPECT_EQ(job.pixel_frames(), 24);  // 3 s at 8 fps
  const auto files = job.run(false);
  ASSERT_EQ(files.size(), 1u);
  // Read back with the project's own decoder: frame count and size.
  DecodeOptions d;
  d.resolution = 16;
  d.fps = 8;
  const DecodedVideo back = decode_video(r.out, d);
  EXPECT_EQ(back.source_width, 16);
  EXPECT_EQ(back.source_height, 16);
  ASSERT_EQ(back.frames.size(), 24u);
  // The frames are the generated ones, in order, up to the codec's loss: yuv420p keeps luma at full
  // resolution (chroma is subsampled 2x2, which the noise of an untrained tokenizer does not survive).
  const GeneratedVideo v = job.generate(0);
  auto luma_diff = [](const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
    double d = 0;
    for (size_t p = 0; p < a.size(); p += 3)
      d += std::fabs((0.299 * a[p] + 0.587 * a[p + 1] + 0.114 * a[p + 2]) -
                     (0.299 * b[p] + 0.587 * b[p + 1] + 0.114 * b[p + 2]));
    return d / static_cast<double>(a.size() / 3);
  };
  double same = 0, shifted = 0;
  for (size_t f = 0; f < v.frames.size(); ++f) {
    same += luma_diff(v.frames[f], back.frames[f]) / 24;
    shifted += luma_diff(v.frames[f], back.frames[(f + 12) % 24]) / 24;
  }
  EXPECT_LT(same, 6.0) << "mean absolute luma difference";
  EXPECT_LT(same, shifted / 2) << "frames out of order";
  // One stats line per frame, NLL of its latent frame.
  std::ifstream st(root_ / "video.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(st, line)) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j.at("frame").get<int>(), lines);
    EXPECT_NEAR(j.at("nll").get<double>(), v.latent_nll[v.latent_of_frame[lines]], 1e-9);
    EXPECT_GE(j.at("mean_intensity").get<double>(), 0.0);
    EXPECT_LE(j.at("bright_fraction").get<double>(), 1.0);
    ++lines;
  }
  EXPECT_EQ(lines, 24);
  EXPECT_TRUE(fs::exists(r.contact_sheet));
  ASSERT_EQ(files[0].summary.size(), 1u);  // 3 s: one 10-second window
  EXPECT_EQ(files[0].summary[0].frames, 24);
}

TEST_F(GenerateJobTest, BatchPromptsAreNumberedAndSeededApart) {
  write_file_atomic(root_ / "prompts.txt", "two dots move apart\n\n  a dot moves left  \n");
  GenerateRequest r = request("batch");
  r.prompt.clear();
  r.prompts = root_ / "prompts.txt";
  r.seconds = 1;
  GenerateJob job(r);
  ASSERT_EQ(job.prompts().size(), 2u);
  EXPECT_EQ(job.prompts()[1], "a dot moves left");
  const auto files = job.run(false);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].video, root_ / "batch_001.mp4");
  EXPECT_EQ(files[1].stats, root_ / "batch_002.jsonl");
  for (const auto& f : files) EXPECT_TRUE(fs::exists(f.video) && fs::exists(f.stats));
  EXPECT_NE(job.generate(0).latent_codes, job.generate(1).latent_codes);
}

TEST_F(GenerateJobTest, BadInputIsRefusedBeforeAnyWork) {
  GenerateRequest r = request("bad");
  r.prompt = "";
  expect_refused(r, "prompt is empty");
  r.prompt = "   ";
  expect_refused(r, "prompt is empty");
  r.prompt = "two dots move apart and two dots cross and a dot moves left fast";
  expect_refused(r, "text budget is 8 tokens");
  for (double s : {0.0, -1.0, 4000.0, std::nan("")}) {
    r = request("bad");
    r.seconds = s;
    expect_refused(r, "--seconds");
  }
  r = request("bad");
  r.tokenizer = root_ / "tok_other_codebook";
  expect_refused(r, "vocabulary mismatch");
  r.tokenizer = root_ / "tok_other_weights";
  expect_refused(r, "fingerprint");
  r.tokenizer = root_ / "no_such_tokenizer";
  expect_refused(r, "tokenizer.json");
  r = request("bad");
  r.checkpoint = root_ / "no_such_checkpoint";
  expect_refused(r, "does not exist");
  fs::create_directories(root_ / "empty_root");
  r.checkpoint = root_ / "empty_root";
  expect_refused(r, "holds no complete checkpoint");
  r = request("bad");
  r.out = root_ / "no_such_dir" / "v.mp4";
  expect_refused(r, "does not exist");
  r.out = root_;  // a directory
  expect_refused(r, "is a directory");
  r = request("bad");
  r.sampling.tail_latents = 5;  // must be < the 5 trained latent frames
  expect_refused(r, "--tail-frames");
  r = request("bad");
  r.sampling.temperature = -1;
  expect_refused(r, "--temperature");
}

TEST_F(GenerateJobTest, DamagedCheckpointIsRefused) {
  const fs::path copy = root_ / "damaged" / "step_00000008";
  fs::create_directories(copy.parent_path());
  fs::copy(root_ / "ckpt" / "step_00000008", copy, fs::copy_options::recursive);
  write_file_atomic(copy / "sequence.json", "{}");  // no longer matches checksums.json
  GenerateRequest r = request("damaged");
  r.checkpoint = copy;
  expect_refused(r, "does not match its checksum");
  r.checkpoint = copy.parent_path();  // as a root: skipped, with the reason
  expect_refused(r, "sequence.json does not match its checksum");
}

TEST_F(GenerateJobTest, NonFiniteWeightsAreRefusedEvenWithValidChecksums) {
  // A checkpoint committed with NaN weights (as versions before the save-side check could write):
  // its checksums match, so only the weights themselves can tell.
  const fs::path copy = root_ / "nan" / "step_00000008";
  fs::create_directories(copy.parent_path());
  fs::copy(root_ / "ckpt" / "step_00000008", copy, fs::copy_options::recursive);
  LlamaModel m(load_llama_config(copy));
  load_llama_weights(m, copy);
  m.params()[m.params().size() / 2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(save_llama(m, root_ / "nan" / "refused"), DivergedError) << "the save side refuses NaN weights";
  SafetensorsWriter w;
  for (const auto& t : m.tensors()) w.add_f32(t.name, t.shape, m.param(t));
  w.write(copy / "model.safetensors");
  auto sums = nlohmann::json::parse(read_file(copy / "checksums.json"));
  sums["model.safetensors"] = std::to_string(file_checksum(copy / "model.safetensors"));
  write_file_atomic(copy / "checksums.json", sums.dump());
  ASSERT_EQ(CheckpointStore::validate(copy), "");
  GenerateRequest r = request("nan");
  r.checkpoint = copy;
  try {
    GenerateJob job(r);
    FAIL() << "generation from NaN weights must be refused";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("non-finite values"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(r.out));
}

TEST_F(GenerateJobTest, CommandLineExitStatusAndOutput) {
  const std::string loong = LOONG_BIN;
  const std::string base = loong + " generate --checkpoint " + (root_ / "ckpt").string() + " --tokenizer " +
                           (root_ / "tok").string() + " --seconds 1 ";
  const fs::path log = root_ / "cli.txt";
  auto run = [&](const std::string& args) {
    const int rc = std::system((base + args + " > " + log.string() + " 2>&1").c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  EXPECT_EQ(run("--prompt '' --out " + (root_ / "cli_empty.mp4").string()), 1);
  EXPECT_NE(read_file(log).find("loong: error: the prompt is empty"), std::string::npos) << read_file(log);
  EXPECT_EQ(run("--prompt 'dots cross' --reencode off --out " + (root_ / "cli.mp4").string()), 0) << read_file(log);
  EXPECT_NE(read_file(log).find("0-1 s"), std::string::npos) << read_file(log);
  EXPECT_TRUE(fs::exists(root_ / "cli.mp4"));
  EXPECT_TRUE(fs::exists(root_ / "cli.jsonl"));
}
