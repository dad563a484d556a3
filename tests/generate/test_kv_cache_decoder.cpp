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
