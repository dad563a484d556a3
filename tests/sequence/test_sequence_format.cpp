#include <gtest/gtest.h>

#include <numeric>

#include "core/error.h"
#include "sequence/sequence_format.h"

using namespace loong;

namespace {
VocabLayout vocab() { return VocabLayout{100, 16, 64}; }
SampleShape shape(int64_t frames) { return SampleShape{4, frames, 2, 2}; }
}  // namespace

TEST(SequenceFormat, VocabularyLayoutIsTextThenSpecialsThenCodesPadded) {
  auto v = vocab();
  EXPECT_EQ(v.pad(), 100);
  EXPECT_EQ(v.bos(), 101);
  EXPECT_EQ(v.eov(), 104);
  EXPECT_EQ(v.video_offset(), 105);
  EXPECT_EQ(v.size(), 128);  // 121 rounded up to a multiple of 64
}

TEST(SequenceFormat, SampleLayoutTargetsAndFrames) {
  std::vector<int32_t> text = {7, 8}, codes = {0, 1, 2, 3, 15, 14, 13, 12};
  auto s = build_sample(vocab(), shape(2), LossWeighting{}, text, codes);
  // <bos> 7 8 <pad> <pad> <bov> c0..c3 c4..c7 <eov>, inputs drop the last token.
  const std::vector<int32_t> seq = {101, 7, 8, 100, 100, 103, 105, 106, 107, 108, 120, 119, 118, 117, 104};
  EXPECT_EQ(s.tokens, std::vector<int32_t>(seq.begin(), seq.end() - 1));
  EXPECT_EQ(s.targets, std::vector<int32_t>(seq.begin() + 1, seq.end()));
  EXPECT_EQ(static_cast<int64_t>(s.tokens.size()), shape(2).model_length());
  // Text, pads and <bov> carry no loss; the 8 codes and <eov> do.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(s.weights[i], 0.0f) << i;
  for (int i = 5; i < 14; ++i) EXPECT_EQ(s.weights[i], 1.0f) << i;
  EXPECT_EQ(s.frame_of_target[5], 0);
  EXPECT_EQ(s.frame_of_target[9], 1);
  EXPECT_EQ(s.frame_of_target[13], 2);  // <eov>
}

TEST(SequenceFormat, SegmentBalancedGivesEachSegmentEqualWeightAndKeepsTheTotal) {
  LossWeighting w;
  w.scheme = LossWeighting::Scheme::SegmentBalanced;
  w.short_end = 2;  // segments: frame 0 | frame 1 | frames 2.. + <eov>
  std::vector<int32_t> codes(5 * 4, 3);
  auto s = build_sample(vocab(), shape(5), w, {}, codes);
  double seg[3] = {0, 0, 0}, total = 0;
  for (size_t i = 0; i < s.weights.size(); ++i) {
    const int f = s.frame_of_target[i];
    if (f < 0) continue;
    seg[f == 0 ? 0 : (f == 1 ? 1 : 2)] += s.weights[i];
    total += s.weights[i];
  }
  EXPECT_NEAR(total, 5 * 4 + 1, 1e-4);
  EXPECT_NEAR(seg[0], seg[1], 1e-4);
  EXPECT_NEAR(seg[1], seg[2], 1e-4);
  // A one-frame sample (stage 1) has a single segment: plain weights.
  auto one = build_sample(vocab(), shape(1), w, {}, std::vector<int32_t>(4, 1));
  EXPECT_EQ(one.weights.back(), 1.0f);
}

TEST(SequenceFormat, PerFrameWeightsNormaliseToTheTokenCount) {
  LossWeighting w;
  w.scheme = LossWeighting::Scheme::PerFrame;
  w.per_frame = {4.0, 1.0};  // frame 0 four times frame 1 (and later frames)
  auto s = build_sample(vocab(), shape(3), w, {}, std::vector<int32_t>(12, 2));
  EXPECT_NEAR(s.weights[5] / s.weights[9], 4.0, 1e-5);
  double total = std::accumulate(s.weights.begin(), s.weights.end(), 0.0);
  EXPECT_NEAR(total, 13, 1e-4);
}

TEST(SequenceFormat, BadIdsAndShapesAreInputErrors) {
  EXPECT_THROW(build_sample(vocab(), shape(1), {}, std::vector<int32_t>{100}, std::vector<int32_t>(4, 0)), InputError);
  EXPECT_THROW(build_sample(vocab(), shape(1), {}, {}, std::vector<int32_t>{0, 1, 16, 2}), InputError);
  EXPECT_THROW(build_sample(vocab(), shape(2), {}, {}, std::vector<int32_t>(4, 0)), InputError);
  EXPECT_THROW(LossWeighting::parse("balanced", "train.loss_weighting"), ConfigError);
}
