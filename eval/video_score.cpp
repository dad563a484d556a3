#include "eval/video_score.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace loong::eval {

void ScoreOptions::validate() const {
  if (!(fps > 0 && fps <= 240)) throw ConfigError("scoring: fps must be in (0, 240]");
  if (!(window_seconds > 0)) throw ConfigError("scoring: window_seconds must be > 0");
  if (!(segment_seconds > 0)) throw ConfigError("scoring: segment_seconds must be > 0");
  if (segment_frames() > 16)
    throw ConfigError("scoring: segments of " + std::to_string(segment_frames()) +
                      " frames (segment_seconds x fps) can hold two bounces of a Moving-MNIST digit; at most 16");
  if (!(dead_zone_px_per_s >= 0)) throw ConfigError("scoring: dead_zone_px_per_s must be >= 0");
}

int64_t ScoreOptions::window_frames() const { return std::max<int64_t>(1, std::llround(window_seconds * fps)); }
int64_t ScoreOptions::segment_frames() const { return std::max<int64_t>(2, std::llround(segment_seconds * fps)); }

namespace {

nlohmann::json optional_json(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); }

nlohmann::json motion_json(const Motion& m) {
  if (!m.measured) return {{"measured", false}};
  return {{"measured", true}, {"direction", m.direction.str()}, {"vx", m.vx},          {"vy", m.vy},
          {"steps", m.steps}, {"turns_x", m.turns_x},           {"turns_y", m.turns_y}};
}

double fraction(int64_t part, int64_t whole) {
  return whole ? static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

// A segment agrees when the digit turns at most once per axis (one bounce) and moves in the
// captioned direction (`exact`: the video's first segment) or along the captioned axes.
bool agrees_with(const Motion& m, const Direction& captioned, bool exact) {
  if (!m.measured || m.turns_x > 1 || m.turns_y > 1) return false;
  return exact ? m.direction == captioned : m.direction.same_axes(captioned);
}

}  // namespace

nlohmann::json WindowScore::to_json() const {
  return {{"first_frame", first_frame},
          {"frames", frames},
          {"captioned_digit_fraction", captioned_digit_fraction},
          {"identity_consistency", identity_consistency},
          {"motion_agreement", optional_json(motion_agreement)},
          {"motion_segments", motion_segments},
          {"agreeing_segments", agreeing_segments}};
}

nlohmann::json VideoScore::to_json() const {
  nlohmann::json w = nlohmann::json::array();
  for (const auto& x : windows) w.push_back(x.to_json());
  return {{"path", path},
          {"line", line},
          {"caption", caption},
          {"captioned_digit", captioned.digit},
          {"captioned_direction", captioned.direction.str()},
          {"frames", frames},
          {"frames_with_digit", frames_with_digit},
          {"majority_digit", majority_digit},
          {"captioned_digit_fraction", captioned_digit_fraction},
          {"identity_consistency", identity_consistency},
          {"motion_agreement", optional_json(motion_agreement)},
          {"motion_segments", motion_segments},
          {"agreeing_segments", agreeing_segments},
          {"initial_motion", motion_json(initial_motion)},
          {"initial_direction_agrees", initial_direction_agrees},
          {"windows", w},
          {"frame_digits", frame_digits}};
}

VideoScore score_video(const std::vector<FramePrediction>& predictions, const Caption& caption, const ScoreOptions& o) {
  o.validate();
  VideoScore s;
  s.captioned = caption;
  s.frames = static_cast<int64_t>(predictions.size());
  std::vector<TrackPoint> track(predictions.size());
  std::array<int64_t, kDigitClasses> votes{};
  for (size_t f = 0; f < predictions.size(); ++f) {
    const FramePrediction& p = predictions[f];
    s.frame_digits.push_back(p.digit_found ? p.digit : -1);
    track[f] = {p.digit_found, p.location.x, p.location.y};
    if (p.digit_found) ++votes[static_cast<size_t>(p.digit)], ++s.frames_with_digit;
  }
  if (s.frames_with_digit > 0)
    s.majority_digit = static_cast<int>(std::max_element(votes.begin(), votes.end()) - votes.begin());

  const double dz = o.dead_zone_px_per_frame();
  const int64_t seg = o.segment_frames();
  s.initial_motion = measure_motion(track, 0, seg + 1, dz);
  s.initial_direction_agrees = agrees_with(s.initial_motion, caption.direction, true);

  const int64_t W = o.window_frames();
  int64_t captioned_total = 0, majority_total = 0;
  for (int64_t w0 = 0; w0 < s.frames; w0 += W) {
    WindowScore w;
    w.first_frame = w0;
    w.frames = std::min(W, s.frames - w0);
    int64_t captioned = 0, majority = 0;
    for (int64_t f = w0; f < w0 + w.frames; ++f) {
      const int d = s.frame_digits[static_cast<size_t>(f)];
      captioned += d == caption.digit;
      majority += d >= 0 && d == s.majority_digit;
    }
    w.captioned_digit_fraction = fraction(captioned, w.frames);
    w.identity_consistency = fraction(majority, w.frames);
    captioned_total += captioned, majority_total += majority;
    // Segments start every `seg` frames from the window's start and hold the steps that start in
    // the window; a stub shorter than half a segment (the video's last frames) is not judged.
    const int64_t last_step_start = std::min(w0 + w.frames, s.frames - 1);
    for (int64_t b = w0; b < last_step_start; b += seg) {
      const int64_t steps = std::min(b + seg, last_step_start) - b;
      if (steps < std::max<int64_t>(1, seg / 2)) continue;
      const Motion m = measure_motion(track, b, b + steps + 1, dz);
      const bool agrees = agrees_with(m, caption.direction, b == 0);
      ++w.motion_segments, w.agreeing_segments += agrees;
    }
    if (w.motion_segments) w.motion_agreement = fraction(w.agreeing_segments, w.motion_segments);
    s.motion_segments += w.motion_segments, s.agreeing_segments += w.agreeing_segments;
    s.windows.push_back(w);
  }
  s.captioned_digit_fraction = fraction(captioned_total, s.frames);
  s.identity_consistency = fraction(majority_total, s.frames);
  if (s.motion_segments) s.motion_agreement = fraction(s.agreeing_segments, s.motion_segments);
  return s;
}

}  // namespace loong::eval
