// Tests of the tokenizer's causal 3D-CNN (tokenizer/conv_net.h): shapes, causality of the encoder
// and decoder, gradients of a residual block by finite differences, save/load and its errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/safetensors.h"
#include "tests/common/test_data.h"
#include "tokenizer/conv_net.h"

using namespace loong::tok;
using loong::testing::dot;
using loong::testing::randn;

namespace {

ConvNetConfig small_config() {
  ConvNetConfig c;
  c.channels = {8, 8, 16};
  c.temporal_down = {true, true, false};
  c.latent_channels = 4;
  c.groups = 4;
  return c;
}

// The demo's shape of network: pixel blocks packed into channels, two levels, frames mixed only in
// the resampling convolutions.
ConvNetConfig patch_config() {
  ConvNetConfig c;
  c.patch = 2;
  c.block_temporal_kernel = 1;
  c.channels = {8, 16};
  c.temporal_down = {true, true};
  c.latent_channels = 4;
  c.groups = 4;
  return c;
}

// True when any element of frame t (of every channel / batch item) differs.
bool frame_changed(const float* a, const float* b, const Shape5& s, int64_t t) {
  const int64_t plane = s.h * s.w;
  for (int64_t nc = 0; nc < s.n * s.c; ++nc)
    for (int64_t i = 0; i < plane; ++i)
      if (a[(nc * s.t + t) * plane + i] != b[(nc * s.t + t) * plane + i]) return true;
  return false;
}

// Which latent frames of the encoder's output change when pixel frame p of clip x is perturbed.
std::vector<bool> latents_changed_by_frame(Encoder& enc, const std::vector<float>& x, const Shape5& clip, int64_t p) {
  const Shape5 lat = enc.out_shape(clip);
  const float* z = enc.forward(x.data(), clip);
  const std::vector<float> z0(z, z + lat.numel());
  auto xp = x;
  const int64_t plane = clip.h * clip.w;
  for (int64_t c = 0; c < clip.c; ++c)
    for (int64_t i = 0; i < plane; ++i) xp[(c * clip.t + p) * plane + i] += 0.5f + 0.01f * i;
  const float* z1 = enc.forward(xp.data(), clip);
  std::vector<bool> changed(lat.t);
  for (int64_t j = 0; j < lat.t; ++j) changed[j] = frame_changed(z0.data(), z1, lat, j);
  return changed;
}

std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("loong_test_conv_net_" + std::to_string(::getpid()) + "_" + name);
}

}  // namespace

TEST(ConvNet, DefaultConfigShapes) {
  ConvNetConfig cfg;  // 3 levels: x8 in space, two temporal halvings
  ParamStore store;
  Encoder enc(store, cfg);
  Decoder dec(store, cfg);
  store.allocate();
  store.init_random(1);
  const Shape5 clip{1, 3, 5, 16, 24};
  const Shape5 lat = enc.out_shape(clip);
  EXPECT_EQ(lat, (Shape5{1, 16, 2, 2, 3}));
  EXPECT_EQ(dec.out_shape(lat), clip);
  EXPECT_EQ(cfg.latent_shape({2, 3, 17, 128, 128}), (Shape5{2, 16, 5, 16, 16}));  // paper setting
  EXPECT_EQ(cfg.latent_shape({1, 3, 65, 64, 64}), (Shape5{1, 16, 17, 8, 8}));
  auto x = randn(clip.numel(), 2);
  const float* z = enc.forward(x.data(), clip);
  std::vector<float> zc(z, z + lat.numel());
  const float* y = dec.forward(zc.data(), lat);
  for (int64_t i = 0; i < clip.numel(); ++i) ASSERT_TRUE(std::isfinite(y[i]));
}

