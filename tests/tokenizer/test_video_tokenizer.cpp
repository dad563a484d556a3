#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include "core/error.h"
#include "core/safetensors.h"
#include "tokenizer/video_tokenizer.h"

using namespace loong::tok;

namespace {
TokenizerConfig small(int64_t resolution = 16) {
  TokenizerConfig c;
  c.resolution = resolution;
  c.net.channels = {8, 8, 16};
  c.net.latent_channels = 4;
  c.net.groups = 4;
  c.quantizer.codebook_size = 32;
  return c;
}
// n clips of `frames` frames: a bright square moving right over a dark background.
std::vector<uint8_t> squares(int64_t n, int64_t frames, int64_t r, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n * frames * r * r * 3, 20);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y0 = rng() % (r - 5), x0 = rng() % (r / 2), color = 120 + rng() % 130;
    for (int64_t f = 0; f < frames; ++f)
      for (int64_t y = y0; y < y0 + 5; ++y)
        for (int64_t x = x0 + f; x < std::min(r, x0 + f + 5); ++x)
          for (int64_t c = 0; c < 3; ++c)
            v[(((i * frames + f) * r + y) * r + x) * 3 + c] = static_cast<uint8_t>(c == 1 ? color : color / 2);
  }
  return v;
}
}  // namespace

TEST(VideoTokenizer, ShapesAndCausalCodes) {
  VideoTokenizer t(small(), 3);
  auto clip = squares(1, 9, 16, 1);
  auto codes = t.encode(clip.data(), 1, 9, 16, 16);
  ASSERT_EQ(codes.size(), 3u * 2 * 2);  // 9 frames -> 3 latent frames of 2x2
  for (int32_t c : codes) EXPECT_TRUE(c >= 0 && c < 32);
  // Changing pixel frame 5 (latent frame 2 = ceil(5/4)) leaves latent frames 0 and 1 unchanged.
  auto changed = clip;
  for (int64_t i = 5 * 16 * 16 * 3; i < 6 * 16 * 16 * 3; ++i) changed[i] = static_cast<uint8_t>(255 - changed[i]);
  auto codes2 = t.encode(changed.data(), 1, 9, 16, 16);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(codes[i], codes2[i]) << "code " << i << " of latent frames 0-1 moved";
  auto px = t.decode(codes.data(), 1, 3, 2, 2);
  EXPECT_EQ(px.size(), clip.size());
}

TEST(VideoTokenizer, TrainingReducesReconstructionError) {
  VideoTokenizer t(small(), 5);
  TokenizerOptim opt;
  opt.revive_every = 5;
  auto eval_clip = squares(2, 5, 16, 99);
  auto before = t.reconstruct(eval_clip.data(), 2, 5, 16, 16);
  const double psnr0 = psnr(before.data(), eval_clip.data(), static_cast<int64_t>(eval_clip.size()));
  TokenizerLosses first, last;
  for (int step = 0; step < 60; ++step) {
    auto batch = squares(4, 5, 16, static_cast<uint32_t>(step));
    auto l = t.train_step(batch.data(), 4, 5, 16, 16, opt, 3e-3f);
    if (step == 0) first = l;
    last = l;
  }
  auto after = t.reconstruct(eval_clip.data(), 2, 5, 16, 16);
  const double psnr1 = psnr(after.data(), eval_clip.data(), static_cast<int64_t>(eval_clip.size()));
  EXPECT_LT(last.l2, first.l2 * 0.5) << "first " << first.l2 << " last " << last.l2;
  EXPECT_GT(psnr1, psnr0 + 3.0) << "held-out PSNR " << psnr0 << " -> " << psnr1;
  EXPECT_GT(ssim(after.data(), eval_clip.data(), 10, 16, 16), ssim(before.data(), eval_clip.data(), 10, 16, 16));
}

TEST(VideoTokenizer, SaveLoadRoundTripAndMismatchedFilesAreErrors) {
  VideoTokenizer t(small(), 7);
  const auto dir = std::filesystem::temp_directory_path() / ("loong_tok_" + std::to_string(::getpid()));
  t.save(dir);
  VideoTokenizer u = VideoTokenizer::load(dir);
  auto clip = squares(1, 5, 16, 3);
  EXPECT_EQ(t.encode(clip.data(), 1, 5, 16, 16), u.encode(clip.data(), 1, 5, 16, 16));
  // A tokenizer file whose shapes do not match its config.
  VideoTokenizer other([] {
    auto c = small();
    c.net.latent_channels = 8;
    return c;
  }());
  other.params().save(dir / "tokenizer.safetensors");
  try {
    VideoTokenizer::load(dir);
    FAIL() << "mismatched shapes must not load";
  } catch (const loong::Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.safetensors"), std::string::npos) << e.what();
  }
  // Clips of the wrong size.
  auto big = squares(1, 5, 32, 1);
  EXPECT_THROW(t.encode(big.data(), 1, 5, 32, 32), loong::InputError);
  EXPECT_THROW(t.encode(clip.data(), 1, 4, 16, 16), loong::InputError);  // 4 frames is not 1 + 4k
}

