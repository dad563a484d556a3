#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "tokenizer/code_transitions.h"

using namespace loong::tok;

namespace {
constexpr int64_t kFrames = 5, kCells = 16;
// A clip of kFrames latent frames whose frame j is `step` applied j times to random first codes.
template <class Step>
std::vector<int32_t> clip(std::mt19937& rng, int64_t k, Step step) {
  std::vector<int32_t> c(kFrames * kCells);
  for (int64_t i = 0; i < kCells; ++i) c[i] = static_cast<int32_t>(rng() % k);
  for (int64_t j = 1; j < kFrames; ++j)
    for (int64_t i = 0; i < kCells; ++i) c[j * kCells + i] = step(c[(j - 1) * kCells + i]);
  return c;
}
}  // namespace

TEST(CodeTransitions, StillCodesAreKeptAndPredictedByTheSmoothedCounts) {
  const int64_t k = 8;
  CodeTransitionCounter counter(k);
  std::vector<int32_t> still(kFrames * kCells, 3);
  counter.add(still, kFrames, kCells, true);
  counter.add(still, kFrames, kCells, false);
  const CodeTransitions r = counter.result();
  const int64_t per_clip = (kFrames - 2) * kCells;  // pairs (1,2), (2,3), (3,4)
  EXPECT_EQ(r.transitions, 2 * per_clip);
  EXPECT_EQ(r.scored, per_clip);
  EXPECT_DOUBLE_EQ(r.kept_share, 1.0);
  // Every scored pair is (3, 3), seen per_clip times in fitting; add-1/2 over k outcomes.
  const double expected = -std::log((per_clip + 0.5) / (per_clip + 0.5 * k));
  EXPECT_NEAR(r.bigram_xent, expected, 1e-12);
  EXPECT_NEAR(r.unigram_xent, expected, 1e-12);
}

TEST(CodeTransitions, ADeterministicChangeIsPredictableThoughNoCodeIsKept) {
  const int64_t k = 16;
  std::mt19937 rng(5);
  CodeTransitionCounter counter(k);
  // next = 3 prev + 1 (mod 16) has no fixed point: every code changes, yet the previous code
  // determines the next one.
  auto step = [k](int32_t c) { return static_cast<int32_t>((3 * c + 1) % k); };
  for (int n = 0; n < 200; ++n) counter.add(clip(rng, k, step), kFrames, kCells, n % 2 == 0);
  const CodeTransitions r = counter.result();
  EXPECT_EQ(r.kept_share, 0.0);
  EXPECT_LT(r.bigram_xent, 0.05);
  EXPECT_GT(r.unigram_xent, 2.5);  // near ln 16 = 2.77: the codes themselves are near uniform
}

TEST(CodeTransitions, IndependentCodesGainNothingFromThePreviousOne) {
  const int64_t k = 8;
  std::mt19937 rng(7);
  CodeTransitionCounter counter(k);
  auto step = [&rng, k](int32_t) { return static_cast<int32_t>(rng() % k); };
  for (int n = 0; n < 400; ++n) counter.add(clip(rng, k, step), kFrames, kCells, n % 2 == 0);
  const CodeTransitions r = counter.result();
  EXPECT_NEAR(r.kept_share, 1.0 / k, 0.02);
  EXPECT_NEAR(r.unigram_xent, std::log(8.0), 0.02);
  EXPECT_GT(r.bigram_xent, r.unigram_xent - 0.01);  // the extra context only adds estimation noise
}

TEST(CodeTransitions, FirstFrameAndBadInputs) {
  CodeTransitionCounter counter(4);
  std::vector<int32_t> c(kFrames * kCells, 1);
  counter.add(c, kFrames, kCells, true, 1);
  EXPECT_EQ(counter.result().transitions, (kFrames - 1) * kCells);
  EXPECT_EQ(counter.result().scored, 0);
  EXPECT_EQ(counter.result().bigram_xent, 0.0);
  EXPECT_THROW(counter.add(c, kFrames, kCells + 1, true), loong::InputError);
  c[7] = 4;
  EXPECT_THROW(counter.add(c, kFrames, kCells, true), loong::InputError);
  c[7] = -1;
  EXPECT_THROW(counter.add(c, kFrames, kCells, true), loong::InputError);
}
