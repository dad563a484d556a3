#include <gtest/gtest.h>

#include <cmath>

#include "optim/lr_schedule.h"

TEST(WarmupCosine, WarmsUpLinearlyThenDecaysToMin) {
  loong::WarmupCosineSchedule s{1.0, 0.1, 4, 14};
  EXPECT_DOUBLE_EQ(s.at(0), 0.25);
  EXPECT_DOUBLE_EQ(s.at(3), 1.0);
  EXPECT_DOUBLE_EQ(s.at(4), 1.0);           // start of the decay
  EXPECT_NEAR(s.at(9), 0.1 + 0.45, 1e-12);  // half way: cos(pi/2) = 0
  EXPECT_DOUBLE_EQ(s.at(14), 0.1);
  EXPECT_DOUBLE_EQ(s.at(100), 0.1);  // constant after the end
  for (int i = 4; i < 14; ++i) EXPECT_GT(s.at(i), s.at(i + 1));
}

TEST(WarmupCosine, NoWarmup) {
  loong::WarmupCosineSchedule s{2.0, 0.0, 0, 10};
  EXPECT_DOUBLE_EQ(s.at(0), 2.0);
  EXPECT_NEAR(s.at(5), 1.0, 1e-12);
}