TEST(TokenizerConfig, JsonRoundTripOlderFilesAndTheSequenceContract) {
  TokenizerConfig c = small();
  c.net.patch = 2;
  c.net.block_temporal_kernel = 1;
  c.net.channels = {8, 16};
  c.net.temporal_down = {true, true};
  const TokenizerConfig back = TokenizerConfig::from_json(c.to_json(), "t.json");
  EXPECT_EQ(back.net.patch, 2);
  EXPECT_EQ(back.net.block_temporal_kernel, 1);
  EXPECT_EQ(back.net.channels, c.net.channels);
  // A tokenizer.json written before patch / block_temporal_kernel existed reads as the full 3D net.
  auto old = small().to_json();
  old.erase("patch");
  old.erase("block_temporal_kernel");
  const TokenizerConfig o = TokenizerConfig::from_json(old, "old.json");
  EXPECT_EQ(o.net.patch, 1);
  EXPECT_EQ(o.net.block_temporal_kernel, 3);
  // Video tokens are x8 in space and x4 in time: a network compressing x16 is refused by name.
  auto wide = small().to_json();
  wide["patch"] = 2;
  try {
    TokenizerConfig::from_json(wide, "wide.json");
    FAIL() << "x16 spatial compression accepted";
  } catch (const loong::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("wide.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("x16"), std::string::npos) << e.what();
  }
}

TEST(ImageMetrics, PsnrAndSsimOfKnownCases) {
  std::vector<uint8_t> a(8 * 8 * 3, 100), b = a;
  EXPECT_EQ(psnr(a.data(), b.data(), 192), 99.0);
  EXPECT_NEAR(ssim(a.data(), b.data(), 1, 8, 8), 1.0, 1e-12);
  for (auto& x : b) x = 110;  // MSE 100 -> 10 log10(255^2/100) = 28.13 dB
  EXPECT_NEAR(psnr(a.data(), b.data(), 192), 28.1308, 1e-3);
}

namespace {
std::filesystem::path fresh_tok_dir(const std::string& name) {
  const auto d = std::filesystem::temp_directory_path() / ("loong_toksave_" + std::to_string(::getpid())) / name;
  std::filesystem::remove_all(d);
  return d;
}
// Copies the files of a saved tokenizer into `dir/.save` and marks it committed, as a save that was
// killed after its commit point and before all of its files were moved into place leaves it.
void stage_committed_save(const std::filesystem::path& from, const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  const fs::path pending = dir / VideoTokenizer::kStagingDir;
  fs::create_directories(pending);
  for (const char* f : {"tokenizer.safetensors", "tokenizer_optimizer.safetensors", "tokenizer.json", "checksums.json"})
    fs::copy_file(from / f, pending / f, fs::copy_options::overwrite_existing);
  std::ofstream(pending / "DONE").flush();
}
}  // namespace

TEST(VideoTokenizer, AnInterruptedSaveIsRolledForwardNeverMixed) {
  namespace fs = std::filesystem;
  VideoTokenizer a(small(), 11), b(small(), 12);
  ASSERT_NE(a.fingerprint(), b.fingerprint());
  const fs::path dir = fresh_tok_dir("rollforward"), other = fresh_tok_dir("other");
  a.save(dir);
  b.save(other);
  // Killed after the commit point, when only the weights had been moved into place: the directory
  // holds b's weights beside a's tokenizer.json, and the committed set is still staged.
  stage_committed_save(other, dir);
  fs::rename(dir / VideoTokenizer::kStagingDir / "tokenizer.safetensors", dir / "tokenizer.safetensors");
  const VideoTokenizer loaded = VideoTokenizer::load(dir);
  EXPECT_EQ(loaded.fingerprint(), b.fingerprint()) << "the committed save must win, whole";
  EXPECT_FALSE(fs::exists(dir / VideoTokenizer::kStagingDir));
  EXPECT_EQ(VideoTokenizer::load(dir).fingerprint(), b.fingerprint());

  // A save killed before its commit point (staging not marked DONE) leaves the previous save whole.
  const fs::path dir2 = fresh_tok_dir("uncommitted");
  a.save(dir2);
  stage_committed_save(other, dir2);
  fs::remove(dir2 / VideoTokenizer::kStagingDir / "DONE");
  EXPECT_EQ(VideoTokenizer::load(dir2).fingerprint(), a.fingerprint()) << "an uncommitted save is ignored";
  a.save(dir2);  // and discarded by the next save
  EXPECT_FALSE(fs::exists(dir2 / VideoTokenizer::kStagingDir));
  EXPECT_EQ(VideoTokenizer::load(dir2).fingerprint(), a.fingerprint());
}

TEST(VideoTokenizer, FilesFromDifferentSavesAreRefusedByTheirChecksums) {
  namespace fs = std::filesystem;
  VideoTokenizer a(small(), 21), b(small(), 22);
  const fs::path dir = fresh_tok_dir("mixed"), other = fresh_tok_dir("mixed_other");
  a.save(dir);
  b.save(other);
  fs::copy_file(other / "tokenizer.safetensors", dir / "tokenizer.safetensors", fs::copy_options::overwrite_existing);
  try {
    VideoTokenizer::load(dir);
    FAIL() << "weights of another save must not load beside this save's files";
  } catch (const loong::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.safetensors does not match checksums.json"), std::string::npos)
        << e.what();
  }
}

TEST(VideoTokenizer, NonFiniteWeightsAreNeverSavedNorLoaded) {
  namespace fs = std::filesystem;
  VideoTokenizer a(small(), 31);
  const fs::path dir = fresh_tok_dir("nan");
  a.save(dir);
  const std::string before = a.fingerprint();
  a.params().params()[5] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(a.save(dir), loong::DivergedError);
  EXPECT_EQ(VideoTokenizer::load(dir).fingerprint(), before) << "the refused save left the previous one in place";
  // NaN weights written by other means (a file edited or produced elsewhere) are refused on load.
  const fs::path dir2 = fresh_tok_dir("nan_file");
  VideoTokenizer(small(), 32).save(dir2);
  a.params().save(dir2 / "tokenizer.safetensors");
  fs::remove(dir2 / "checksums.json");  // as a tokenizer saved before checksums existed
  try {
    VideoTokenizer::load(dir2);
    FAIL() << "NaN weights must not load";
  } catch (const loong::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("non-finite"), std::string::npos) << e.what();
  }
}

