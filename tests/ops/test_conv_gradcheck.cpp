// Checks of the convolutional CPU kernels (ops/cpu/conv_ops.h): forward values against direct
// loop implementations written here, backward against central finite differences of
// L = sum(y * R) for a fixed random R (dL/dx = backward(dy = R)), and causality in time.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <tuple>
#include <random>
#include <vector>

#include "ops/cpu/conv_ops.h"
#include "tests/common/test_data.h"

using namespace loong::ops::cpu;
using loong::testing::dot;
using loong::testing::expect_grad_matches;
using loong::testing::randn;

namespace {

void expect_close(const std::vector<float>& got, const std::vector<double>& want, const char* what, double tol = 1e-4) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 1e-6;
  for (double w : want) scale = std::max(scale, std::fabs(w));
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], tol * scale) << what << " element " << i;
}

// Direct 7-loop convolution with causal temporal padding, written from the definition:
// out[n, o, j, y, x] = b[o] + sum w[o, c, dt, dy, dx] * in[n, c, j*st - (kt-1) + dt, y*sh - ph + dy, x*sw - pw + dx].
std::vector<double> conv_direct(const std::vector<float>& x, const std::vector<float>& w, const float* b,
                                const Conv3dShape& s) {
  const int64_t to = s.out_t(), ho = s.out_h(), wo = s.out_w();
  std::vector<double> out(s.n * s.cout * to * ho * wo);
  size_t idx = 0;
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t o = 0; o < s.cout; ++o)
      for (int64_t j = 0; j < to; ++j)
        for (int64_t y = 0; y < ho; ++y)
          for (int64_t xx = 0; xx < wo; ++xx) {
            double acc = b ? b[o] : 0.0;
            for (int64_t c = 0; c < s.cin; ++c)
              for (int64_t dt = 0; dt < s.kt; ++dt)
                for (int64_t dy = 0; dy < s.kh; ++dy)
                  for (int64_t dx = 0; dx < s.kw; ++dx) {
                    const int64_t it = j * s.st - (s.kt - 1) + dt, iy = y * s.sh - s.ph + dy,
                                  ix = xx * s.sw - s.pw + dx;
                    if (it < 0 || it >= s.t || iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
                    acc += static_cast<double>(w[(((o * s.cin + c) * s.kt + dt) * s.kh + dy) * s.kw + dx]) *
                           x[(((n * s.cin + c) * s.t + it) * s.h + iy) * s.w + ix];
                  }
            out[idx++] = acc;
          }
  return out;
}

int64_t out_numel(const Conv3dShape& s) { return s.n * s.cout * s.out_t() * s.out_h() * s.out_w(); }
int64_t in_numel(const Conv3dShape& s) { return s.n * s.cin * s.t * s.h * s.w; }

}  // namespace

class ConvGrad : public ::testing::TestWithParam<Conv3dShape> {};

