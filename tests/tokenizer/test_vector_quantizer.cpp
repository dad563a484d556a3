#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "tests/common/test_data.h"
#include "tokenizer/vector_quantizer.h"

using namespace loong::tok;
using loong::testing::randn;

namespace {
struct Fixture {
  ParamStore store;
  VectorQuantizer vq;
  explicit Fixture(QuantizerConfig c) : vq(store, c) {
    store.allocate();
    store.init_random(3);
  }
};

// Index of z[n, d, t, h, w] and of the vector m = ((n*T + t)*H + h)*W + w.
int64_t zi(const Shape5& s, int64_t n, int64_t d, int64_t sp) { return (n * s.c + d) * (s.t * s.h * s.w) + sp; }
}  // namespace

class Quantizer : public ::testing::TestWithParam<bool> {};

TEST_P(Quantizer, PicksTheNearestCodeByBruteForce) {
  QuantizerConfig c;
  c.codebook_size = 13, c.dim = 5, c.cosine = GetParam();
  Fixture f(c);
  const Shape5 s{2, 5, 3, 2, 2};
  auto z = randn(s.numel(), 4);
  f.vq.forward(z.data(), s, false);
  const float* E = f.store.param(0);
  const int64_t S = s.t * s.h * s.w;
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t sp = 0; sp < S; ++sp) {
      double best = 1e30;
      int best_k = -1;
      double zn = 0;
      for (int64_t d = 0; d < 5; ++d) zn += z[zi(s, n, d, sp)] * z[zi(s, n, d, sp)];
      for (int k = 0; k < 13; ++k) {
        double en = 0, dot = 0, l2 = 0;
        for (int64_t d = 0; d < 5; ++d) {
          const double e = E[k * 5 + d], x = z[zi(s, n, d, sp)];
          en += e * e, dot += e * x, l2 += (e - x) * (e - x);
        }
        const double v = c.cosine ? -dot / std::sqrt(en * zn) : l2;
        if (v < best) best = v, best_k = k;
      }
      EXPECT_EQ(f.vq.codes()[n * S + sp], best_k) << "vector " << n * S + sp;
    }
}