// mid_blocks = 0 (no residual block at the latent resolution, docs/quality.md section 7): a
// working tokenizer with the same contract (shapes, causality), without any mid-block tensor, and
// its config survives tokenizer.json.
TEST(VideoTokenizer, NoMidBlocksKeepsTheContract) {
  TokenizerConfig c = small();
  c.net.mid_blocks = 0;
  VideoTokenizer t(c, 3);
  int64_t mid = 0, total = 0;
  for (const auto& nt : t.params().tensors()) mid += nt.name.find(".mid.") != std::string::npos, ++total;
  EXPECT_EQ(mid, 0);
  VideoTokenizer with_mid(small(), 3);
  int64_t mid1 = 0;
  for (const auto& nt : with_mid.params().tensors()) mid1 += nt.name.find(".mid.") != std::string::npos;
  EXPECT_GT(mid1, 0) << "the default config has mid-block tensors (the name pattern is right)";
  auto clip = squares(1, 9, 16, 2);
  auto codes = t.encode(clip.data(), 1, 9, 16, 16);
  ASSERT_EQ(codes.size(), 3u * 2 * 2);
  auto changed = clip;
  for (int64_t i = 5 * 16 * 16 * 3; i < 6 * 16 * 16 * 3; ++i) changed[i] = static_cast<uint8_t>(255 - changed[i]);
  auto codes2 = t.encode(changed.data(), 1, 9, 16, 16);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(codes[i], codes2[i]) << "code " << i << " of latent frames 0-1 moved";
  EXPECT_EQ(t.decode(codes.data(), 1, 3, 2, 2).size(), clip.size());
  EXPECT_EQ(TokenizerConfig::from_json(c.to_json(), "test").net.mid_blocks, 0);
  c.net.mid_blocks = -1;
  EXPECT_THROW(VideoTokenizer(c, 3), loong::ConfigError);
}