TEST_P(ConvGrad, ForwardMatchesDirectAndBackwardMatchesFiniteDifferences) {
  const Conv3dShape s = GetParam();
  auto x = randn(in_numel(s), 1), w = randn(s.cout * s.cin * s.kt * s.kh * s.kw, 2, 0.3f), b = randn(s.cout, 3);
  auto R = randn(out_numel(s), 4);
  std::vector<float> y(out_numel(s)), ws(conv3d_workspace_floats(s));
  conv3d_forward(y.data(), x.data(), w.data(), b.data(), ws.data(), s);
  expect_close(y, conv_direct(x, w, b.data(), s), "conv forward");
  // Without bias.
  conv3d_forward(y.data(), x.data(), w.data(), nullptr, ws.data(), s);
  expect_close(y, conv_direct(x, w, nullptr, s), "conv forward without bias");

  auto loss = [&] {
    conv3d_forward(y.data(), x.data(), w.data(), b.data(), ws.data(), s);
    return dot(y, R);
  };
  std::vector<float> dx(x.size(), 7.0f), dw(w.size(), 0.0f), db(b.size(), 0.0f);
  conv3d_backward(dx.data(), dw.data(), db.data(), R.data(), x.data(), w.data(), ws.data(), s, false);
  expect_grad_matches(x, dx, loss, "conv dx");
  expect_grad_matches(w, dw, loss, "conv dweight");
  expect_grad_matches(b, db, loss, "conv dbias");

  // Parameter grads accumulate; dx accumulates only when asked.
  auto dx2 = dx, dw2 = dw, db2 = db;
  conv3d_backward(dx2.data(), dw2.data(), db2.data(), R.data(), x.data(), w.data(), ws.data(), s, true);
  for (size_t i = 0; i < dx.size(); ++i) ASSERT_NEAR(dx2[i], 2 * dx[i], 1e-4f * (1 + std::fabs(dx[i])));
  for (size_t i = 0; i < dw.size(); ++i) ASSERT_NEAR(dw2[i], 2 * dw[i], 1e-4f * (1 + std::fabs(dw[i])));
  for (size_t i = 0; i < db.size(); ++i) ASSERT_NEAR(db2[i], 2 * db[i], 1e-4f * (1 + std::fabs(db[i])));
  // A null dx and dbias are allowed (first layer, bias-free conv).
  std::vector<float> dw3(w.size(), 0.0f);
  conv3d_backward(nullptr, dw3.data(), nullptr, R.data(), x.data(), w.data(), ws.data(), s, false);
  for (size_t i = 0; i < dw.size(); ++i) ASSERT_NEAR(dw3[i], dw[i], 1e-5f * (1 + std::fabs(dw[i])));
}

// Threads taking whole batch items (each with its own dW partial) give what one thread gives.
TEST(Conv3d, BatchWorkersMatchOneThread) {
  const Conv3dShape s{5, 3, 4, 5, 6, 5, 3, 3, 3, 2, 2, 2, 1, 1};
  auto x = randn(in_numel(s), 41), w = randn(s.cout * s.cin * s.kt * s.kh * s.kw, 42, 0.3f), b = randn(s.cout, 43);
  auto R = randn(out_numel(s), 44);
  auto run = [&](int threads) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    std::vector<float> y(out_numel(s)), ws(conv3d_workspace_floats(s)), dx(x.size()), dw(w.size(), 0.25f),
        db(b.size(), 0.0f);
    const int64_t workers = conv3d_batch_workers(s);
    conv3d_forward(y.data(), x.data(), w.data(), b.data(), ws.data(), s);
    conv3d_backward(dx.data(), dw.data(), db.data(), R.data(), x.data(), w.data(), ws.data(), s, false);
    omp_set_num_threads(saved);
    return std::make_tuple(workers, y, dx, dw);
  };
  const auto [w1, y1, dx1, dw1] = run(1);
  const auto [w3, y3, dx3, dw3] = run(3);
  EXPECT_EQ(w1, 1);
  EXPECT_EQ(w3, 3) << "5 batch items over 3 threads";
  auto same = [](const std::vector<float>& a, const std::vector<float>& b, const char* what) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-4f * (1 + std::fabs(b[i]))) << what << " " << i;
  };
  same(y3, y1, "forward");
  same(dx3, dx1, "dx");
  same(dw3, dw1, "dweight (accumulated onto 0.25)");
}

