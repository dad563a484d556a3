#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "core/error.h"
#include "generate/kv_cache_decoder.h"
#include "tests/common/tiny_llama.h"

using namespace loong;

namespace {
LlamaConfig tiny() { return loong::testing::tiny_llama(40, 160); }
}  // namespace

TEST(KvCacheDecoder, LogitsEqualTheFullForwardAtEveryPosition) {
  LlamaModel m(tiny());
  m.init_random(3, 0.2f);
  const int64_t T = 150;  // past the attention kernel's 128-row block
  std::mt19937 rng(1);
  std::vector<int32_t> tokens(T), targets(T, 0);
  std::vector<float> weights(T, 1.0f);
  for (auto& t : tokens) t = static_cast<int32_t>(rng() % 40);
  m.forward(tokens.data(), targets.data(), weights.data(), 1, T);
  std::vector<float> full(m.logits().begin(), m.logits().end());
  KvCacheDecoder dec(m, T);
  double worst = 0, scale = 0;
  for (int64_t p = 0; p < T; ++p) {
    auto l = dec.step(tokens[p]);
    for (int64_t v = 0; v < 40; ++v) {
      worst = std::max(worst, static_cast<double>(std::fabs(l[v] - full[p * 40 + v])));
      scale = std::max(scale, static_cast<double>(std::fabs(full[p * 40 + v])));
    }
  }
  EXPECT_LT(worst / scale, 1e-5) << "worst abs diff " << worst;
  EXPECT_THROW(dec.step(1), InputError);  // cache full
  dec.reset();
  EXPECT_THROW(dec.step(40), InputError);  // outside the vocabulary
}

// Guidance decodes two sequences in one cache (batch 2): each row must still be what the full
// forward computes for its own sequence, at every position, and rows must not leak into each other.
TEST(KvCacheDecoder, BatchedRowsEqualTheFullForwardOfEachSequence) {
  LlamaModel m(tiny());
  m.init_random(4, 0.2f);
  const int64_t T = 140, B = 3, V = 40;
  std::mt19937 rng(2);
  std::vector<int32_t> tokens(B * T), targets(B * T, 0);
  std::vector<float> weights(B * T, 1.0f);
  for (auto& t : tokens) t = static_cast<int32_t>(rng() % V);
  for (int64_t t = 100; t < T; ++t) tokens[T + t] = tokens[t];  // rows 0 and 1 share a suffix, as guidance's do
  m.forward(tokens.data(), targets.data(), weights.data(), B, T);
  std::vector<float> full(m.logits().begin(), m.logits().end());  // [B, T, V]
  KvCacheDecoder dec(m, T, B);
  // Prefill the first 60 positions of every row at once, then step the rest.
  std::vector<int32_t> head;
  for (int64_t b = 0; b < B; ++b) head.insert(head.end(), tokens.begin() + b * T, tokens.begin() + b * T + 60);
  double worst = 0, scale = 0;
  auto compare = [&](std::span<const float> l, int64_t p) {
    ASSERT_EQ(static_cast<int64_t>(l.size()), B * V);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t v = 0; v < V; ++v) {
        const float want = full[(b * T + p) * V + v];
        worst = std::max(worst, static_cast<double>(std::fabs(l[b * V + v] - want)));
        scale = std::max(scale, static_cast<double>(std::fabs(want)));
      }
  };
  compare(dec.prefill(head), 59);
  for (int64_t p = 60; p < T; ++p) {
    std::vector<int32_t> col;
    for (int64_t b = 0; b < B; ++b) col.push_back(tokens[b * T + p]);
    compare(dec.step(col), p);
  }
  EXPECT_LT(worst / scale, 1e-5) << "worst abs diff " << worst;
  dec.reset();
  EXPECT_THROW(dec.step(std::vector<int32_t>{1, 2}), InputError);  // 2 tokens for 3 sequences
  EXPECT_THROW(dec.prefill(std::vector<int32_t>{1, 2, 3, 4}), InputError);  // not a multiple of 3
}

TEST(Guidance, LogitsAreUncondPlusScaleTimesTheDifference) {
  const std::vector<float> cond = {1.0f, -2.0f, 0.5f, 3.0f, 7.0f}, uncond = {0.0f, 1.0f, 0.5f, -1.0f, 9.0f};
  std::vector<float> out(5, -100.0f);
  guided_logits(cond, uncond, 3.0f, 1, 4, out);
  EXPECT_EQ(out[0], -100.0f);  // outside [begin, end): untouched
  EXPECT_FLOAT_EQ(out[1], 1.0f + 3.0f * (-2.0f - 1.0f));
  EXPECT_FLOAT_EQ(out[2], 0.5f);
  EXPECT_FLOAT_EQ(out[3], -1.0f + 3.0f * 4.0f);
  EXPECT_EQ(out[4], -100.0f);
  guided_logits(cond, uncond, 0.0f, 0, 5, out);  // scale 0: the unconditional logits
  EXPECT_EQ(out, uncond);
  std::vector<float> small(3);
  EXPECT_THROW(guided_logits(cond, uncond, 2.0f, 0, 5, small), InputError);
  EXPECT_THROW(guided_logits(cond, uncond, 2.0f, 2, 6, out), InputError);
}

TEST(Sampling, GreedyTopKAndTemperature) {
  std::vector<float> logits = {0.0f, 2.0f, 1.0f, 3.0f, -1.0f, 2.5f};
  std::mt19937_64 rng(7);
  EXPECT_EQ(sample_top_k(logits, 0, 0.0f, rng), 3);  // greedy
  EXPECT_EQ(sample_top_k(logits, 1, 1.0f, rng), 3);  // top-1 is greedy
  std::map<int32_t, int> seen;
  for (int i = 0; i < 3000; ++i) ++seen[sample_top_k(logits, 3, 1.0f, rng)];
  EXPECT_EQ(seen.size(), 3u);  // only ids 3, 5, 1
  EXPECT_TRUE(seen.count(3) && seen.count(5) && seen.count(1));
  // Frequencies follow softmax(logits / T) over the kept ids.
  const double T = 0.7;
  double z = std::exp(3.0 / T) + std::exp(2.5 / T) + std::exp(2.0 / T);
  std::map<int32_t, int> f;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++f[sample_top_k(logits, 3, static_cast<float>(T), rng)];
  EXPECT_NEAR(f[3] / double(n), std::exp(3.0 / T) / z, 0.015);
  EXPECT_NEAR(f[1] / double(n), std::exp(2.0 / T) / z, 0.015);
  // Same seed, same draws.
  std::mt19937_64 a(11), b(11);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(sample_top_k(logits, 4, 1.3f, a), sample_top_k(logits, 4, 1.3f, b));
  // Range restriction.
  for (int i = 0; i < 200; ++i) {
    const int32_t t = sample_top_k_in_range(logits, 0, 3, 0, 1.0f, rng);
    EXPECT_TRUE(t >= 0 && t < 3);
  }
}