TEST(ConvNet, BadShapesAndConfigsAreClearErrors) {
  ConvNetConfig cfg = small_config();
  ParamStore store;
  Encoder enc(store, cfg);
  store.allocate();
  std::vector<float> x(3 * 6 * 16 * 16);
  try {
    enc.forward(x.data(), {1, 3, 6, 16, 16});  // 6 frames is not 1 + 4k
    FAIL() << "no error for 6 frames";
  } catch (const loong::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("[1, 3, 6, 16, 16]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(enc.forward(x.data(), {1, 3, 5, 12, 16}), loong::InputError);  // 12 not a multiple of 8
  EXPECT_THROW(enc.forward(x.data(), {1, 1, 5, 16, 16}), loong::InputError);  // grey, not RGB
  ConvNetConfig bad = cfg;
  bad.groups = 3;  // does not divide 8
  ParamStore s2;
  EXPECT_THROW(Encoder(s2, bad), loong::ConfigError);
  bad = cfg;
  bad.temporal_down = {true};
  EXPECT_THROW(bad.validate(), loong::ConfigError);
}

class ConvNetCausality : public ::testing::TestWithParam<ConvNetConfig> {};

TEST_P(ConvNetCausality, EncoderIsCausal) {
  // Latent frame j depends on pixel frames <= 4j only: changing pixel frame p changes no latent
  // frame j < ceil(p / 4), and does change latent frame ceil(p / 4).
  const ConvNetConfig cfg = GetParam();
  ParamStore store;
  Encoder enc(store, cfg);
  store.allocate();
  store.init_random(3);
  const Shape5 clip{1, 3, 13, 16, 16};
  const Shape5 lat = enc.out_shape(clip);
  ASSERT_EQ(lat.t, 4);
  auto x = randn(clip.numel(), 4);
  for (int64_t p : {0, 1, 4, 5, 8, 12}) {
    const auto changed = latents_changed_by_frame(enc, x, clip, p);
    const int64_t first = (p + 3) / 4;
    for (int64_t j = 0; j < first; ++j)
      EXPECT_FALSE(changed[j]) << "pixel frame " << p << " leaks into latent " << j;
    EXPECT_TRUE(changed[first]) << "pixel frame " << p << " unused by latent " << first;
  }
}

TEST_P(ConvNetCausality, DecoderIsCausal) {
  // Pixel frame q depends on latent frames <= ceil(q / 4): changing latent j leaves pixel frames
  // q <= 4(j - 1) unchanged and changes pixel frame 4j - 3 (or 0 for j = 0).
  const ConvNetConfig cfg = GetParam();
  ParamStore store;
  Decoder dec(store, cfg);
  store.allocate();
  store.init_random(5);
  const Shape5 lat{1, cfg.latent_channels, 4, 2, 2};
  const Shape5 px = dec.out_shape(lat);
  ASSERT_EQ(px.t, 13);
  auto z = randn(lat.numel(), 6);
  const float* y = dec.forward(z.data(), lat);
  const std::vector<float> y0(y, y + px.numel());
  for (int64_t j = 0; j < lat.t; ++j) {
    auto zj = z;
    for (int64_t c = 0; c < lat.c; ++c)
      for (int64_t i = 0; i < lat.h * lat.w; ++i) zj[(c * lat.t + j) * lat.h * lat.w + i] += 1.0f;
    const float* y1 = dec.forward(zj.data(), lat);
    for (int64_t q = 0; q <= 4 * (j - 1); ++q)
      EXPECT_FALSE(frame_changed(y0.data(), y1, px, q)) << "latent " << j << " leaks into pixel frame " << q;
    EXPECT_TRUE(frame_changed(y0.data(), y1, px, j == 0 ? 0 : 4 * j - 3)) << "latent " << j;
  }
}

INSTANTIATE_TEST_SUITE_P(Configs, ConvNetCausality, ::testing::Values(small_config(), patch_config()),
                         [](const auto& info) { return info.param.patch == 1 ? "Full3D" : "Patch2Blocks2D"; });

TEST(ConvNet, TemporalKernelOneBoundsTheEncoderWindow) {
  // With time mixed only in the two stride-2 convolutions, latent frame j reads pixel frames
  // 4j-6 .. 4j: frame 4j-6 still reaches it, frame 4j-7 no longer does.
  const ConvNetConfig cfg = patch_config();
  ParamStore store;
  Encoder enc(store, cfg);
  store.allocate();
  store.init_random(11);
  const Shape5 clip{1, 3, 17, 16, 16};
  const Shape5 lat = enc.out_shape(clip);
  ASSERT_EQ(lat.t, 5);
  auto x = randn(clip.numel(), 12);
  for (int64_t p : {1, 2, 5, 9}) {
    const auto changed = latents_changed_by_frame(enc, x, clip, p);
    for (int64_t j = 0; j < lat.t; ++j) {
      const bool inside = p <= 4 * j && p >= 4 * j - 6;
      EXPECT_EQ(changed[j], inside) << "pixel frame " << p << ", latent frame " << j;
    }
  }
}

// Which latent cells (y, x) of latent frame j change when the pixels of one 8x8 cell (cy, cx) are
// perturbed in every frame. Returned as a h x w grid, row-major.
std::vector<bool> cells_changed_by_cell(Encoder& enc, const std::vector<float>& x, const Shape5& clip, int64_t cy,
                                        int64_t cx, int64_t j) {
  const Shape5 lat = enc.out_shape(clip);
  const float* z = enc.forward(x.data(), clip);
  const std::vector<float> z0(z, z + lat.numel());
  auto xp = x;
  const int64_t f = clip.h / lat.h;
  for (int64_t c = 0; c < clip.c; ++c)
    for (int64_t t = 0; t < clip.t; ++t)
      for (int64_t y = cy * f; y < (cy + 1) * f; ++y)
        for (int64_t xx = cx * f; xx < (cx + 1) * f; ++xx) xp[((c * clip.t + t) * clip.h + y) * clip.w + xx] += 0.7f;
  const float* z1 = enc.forward(xp.data(), clip);
  std::vector<bool> changed(lat.h * lat.w, false);
  for (int64_t c = 0; c < lat.c; ++c)
    for (int64_t i = 0; i < lat.h * lat.w; ++i) {
      const int64_t k = (c * lat.t + j) * lat.h * lat.w + i;
      if (z0[k] != z1[k]) changed[i] = true;
    }
  return changed;
}

// encoder_field = Cell (docs/quality.md section 7): a code is a function of its own 8x8 pixel cell.
// Perturbing one cell changes that cell's latent and no other, bit for bit, in every latent frame;
// the default (wide) encoder's latents of the neighbouring cells do change, so the check can fail.
TEST(ConvNet, CellFieldEncoderCodesSeeOnlyTheirOwnCell) {
  ConvNetConfig cell = patch_config();
  cell.encoder_norm = ConvNetConfig::Norm::Position;
  cell.encoder_field = ConvNetConfig::Field::Cell;
  ConvNetConfig wide = cell;
  wide.encoder_field = ConvNetConfig::Field::Wide;
  const Shape5 clip{1, 3, 9, 24, 24};  // 3 latent frames of 3x3 cells
  const auto x = randn(clip.numel(), 21);
  for (const bool local : {true, false}) {
    ParamStore store;
    Encoder enc(store, local ? cell : wide);
    store.allocate();
    store.init_random(5);
    for (int64_t j = 0; j < 3; ++j) {
      const auto changed = cells_changed_by_cell(enc, x, clip, 1, 1, j);  // the centre cell
      EXPECT_TRUE(changed[4]) << "latent frame " << j << ": the perturbed cell's own latent did not change";
      int64_t others = 0;
      for (int64_t i = 0; i < 9; ++i) others += i != 4 && changed[i];
      if (local)
        EXPECT_EQ(others, 0) << "latent frame " << j << ": a cell-field code saw another cell";
      else
        EXPECT_EQ(others, 8) << "latent frame " << j << ": the wide encoder should reach all 8 neighbours";
    }
  }
  // The downsampling is space-to-depth + a 1x1 convolution: [C, 4C, 3, 1, 1] (level 1 is 16 wide).
  ParamStore store;
  Encoder enc(store, cell);
  int found = 0;
  for (const auto& t : store.tensors())
    if (t.name == "encoder.down.1.downsample.weight") {
      EXPECT_EQ(t.shape, (std::vector<int64_t>{16, 64, 3, 1, 1}));
      ++found;
    }
  EXPECT_EQ(found, 1);
  ConvNetConfig bad = cell;
  bad.encoder_norm = ConvNetConfig::Norm::Group;  // GroupNorm would mix the whole frame into each code
  EXPECT_THROW(bad.validate(), loong::ConfigError);
}

TEST(ConvNet, PatchedNetworkShapesAndErrors) {
  const ConvNetConfig cfg = patch_config();
  EXPECT_EQ(cfg.spatial_factor(), 8);
  EXPECT_EQ(cfg.temporal_factor(), 4);
  ParamStore store;
  Encoder enc(store, cfg);
  Decoder dec(store, cfg);
  store.allocate();
  store.init_random(1);
  const Shape5 clip{2, 3, 9, 16, 24};
  const Shape5 lat = enc.out_shape(clip);
  EXPECT_EQ(lat, (Shape5{2, 4, 3, 2, 3}));
  EXPECT_EQ(dec.out_shape(lat), clip);
  // conv_in sees 3 * 2 * 2 packed channels; the decoder's conv_out writes them.
  int found = 0;
  for (const auto& t : store.tensors()) {
    if (t.name == "encoder.conv_in.weight") {
      EXPECT_EQ(t.shape, (std::vector<int64_t>{8, 12, 1, 3, 3}));
      ++found;
    }
    if (t.name == "decoder.conv_out.weight") {
      EXPECT_EQ(t.shape, (std::vector<int64_t>{12, 8, 1, 3, 3}));
      ++found;
    }
  }
  EXPECT_EQ(found, 2);
  std::vector<float> x(3 * 9 * 20 * 16);
  EXPECT_THROW(enc.forward(x.data(), {1, 3, 9, 20, 16}), loong::InputError);  // 20 not a multiple of 8
  ConvNetConfig bad = cfg;
  bad.block_temporal_kernel = 2;
  EXPECT_THROW(bad.validate(), loong::ConfigError);
  bad = cfg;
  bad.patch = 0;
  EXPECT_THROW(bad.validate(), loong::ConfigError);
}

TEST(ConvNet, ResBlockGradientsMatchFiniteDifferences) {
  ParamStore store;
  Workspace ws;
  ResBlock block(store, "b", 4, 6, 2, &ws);  // widening: 1x1x1 shortcut
  store.allocate();
  store.init_random(7);
  for (size_t i = 0; i < store.tensors().size(); ++i)  // non-trivial GroupNorm affines
    if (store.tensors()[i].shape.size() == 1 && store.tensors()[i].name.find("norm") != std::string::npos) {
      auto r = randn(store.tensors()[i].numel, 100 + i, 0.3f);
      float* p = store.param(static_cast<int64_t>(i));
      for (int64_t j = 0; j < store.tensors()[i].numel; ++j) p[j] += r[j];
    }
  const Shape5 in{2, 4, 3, 4, 5};
  auto x = randn(in.numel(), 8);
  const Shape5 out = block.out_shape(in);
  ASSERT_EQ(out, (Shape5{2, 6, 3, 4, 5}));
  auto R = randn(out.numel(), 9);
  auto loss = [&] { return dot(block.forward(x.data(), in), R); };
  loss();
  store.zero_grad();
  const float* dxp = block.backward(R.data());
  std::vector<float> dx(dxp, dxp + in.numel());
  std::vector<float> grads(store.grads().begin(), store.grads().end());
  const float h = 1e-2f;
  double max_dx = 1e-6, max_g = 1e-6;
  for (float g : dx) max_dx = std::max(max_dx, double(std::fabs(g)));
  for (float g : grads) max_g = std::max(max_g, double(std::fabs(g)));
  for (size_t i = 0; i < x.size(); i += 7) {
    const float s = x[i];
    x[i] = s + h;
    const double lp = loss();
    x[i] = s - h;
    const double lm = loss();
    x[i] = s;
    EXPECT_NEAR(dx[i], (lp - lm) / (2 * h), 3e-2 * max_dx) << "dx " << i;
  }
  auto params = store.params();
  for (size_t i = 0; i < params.size(); i += 5) {
    const float s = params[i];
    params[i] = s + h;
    const double lp = loss();
    params[i] = s - h;
    const double lm = loss();
    params[i] = s;
    EXPECT_NEAR(grads[i], (lp - lm) / (2 * h), 3e-2 * max_g) << "param " << i;
  }
}

TEST(ConvNet, SaveLoadRoundTripAndMismatchErrors) {
  const ConvNetConfig cfg = small_config();
  ParamStore a;
  Encoder ea(a, cfg);
  Decoder da(a, cfg);
  a.allocate();
  a.init_random(11);
  const auto path = temp_path("roundtrip.safetensors");
  a.save(path, {{"kind", "test"}});
  ParamStore b;
  Encoder eb(b, cfg);
  Decoder db(b, cfg);
  b.allocate();
  b.load(path);
  ASSERT_EQ(a.params().size(), b.params().size());
  for (size_t i = 0; i < a.params().size(); ++i) ASSERT_EQ(a.params()[i], b.params()[i]);
  // Same outputs from the loaded copy.
  const Shape5 clip{1, 3, 5, 8, 8};
  auto x = randn(clip.numel(), 12);
  const float* za = ea.forward(x.data(), clip);
  const float* zb = eb.forward(x.data(), clip);
  for (int64_t i = 0; i < ea.out_shape(clip).numel(); ++i) ASSERT_EQ(za[i], zb[i]);

  // Wider network: same names, other shapes -> FormatError naming the tensor.
  ConvNetConfig wide = cfg;
  wide.latent_channels = 8;
  ParamStore c;
  Encoder ec(c, wide);
  c.allocate();
  try {
    c.load(path);
    FAIL() << "loaded a file of another config";
  } catch (const loong::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("encoder.conv_out"), std::string::npos) << e.what();
  }
  // Deeper network: a tensor the file lacks.
  ConvNetConfig deep = cfg;
  deep.res_blocks = 2;
  ParamStore d;
  Encoder ed(d, deep);
  d.allocate();
  try {
    d.load(path);
    FAIL() << "loaded a file lacking tensors";
  } catch (const loong::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("block.1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}