// {n, cin, cout, t, h, w, kt, kh, kw, st, sh, sw, ph, pw}
INSTANTIATE_TEST_SUITE_P(
    Shapes, ConvGrad,
    ::testing::Values(Conv3dShape{2, 3, 4, 5, 6, 5, 3, 3, 3, 1, 1, 1, 1, 1},   // "same" 3x3x3
                      Conv3dShape{2, 3, 4, 7, 7, 6, 3, 3, 3, 2, 2, 2, 1, 1},   // stride 2 everywhere
                      Conv3dShape{1, 5, 3, 4, 5, 7, 2, 3, 1, 1, 2, 3, 1, 0},   // odd kernel / strides
                      Conv3dShape{2, 6, 5, 3, 4, 3, 1, 1, 1, 1, 1, 1, 0, 0},   // pointwise (no im2col)
                      Conv3dShape{1, 2, 3, 8, 5, 5, 4, 2, 2, 3, 1, 2, 0, 1},   // kt 4, st 3 (st < kt)
                      Conv3dShape{1, 2, 2, 6, 4, 4, 1, 3, 3, 2, 1, 1, 2, 2},   // kt 1, st 2, pad > k/2
                      Conv3dShape{1, 3, 2, 1, 9, 8, 3, 3, 3, 2, 2, 2, 1, 1}),  // a single frame
    [](const auto& info) { return "case" + std::to_string(info.index); });

TEST(Conv3d, ChunkedOverOutputFramesMatchesDirect) {
  // Large enough that one output frame fills the workspace: several chunks of one frame each,
  // and frames overlapping between chunks in col2vol.
  const Conv3dShape s{1, 64, 2, 3, 48, 48, 3, 3, 3, 1, 1, 1, 1, 1};
  ASSERT_EQ(conv3d_chunk_frames(s), 1);
  auto x = randn(in_numel(s), 5), w = randn(s.cout * s.cin * 27, 6, 0.1f), b = randn(s.cout, 7);
  std::vector<float> y(out_numel(s)), ws(conv3d_workspace_floats(s));
  conv3d_forward(y.data(), x.data(), w.data(), b.data(), ws.data(), s);
  expect_close(y, conv_direct(x, w, b.data(), s), "chunked conv forward");
  // dx by linearity: <dx, x> = <R, y - b> for a linear map; checks col2vol over chunks.
  auto R = randn(y.size(), 8);
  std::vector<float> dx(x.size()), dw(w.size(), 0.0f);
  conv3d_backward(dx.data(), dw.data(), nullptr, R.data(), x.data(), w.data(), ws.data(), s, false);
  conv3d_forward(y.data(), x.data(), w.data(), nullptr, ws.data(), s);
  const double ry = dot(R, y);
  EXPECT_NEAR(dot(dx, x), ry, 1e-4 * std::fabs(ry) + 1e-2);
  EXPECT_NEAR(dot(dw, w), ry, 1e-4 * std::fabs(ry) + 1e-2);
}

TEST(Conv3d, CausalInTime) {
  // Output frame j must depend on exactly the input frames [max(0, j*st - kt + 1), j*st].
  for (int64_t st : {1, 2, 3}) {
    const Conv3dShape s{1, 2, 3, 10, 4, 4, 3, 3, 3, st, 1, 1, 1, 1};
    auto x = randn(in_numel(s), 9), w = randn(s.cout * s.cin * 27, 10), b = randn(s.cout, 11);
    std::vector<float> y0(out_numel(s)), y1(out_numel(s)), ws(conv3d_workspace_floats(s));
    conv3d_forward(y0.data(), x.data(), w.data(), b.data(), ws.data(), s);
    const int64_t frame = s.h * s.w, oframe = s.out_h() * s.out_w();
    for (int64_t t = 0; t < s.t; ++t) {
      auto xt = x;
      for (int64_t c = 0; c < s.cin; ++c)
        for (int64_t i = 0; i < frame; ++i) xt[(c * s.t + t) * frame + i] += 1.5f;
      conv3d_forward(y1.data(), xt.data(), w.data(), b.data(), ws.data(), s);
      for (int64_t j = 0; j < s.out_t(); ++j) {
        const bool sees = t <= j * st && t >= j * st - (s.kt - 1);
        bool changed = false;
        for (int64_t o = 0; o < s.cout; ++o)
          for (int64_t i = 0; i < oframe; ++i) {
            const int64_t k = (o * s.out_t() + j) * oframe + i;
            changed |= y0[k] != y1[k];
          }
        EXPECT_EQ(changed, sees) << "stride " << st << ": input frame " << t << ", output frame " << j;
      }
    }
  }
}