TEST_P(Quantizer, GradientsMatchFiniteDifferences) {
  // The codebook and commitment losses have the same value, mean (q - u)^2 with u = z (L2) or
  // z / |z| (cosine), but send their gradients to different places: the commitment part
  // (beta / (1 + beta) of the total derivative) to z, the codebook part (1 / (1 + beta)) to the
  // codebook. The straight-through part passes d/dz_q to u, i.e. through u(z).
  QuantizerConfig c;
  c.codebook_size = 7, c.dim = 4, c.cosine = GetParam(), c.beta = 0.4f;
  Fixture f(c);
  const Shape5 s{1, 4, 2, 2, 3};
  const int64_t S = s.t * s.h * s.w;
  auto z = randn(s.numel(), 5);
  auto R = randn(s.numel(), 6);
  std::vector<float> zeros(s.numel(), 0.0f);
  f.vq.forward(z.data(), s, false);
  std::vector<int32_t> codes(f.vq.codes().begin(), f.vq.codes().end());
  f.store.zero_grad();
  const float* p0 = f.vq.backward(zeros.data());
  std::vector<float> dz0(p0, p0 + s.numel());
  std::vector<float> dE(f.store.grad(0), f.store.grad(0) + 7 * 4);
  const float* pR = f.vq.backward(R.data());
  std::vector<float> dzR(pR, pR + s.numel());
  auto losses = [&] {
    f.vq.forward(z.data(), s, false);
    return f.vq.codebook_loss() + f.vq.commitment_loss();
  };
  auto straight = [&] {  // sum over vectors of u(z) . R
    double t = 0;
    for (int64_t sp = 0; sp < S; ++sp) {
      double norm = 0;
      for (int64_t d = 0; d < 4; ++d) norm += z[zi(s, 0, d, sp)] * z[zi(s, 0, d, sp)];
      norm = c.cosine ? std::sqrt(norm) : 1.0;
      for (int64_t d = 0; d < 4; ++d) t += z[zi(s, 0, d, sp)] / norm * R[zi(s, 0, d, sp)];
    }
    return t;
  };
  const float h = 1e-3f;
  for (int64_t i = 0; i < s.numel(); ++i) {
    const float saved = z[i];
    z[i] = saved + h;
    const double lp = losses(), sp = straight();
    z[i] = saved - h;
    const double lm = losses(), sm = straight();
    z[i] = saved;
    ASSERT_EQ(std::vector<int32_t>(f.vq.codes().begin(), f.vq.codes().end()), codes) << "a tie moved a code";
    const double commit = (lp - lm) / (2 * h) * c.beta / (1.0 + c.beta);
    EXPECT_NEAR(dz0[i], commit, 1e-3 + 1e-2 * std::fabs(commit)) << "commitment dz " << i;
    const double through = (sp - sm) / (2 * h);
    EXPECT_NEAR(dzR[i] - dz0[i], through, 1e-3 + 1e-2 * std::fabs(through)) << "straight-through dz " << i;
  }
  float* E = f.store.param(0);
  for (int64_t i = 0; i < 7 * 4; ++i) {
    const float saved = E[i];
    E[i] = saved + h;
    const double lp = losses();
    E[i] = saved - h;
    const double lm = losses();
    E[i] = saved;
    const double codebook = (lp - lm) / (2 * h) / (1.0 + c.beta);
    EXPECT_NEAR(dE[i], codebook, 1e-3 + 1e-2 * std::fabs(codebook)) << "dE " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Distances, Quantizer, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Cosine" : "L2"; });

TEST(QuantizerRevival, DeadCodesMoveOntoEncoderOutputsAndGetUsed) {
  QuantizerConfig c;
  c.codebook_size = 32, c.dim = 3, c.usage_decay = 0.5f, c.dead_fraction = 0.5f;
  Fixture f(c);
  // All encoder outputs sit far from the initial codebook, in 4 tight clusters: at first a few
  // codes take everything and most codes are dead.
  const Shape5 s{1, 3, 4, 4, 4};
  std::vector<float> z(s.numel());
  std::mt19937 rng(1);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  for (int64_t sp = 0; sp < 64; ++sp)
    for (int64_t d = 0; d < 3; ++d) z[zi(s, 0, d, sp)] = 5.0f * ((sp % 4) == d ? 1.0f : -1.0f) + noise(rng);
  for (int i = 0; i < 5; ++i) f.vq.forward(z.data(), s, true);
  const int64_t before = f.vq.codes_in_use();
  EXPECT_LE(before, 4);
  const float threshold = c.dead_fraction / 32;
  std::vector<bool> was_dead(32);
  for (int64_t k = 0; k < 32; ++k) was_dead[k] = f.vq.usage()[k] < threshold;
  const int64_t revived = f.vq.revive_dead_codes();
  EXPECT_EQ(revived, 32 - before);
  // Every revived code is now within the noise of some encoder output.
  const float* E = f.store.param(0);
  for (int64_t k = 0; k < 32; ++k) {
    double best = 1e30;
    for (int64_t sp = 0; sp < 64; ++sp) {
      double d2 = 0;
      for (int64_t d = 0; d < 3; ++d) d2 += std::pow(E[k * 3 + d] - z[zi(s, 0, d, sp)], 2);
      best = std::min(best, d2);
    }
    if (was_dead[k]) {
      EXPECT_LT(best, 1e-3) << "revived code " << k;
    }
  }
  f.vq.forward(z.data(), s, true);
  EXPECT_GE(f.vq.batch_perplexity(), 3.5) << "the four clusters are now told apart";
  EXPECT_LT(f.vq.codebook_loss(), 0.01);
}

// 60 background vectors near the origin and 4 stroke vectors far away: a codebook whose only
// live code sits on the background. Revival must put a dead code on the strokes (the vectors the
// codebook fits worst), not on the background most vectors share.
TEST(QuantizerRevival, RevivedCodesGoWhereTheCodebookFitsWorst) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    QuantizerConfig c;
    c.codebook_size = 4, c.dim = 2, c.usage_decay = 0.5f, c.dead_fraction = 0.5f;
    Fixture f(c);
    const Shape5 s{1, 2, 1, 8, 8};
    std::vector<float> z(s.numel());
    std::mt19937 rng(seed);
    std::normal_distribution<float> noise(0.0f, 0.01f);
    for (int64_t sp = 0; sp < 64; ++sp) {
      const bool stroke = sp % 16 == 5;
      z[zi(s, 0, 0, sp)] = (stroke ? 3.0f : 0.0f) + noise(rng);
      z[zi(s, 0, 1, sp)] = (stroke ? -2.0f : 0.0f) + noise(rng);
    }
    float* E = f.store.param(0);
    const float start[8] = {0.0f, 0.0f, 50.0f, 50.0f, 60.0f, 60.0f, 70.0f, 70.0f};  // codes 1-3 unreachable
    std::copy(start, start + 8, E);
    for (int i = 0; i < 4; ++i) f.vq.forward(z.data(), s, true);
    ASSERT_EQ(f.vq.codes_in_use(), 1);
    ASSERT_EQ(f.vq.revive_dead_codes(), 3);
    // The first revived code lands on a stroke vector with probability 4*13/(4*13 + 60*2e-4) > 0.999.
    EXPECT_NEAR(E[2], 3.0f, 0.1f) << "seed " << seed;
    EXPECT_NEAR(E[3], -2.0f, 0.1f) << "seed " << seed;
    f.vq.forward(z.data(), s, true);
    EXPECT_LT(f.vq.codebook_loss(), 0.01) << "strokes now have a code of their own; seed " << seed;
  }
}

