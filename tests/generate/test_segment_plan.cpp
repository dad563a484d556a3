#include <gtest/gtest.h>

#include "core/error.h"
#include "generate/segment_plan.h"

using namespace loong;

TEST(SegmentPlan, SixtySecondsOfMovingMnistFromSeventeenLatentFrames) {
  // 60 s at 8 fps = 480 frames; trained on 17 latent frames (65 pixel frames), tail 8.
  const SegmentPlan p = plan_segments(480, 17, 8);
  EXPECT_EQ(p.pixel_frames, 480);
  // ceil((480 - 1) / 4) + 1 latent frames in all: 120 + 1.
  EXPECT_EQ(p.sampled_latents, 121);
  ASSERT_EQ(p.segments.size(), 13u);  // 65 + 11 x 36 + 19 = 480
  EXPECT_EQ(p.segments[0].new_latents, 17);
  EXPECT_EQ(p.segments[0].pixel_frames, 65);
  for (size_t s = 1; s + 1 < p.segments.size(); ++s) {
    EXPECT_EQ(p.segments[s].prefix_latents, 8);
    EXPECT_EQ(p.segments[s].new_latents, 9);
    EXPECT_EQ(p.segments[s].pixel_frames, 36);
  }
  EXPECT_EQ(p.segments.back().new_latents, 5);  // ceil(19 / 4)
  EXPECT_EQ(p.segments.back().pixel_frames, 19);
  EXPECT_EQ(p.segments.back().first_pixel, 461);
}

TEST(SegmentPlan, EveryLengthIsCoveredExactlyWithinTheTrainedLength) {
  for (int64_t L = 2; L <= 9; ++L)
    for (int64_t n = 1; n < L; ++n)
      for (int64_t F = 1; F <= 150; ++F) {
        const SegmentPlan p = plan_segments(F, L, n);
        int64_t next = 0, latents = 0;
        for (size_t s = 0; s < p.segments.size(); ++s) {
          const Segment& g = p.segments[s];
          EXPECT_EQ(g.first_pixel, next) << F << " " << L << " " << n;
          EXPECT_GE(g.new_latents, 1);
          EXPECT_LE(g.prefix_latents + g.new_latents, L) << "a window longer than the trained length";
          EXPECT_EQ(g.prefix_latents, s == 0 ? 0 : n);
          // A segment adds at most what its new latent frames decode to.
          EXPECT_LE(g.pixel_frames, s == 0 ? 1 + 4 * (g.new_latents - 1) : 4 * g.new_latents);
          EXPECT_GT(g.pixel_frames, s == 0 ? 4 * (g.new_latents - 2) + 1 : 4 * (g.new_latents - 1));
          next += g.pixel_frames;
          latents += g.new_latents;
        }
        EXPECT_EQ(next, F);
        EXPECT_EQ(latents, p.sampled_latents);
        EXPECT_EQ(p.sampled_latents, (F - 1 + 3) / 4 + 1);
      }
}

TEST(SegmentPlan, ImpossiblePlansAreInputErrors) {
  EXPECT_THROW(plan_segments(0, 5, 2), InputError);
  EXPECT_THROW(plan_segments(2, 1, 1), InputError);   // an image model cannot extend
  EXPECT_THROW(plan_segments(40, 5, 0), InputError);  // tail outside [1, L)
  EXPECT_THROW(plan_segments(40, 5, 5), InputError);
  EXPECT_NO_THROW(plan_segments(17, 5, 5));  // one segment: the tail is never used
  EXPECT_EQ(plan_segments(1, 1, 1).segments.size(), 1u);
}
