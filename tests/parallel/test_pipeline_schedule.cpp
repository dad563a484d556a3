#include <gtest/gtest.h>

#include <map>

#include "parallel/pipeline_schedule.h"

using loong::PipelineAction;

TEST(Schedule1F1B, KnownSmallCase) {
  // p = 2, m = 4: stage 0 warms up with one forward, stage 1 (last) alternates from the start.
  EXPECT_EQ(loong::to_string(loong::schedule_1f1b(0, 2, 4)), "F0 F1 B0 F2 B1 F3 B2 B3");
  EXPECT_EQ(loong::to_string(loong::schedule_1f1b(1, 2, 4)), "F0 B0 F1 B1 F2 B2 F3 B3");
  // Fewer micro-batches than stages: all forwards, then all backwards.
  EXPECT_EQ(loong::to_string(loong::schedule_1f1b(0, 4, 2)), "F0 F1 B0 B1");
}

TEST(Schedule1F1B, EveryMicroBatchOnceForwardBeforeBackwardAndBoundedMemory) {
  for (int p = 1; p <= 6; ++p)
    for (int m = 1; m <= 9; ++m)
      for (int s = 0; s < p; ++s) {
        auto acts = loong::schedule_1f1b(s, p, m);
        ASSERT_EQ(static_cast<int>(acts.size()), 2 * m);
        std::map<int, int> fwd_at, bwd_at;
        int alive = 0, peak = 0, next_f = 0, next_b = 0;
        for (int i = 0; i < static_cast<int>(acts.size()); ++i) {
          const auto& a = acts[i];
          if (a.op == PipelineAction::Op::Forward) {
            EXPECT_EQ(a.micro_batch, next_f++) << "forwards in order";
            fwd_at[a.micro_batch] = i;
            peak = std::max(peak, ++alive);
          } else {
            EXPECT_EQ(a.micro_batch, next_b++) << "backwards in order";
            ASSERT_TRUE(fwd_at.count(a.micro_batch)) << "backward before forward";
            bwd_at[a.micro_batch] = i;
            --alive;
          }
        }
        EXPECT_EQ(peak, loong::schedule_1f1b_max_in_flight(s, p, m)) << "p " << p << " m " << m << " s " << s;
        // The last stage never holds more than one micro-batch: it runs each backward right away.
        if (s == p - 1) {
          EXPECT_EQ(peak, 1);
        }
      }
}

TEST(Schedule1F1B, BubbleFraction) {
  EXPECT_DOUBLE_EQ(loong::schedule_1f1b_bubble_fraction(1, 8), 0.0);
  EXPECT_DOUBLE_EQ(loong::schedule_1f1b_bubble_fraction(2, 4), 1.0 / 5.0);
  EXPECT_DOUBLE_EQ(loong::schedule_1f1b_bubble_fraction(4, 8), 3.0 / 11.0);
}
