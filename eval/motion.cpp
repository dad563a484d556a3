#include "eval/motion.h"

#include <algorithm>
#include <cmath>

namespace loong::eval {
namespace {

struct Step {
  double d;     // displacement along the axis, px
  int64_t gap;  // frames it spans
};

struct AxisMotion {
  double velocity = 0;  // mean over the steps before the first turn, px/frame
  int64_t turns = 0;
};

AxisMotion analyse_axis(const std::vector<Step>& steps, double dead_zone) {
  AxisMotion a;
  double run = 0, before_turn = 0;  // displacement since the last turn / before the first
  int64_t frames_before_turn = 0;
  for (const Step& s : steps) {
    const double v = s.d / static_cast<double>(s.gap);
    if (run * v < 0 && std::fabs(v) >= dead_zone && std::fabs(run) >= kTurnPx) ++a.turns, run = 0;
    run += s.d;
    if (a.turns == 0) before_turn += s.d, frames_before_turn += s.gap;
  }
  // The first step never turns, so frames_before_turn >= 1.
  a.velocity = frames_before_turn ? before_turn / static_cast<double>(frames_before_turn) : 0.0;
  return a;
}

int sign_outside(double v, double dead_zone) { return std::fabs(v) < dead_zone ? 0 : (v > 0 ? 1 : -1); }

}  // namespace

Motion measure_motion(const std::vector<TrackPoint>& track, int64_t begin, int64_t end, double dead_zone) {
  Motion m;
  end = std::min<int64_t>(end, static_cast<int64_t>(track.size()));
  std::vector<Step> sx, sy;
  int64_t last = -1, first = -1;
  for (int64_t f = std::max<int64_t>(begin, 0); f < end; ++f) {
    const TrackPoint& p = track[static_cast<size_t>(f)];
    if (!p.found) continue;
    if (last >= 0) {
      const TrackPoint& q = track[static_cast<size_t>(last)];
      sx.push_back({p.x - q.x, f - last});
      sy.push_back({p.y - q.y, f - last});
    } else {
      first = f;
    }
    last = f;
  }
  if (sx.empty()) return m;
  m.measured = true;
  m.steps = last - first;
  const AxisMotion ax = analyse_axis(sx, dead_zone), ay = analyse_axis(sy, dead_zone);
  m.vx = ax.velocity, m.vy = ay.velocity;
  m.turns_x = ax.turns, m.turns_y = ay.turns;
  m.direction = {sign_outside(m.vx, dead_zone), sign_outside(m.vy, dead_zone)};
  return m;
}

}  // namespace loong::eval
