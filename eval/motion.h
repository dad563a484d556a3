// The motion of the digit, measured from its centre-of-mass track (one point per frame).
//
// Rule (docs/evaluation.md), per axis: a TURN is a step of at least the dead zone (px/frame)
// against a displacement of at least kTurnPx built up since the previous turn (or the start). The
// motion of a stretch of video is its INITIAL motion: the mean velocity over the steps before the
// axis first turns; an axis whose mean velocity is below the dead zone does not move. This reads a
// Moving-MNIST digit exactly: it moves at an integer 1 or 2 px/frame per axis (or 0) until it
// bounces off a wall, where the step into the wall is reflected (a turn, or for one frame a shorter
// step). A 64-pixel frame leaves a 28-pixel digit 36 pixels of travel, so at <= 2 px/frame a
// stretch of up to 16 frames holds at most one bounce per axis: more turns than that are not motion
// (shuffled frames, a digit jumping about). Frames without a digit are left out; a step across such
// a gap counts as its displacement divided by the frames it spans.
#pragma once
#include <cstdint>
#include <vector>

#include "eval/caption.h"

namespace loong::eval {

inline constexpr double kTurnPx = 1.0;  // displacement that must precede a turn, px (rides over jitter)

struct TrackPoint {
  bool found = false;   // the frame shows a digit
  double x = 0, y = 0;  // its centre of mass, pixels
};

struct Motion {
  bool measured = false;             // at least two frames with a digit in the stretch
  Direction direction;               // zero components inside the dead zone
  double vx = 0, vy = 0;             // mean velocity before the first reversal, px/frame (x right, y down)
  int64_t steps = 0;                 // frame steps the stretch spans (first to last frame with a digit)
  int64_t turns_x = 0, turns_y = 0;  // turns per axis over the whole stretch
};

// Motion over frames [begin, end) of `track` (end clamped to its size). dead_zone: px/frame.
Motion measure_motion(const std::vector<TrackPoint>& track, int64_t begin, int64_t end, double dead_zone);

}  // namespace loong::eval