TEST(Conv3d, TwoStride2LayersMapOnePlus4kFramesToOnePlusK) {
  // The tokenizer's temporal downsampling: 1 + 4k frames -> 1 + k, latent frame 0 from frame 0 only.
  for (int64_t k = 0; k <= 4; ++k) {
    Conv3dShape a{1, 1, 1, 1 + 4 * k, 2, 2, 3, 1, 1, 2, 1, 1, 0, 0};
    Conv3dShape b{1, 1, 1, a.out_t(), 2, 2, 3, 1, 1, 2, 1, 1, 0, 0};
    EXPECT_EQ(a.out_t(), 1 + 2 * k);
    EXPECT_EQ(b.out_t(), 1 + k);
  }
}

class GroupNormGrad : public ::testing::TestWithParam<GroupNormShape> {};

TEST_P(GroupNormGrad, NormalisesAndMatchesFiniteDifferences) {
  const GroupNormShape s = GetParam();
  const int64_t numel = s.n * s.c * s.t * s.s, cg = s.c / s.groups;
  auto x = randn(numel, 12, 2.0f), gamma = randn(s.c, 13), beta = randn(s.c, 14), R = randn(numel, 15);
  for (auto& v : x) v += 0.7f;  // a non-zero mean
  std::vector<float> y(numel), mean(s.n * s.t * s.groups), rstd(mean.size());
  // Without affine, each (n, t, group) comes out with mean 0 and variance 1 (up to eps).
  groupnorm_forward(y.data(), mean.data(), rstd.data(), x.data(), nullptr, nullptr, s, 1e-6f);
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t t = 0; t < s.t; ++t)
      for (int64_t g = 0; g < s.groups; ++g) {
        double m = 0, q = 0;
        for (int64_t c = g * cg; c < (g + 1) * cg; ++c)
          for (int64_t i = 0; i < s.s; ++i) {
            const double v = y[((n * s.c + c) * s.t + t) * s.s + i];
            m += v;
            q += v * v;
          }
        const double cnt = static_cast<double>(cg * s.s);
        EXPECT_NEAR(m / cnt, 0.0, 1e-5);
        EXPECT_NEAR(q / cnt, 1.0, 1e-3);
      }
  // With affine: y = xhat * gamma + beta elementwise.
  std::vector<float> ya(numel);
  groupnorm_forward(ya.data(), mean.data(), rstd.data(), x.data(), gamma.data(), beta.data(), s, 1e-6f);
  for (int64_t i = 0; i < numel; ++i) {
    const int64_t c = (i / (s.t * s.s)) % s.c;
    ASSERT_NEAR(ya[i], y[i] * gamma[c] + beta[c], 1e-4f * (1 + std::fabs(ya[i])));
  }

  auto loss = [&] {
    groupnorm_forward(y.data(), mean.data(), rstd.data(), x.data(), gamma.data(), beta.data(), s, 1e-5f);
    return dot(y, R);
  };
  loss();
  std::vector<float> dx(numel, 3.0f), dg(s.c, 0.0f), db(s.c, 0.0f);
  groupnorm_backward(dx.data(), dg.data(), db.data(), R.data(), x.data(), gamma.data(), mean.data(), rstd.data(), s,
                     false);
  expect_grad_matches(x, dx, loss, "groupnorm dx", 1e-2f, 3e-2);
  expect_grad_matches(gamma, dg, loss, "groupnorm dgamma");
  expect_grad_matches(beta, db, loss, "groupnorm dbeta");
  auto dx2 = dx;
  groupnorm_backward(dx2.data(), nullptr, nullptr, R.data(), x.data(), gamma.data(), mean.data(), rstd.data(), s, true);
  for (int64_t i = 0; i < numel; ++i) ASSERT_NEAR(dx2[i], 2 * dx[i], 1e-4f * (1 + std::fabs(dx[i])));
}