TEST(QuantizerSeeding, SeedAllCodesCoversEveryCluster) {
  for (const bool cosine : {false, true}) {
    QuantizerConfig c;
    c.codebook_size = 8, c.dim = 3, c.cosine = cosine;
    Fixture f(c);
    const Shape5 s{1, 3, 2, 4, 4};
    std::vector<float> z(s.numel());
    std::mt19937 rng(7);
    std::normal_distribution<float> noise(0.0f, 0.02f);
    // Four clusters along +x, -x, +y, -y (distinct in both distances), far from the random codes.
    const float dirs[4][3] = {{9, 1, 1}, {-9, 1, 1}, {1, 9, 1}, {1, -9, 1}};
    for (int64_t sp = 0; sp < 32; ++sp)
      for (int64_t d = 0; d < 3; ++d) z[zi(s, 0, d, sp)] = dirs[sp % 4][d] + noise(rng);
    f.vq.forward(z.data(), s, false);
    f.vq.seed_all_codes();
    EXPECT_EQ(f.vq.codes_in_use(), 8);
    f.vq.forward(z.data(), s, false);
    EXPECT_GT(f.vq.batch_perplexity(), 3.9) << (cosine ? "cosine" : "l2") << ": every cluster has a code";
    EXPECT_LT(f.vq.codebook_loss(), 0.01) << (cosine ? "cosine" : "l2");
  }
}

TEST(QuantizerLookup, ReproducesTheForwardOutputAndRejectsBadCodes) {
  QuantizerConfig c;
  c.codebook_size = 9, c.dim = 2, c.cosine = true;
  Fixture f(c);
  const Shape5 s{2, 2, 1, 3, 3};
  auto z = randn(s.numel(), 8);
  const float* zq = f.vq.forward(z.data(), s, false);
  std::vector<float> out(s.numel());
  f.vq.lookup(f.vq.codes().data(), s, out.data());
  for (int64_t i = 0; i < s.numel(); ++i) EXPECT_EQ(out[i], zq[i]);
  std::vector<int32_t> bad(18, 0);
  bad[4] = 9;
  EXPECT_THROW(f.vq.lookup(bad.data(), s, out.data()), loong::InputError);
}
