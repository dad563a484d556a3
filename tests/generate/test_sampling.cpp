// Sampling from a decode step's logits and classifier-free guidance's formula (generate/sampling.h).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "core/error.h"
#include "generate/sampling.h"

using namespace loong;

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