// {n, c, t, s, groups}
INSTANTIATE_TEST_SUITE_P(Shapes, GroupNormGrad,
                         ::testing::Values(GroupNormShape{2, 6, 3, 10, 3},  // per frame
                                           GroupNormShape{2, 4, 1, 21, 2},  // whole clip (t = 1)
                                           GroupNormShape{1, 5, 2, 7, 5},   // one channel per group
                                           GroupNormShape{3, 8, 2, 3, 1}),  // one group
                         [](const auto& info) { return "case" + std::to_string(info.index); });

TEST(GroupNorm, PerFrameStatisticsDoNotMixFrames) {
  const GroupNormShape s{1, 4, 5, 9, 2};
  const int64_t numel = s.c * s.t * s.s;
  auto x = randn(numel, 16), gamma = randn(s.c, 17), beta = randn(s.c, 18);
  std::vector<float> y0(numel), y1(numel), mean(s.t * s.groups), rstd(mean.size());
  groupnorm_forward(y0.data(), mean.data(), rstd.data(), x.data(), gamma.data(), beta.data(), s, 1e-5f);
  const int64_t t = 3;
  for (int64_t c = 0; c < s.c; ++c)
    for (int64_t i = 0; i < s.s; ++i) x[(c * s.t + t) * s.s + i] *= 5.0f + i;
  groupnorm_forward(y1.data(), mean.data(), rstd.data(), x.data(), gamma.data(), beta.data(), s, 1e-5f);
  for (int64_t c = 0; c < s.c; ++c)
    for (int64_t f = 0; f < s.t; ++f) {
      bool changed = false;
      for (int64_t i = 0; i < s.s; ++i) changed |= y0[(c * s.t + f) * s.s + i] != y1[(c * s.t + f) * s.s + i];
      EXPECT_EQ(changed, f == t) << "channel " << c << " frame " << f;
    }
}

class UpsampleGrad : public ::testing::TestWithParam<UpsampleShape> {};

TEST_P(UpsampleGrad, CopiesNearestAndMatchesFiniteDifferences) {
  const UpsampleShape s = GetParam();
  const int64_t to = s.out_t(), ho = s.h * s.fh, wo = s.w * s.fw;
  auto x = randn(s.n * s.c * s.t * s.h * s.w, 19), R = randn(s.n * s.c * to * ho * wo, 20);
  std::vector<float> y(R.size());
  upsample_nearest_forward(y.data(), x.data(), s);
  // Independent statement: output (t, v, u) copies input (floor((t + drop) / ft), floor(v / fh), floor(u / fw)).
  for (int64_t nc = 0; nc < s.n * s.c; ++nc)
    for (int64_t t = 0; t < to; ++t)
      for (int64_t v = 0; v < ho; ++v)
        for (int64_t u = 0; u < wo; ++u) {
          const int64_t it = static_cast<int64_t>(std::floor(double(t + s.drop_front) / double(s.ft)));
          const int64_t iy = static_cast<int64_t>(std::floor(double(v) / double(s.fh)));
          const int64_t ix = static_cast<int64_t>(std::floor(double(u) / double(s.fw)));
          ASSERT_EQ(y[((nc * to + t) * ho + v) * wo + u], x[((nc * s.t + it) * s.h + iy) * s.w + ix]);
        }
  auto loss = [&] {
    upsample_nearest_forward(y.data(), x.data(), s);
    return dot(y, R);
  };
  std::vector<float> dx(x.size(), 5.0f);
  upsample_nearest_backward(dx.data(), R.data(), s);
  expect_grad_matches(x, dx, loss, "upsample dx");
}

// {n, c, t, h, w, ft, fh, fw, drop_front}
INSTANTIATE_TEST_SUITE_P(Shapes, UpsampleGrad,
                         ::testing::Values(UpsampleShape{2, 3, 2, 3, 4, 1, 2, 2, 0},   // 2D
                                           UpsampleShape{1, 2, 3, 2, 3, 2, 2, 2, 1},   // causal 3D: 1+2k
                                           UpsampleShape{2, 2, 3, 3, 2, 3, 1, 3, 0},   // factors per axis
                                           UpsampleShape{1, 1, 4, 2, 2, 4, 2, 1, 3}),  // drop 3 of 4
                         [](const auto& info) { return "case" + std::to_string(info.index); });

TEST(Upsample, CausalFrameMapping) {
  // ft 2, drop 1: 1 + k frames -> 1 + 2k; frame 0 alone, frame j -> 2j - 1, 2j.
  const UpsampleShape s{1, 1, 4, 1, 1, 2, 1, 1, 1};
  ASSERT_EQ(s.out_t(), 7);
  std::vector<float> x = {10, 11, 12, 13}, y(7);
  upsample_nearest_forward(y.data(), x.data(), s);
  EXPECT_EQ(y, (std::vector<float>{10, 11, 11, 12, 12, 13, 13}));
}

// Space-to-depth against torch.nn.functional.pixel_unshuffle's definition, written out per
// element; depth-to-space inverts it, and each is the other's adjoint (so the layers' backward,
// which applies the other kernel, is the exact gradient).
TEST(PixelShuffle, PacksBlocksIntoChannelsAndInverts) {
  for (const PixelShuffleShape s : {PixelShuffleShape{2, 3, 2, 4, 6, 2}, PixelShuffleShape{1, 2, 3, 6, 3, 3}}) {
    const int64_t n = s.n * s.c * s.t * s.h * s.w, hl = s.h / s.p, wl = s.w / s.p, cp = s.c * s.p * s.p;
    auto x = randn(n, 31), r = randn(n, 32);
    std::vector<float> packed(n), back(n);
    space_to_depth(packed.data(), x.data(), s);
    for (int64_t b = 0; b < s.n; ++b)
      for (int64_t c = 0; c < s.c; ++c)
        for (int64_t t = 0; t < s.t; ++t)
          for (int64_t y = 0; y < s.h; ++y)
            for (int64_t xx = 0; xx < s.w; ++xx) {
              const int64_t oc = (c * s.p + y % s.p) * s.p + xx % s.p;
              ASSERT_EQ(packed[(((b * cp + oc) * s.t + t) * hl + y / s.p) * wl + xx / s.p],
                        x[(((b * s.c + c) * s.t + t) * s.h + y) * s.w + xx]);
            }
    depth_to_space(back.data(), packed.data(), s);
    EXPECT_EQ(back, x);
    std::vector<float> dr(n);
    depth_to_space(dr.data(), r.data(), s);
    EXPECT_NEAR(dot(packed, r), dot(x, dr), 1e-9 * n) << "adjoint";
  }
}

TEST(GradCheck, SiLU) {
  const int64_t n = 300;
  auto x = randn(n, 21, 3.0f), R = randn(n, 22);
  std::vector<float> y(n);
  silu_forward(y.data(), x.data(), n);
  for (int64_t i = 0; i < n; ++i)
    ASSERT_NEAR(y[i], x[i] / (1.0 + std::exp(-double(x[i]))), 1e-5 * (1 + std::fabs(x[i])));
  auto loss = [&] {
    silu_forward(y.data(), x.data(), n);
    return dot(y, R);
  };
  std::vector<float> dx(n);
  silu_backward(dx.data(), R.data(), x.data(), n);
  expect_grad_matches(x, dx, loss, "silu dx", 1e-3f, 1e-2);
  // In place (dx aliasing dout) gives the same.
  auto inplace = R;
  silu_backward(inplace.data(), inplace.data(), x.data(), n);
  EXPECT_EQ(inplace, dx);
}

// The per-position LayerNorm is GroupNorm with one group on a [N, C, P, 1] view, computed with
// unit-stride loops: it must agree with that reference (forward, statistics, every gradient, the
// accumulate mode) on sizes that leave a partial block of positions, and match finite differences.
TEST(ChannelNorm, EqualsGroupNormOfOneGroupPerPositionAndMatchesFiniteDifferences) {
  for (const ChannelNormShape s : {ChannelNormShape{2, 32, 700}, ChannelNormShape{1, 5, 3}, ChannelNormShape{3, 16, 256}}) {
    const int64_t numel = s.n * s.c * s.p;
    auto x = randn(numel, 21, 2.0f), gamma = randn(s.c, 22), beta = randn(s.c, 23), R = randn(numel, 24);
    for (auto& v : x) v += 0.5f;
    const GroupNormShape ref{s.n, s.c, s.p, 1, 1};
    std::vector<float> y(numel), yr(numel), m(s.n * s.p), r(m.size()), mr(m.size()), rr(m.size());
    channelnorm_forward(y.data(), m.data(), r.data(), x.data(), gamma.data(), beta.data(), s, 1e-6f);
    groupnorm_forward(yr.data(), mr.data(), rr.data(), x.data(), gamma.data(), beta.data(), ref, 1e-6f);
    for (int64_t i = 0; i < numel; ++i) ASSERT_NEAR(y[i], yr[i], 1e-4f * (1 + std::fabs(yr[i]))) << i;
    for (size_t i = 0; i < m.size(); ++i) {
      ASSERT_NEAR(m[i], mr[i], 1e-5f * (1 + std::fabs(mr[i])));
      ASSERT_NEAR(r[i], rr[i], 1e-4f * rr[i]);
    }
    std::vector<float> dx(numel), dxr(numel), dg(s.c, 0.5f), db(s.c, 0.5f), dgr(s.c, 0.5f), dbr(s.c, 0.5f);
    channelnorm_backward(dx.data(), dg.data(), db.data(), R.data(), x.data(), gamma.data(), m.data(), r.data(), s, false);
    groupnorm_backward(dxr.data(), dgr.data(), dbr.data(), R.data(), x.data(), gamma.data(), mr.data(), rr.data(), ref,
                       false);
    for (int64_t i = 0; i < numel; ++i) ASSERT_NEAR(dx[i], dxr[i], 1e-4f * (1 + std::fabs(dxr[i]))) << i;
    for (int64_t c = 0; c < s.c; ++c) {
      ASSERT_NEAR(dg[c], dgr[c], 1e-4f * (1 + std::fabs(dgr[c])));
      ASSERT_NEAR(db[c], dbr[c], 1e-4f * (1 + std::fabs(dbr[c])));
    }
    auto dx2 = dx;
    channelnorm_backward(dx2.data(), nullptr, nullptr, R.data(), x.data(), gamma.data(), m.data(), r.data(), s, true);
    for (int64_t i = 0; i < numel; ++i) ASSERT_NEAR(dx2[i], 2 * dx[i], 1e-4f * (1 + std::fabs(dx[i])));
    if (numel > 200) continue;  // finite differences on the small case
    auto loss = [&] {
      channelnorm_forward(y.data(), m.data(), r.data(), x.data(), gamma.data(), beta.data(), s, 1e-5f);
      return dot(y, R);
    };
    loss();
    std::vector<float> gx(numel), gg(s.c, 0.0f), gb(s.c, 0.0f);
    channelnorm_backward(gx.data(), gg.data(), gb.data(), R.data(), x.data(), gamma.data(), m.data(), r.data(), s, false);
    expect_grad_matches(x, gx, loss, "channelnorm dx", 1e-2f, 3e-2);
    expect_grad_matches(gamma, gg, loss, "channelnorm dgamma");
    expect_grad_matches(beta, gb, loss, "channelnorm dbeta");
  }
}
