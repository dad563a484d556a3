// Caption fidelity of one one-digit video, from the classifier's per-frame predictions
// (eval/digit_classifier.h) and the caption (eval/caption.h). docs/evaluation.md has the rules.
//
// Per video, and per window of `window_seconds` of video time (windows tile the video exactly:
// 200 frames at 8 fps in 10 s windows are windows of 80, 80 and 40 frames):
//   captioned_digit_fraction  frames showing the captioned digit / frames
//   identity_consistency      frames showing the video's majority digit / frames (the majority is
//                             taken over the whole video's frames with a digit)
//   motion_agreement          1-second segments whose motion (eval/motion.h) agrees with the
//                             caption / segments: the digit turns at most once per axis in the
//                             segment (one bounce), and the video's first segment moves in the
//                             captioned direction (both components), later ones along the
//                             captioned axes (a bouncing digit flips signs, never axes)
// and per video: initial_direction_agrees, the first segment's agreement (the caption describes
// the initial motion). Frames without a digit count against every fraction.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "eval/caption.h"
#include "eval/digit_classifier.h"
#include "eval/motion.h"

namespace loong::eval {

struct ScoreOptions {
  double fps = 8;                  // frame rate of the frames (decode rate), frames/s
  double window_seconds = 10;      // window length, s of video time
  double segment_seconds = 1;      // motion segment length, s (also the initial-motion cap); <= 16 frames
  double dead_zone_px_per_s = 4;   // slower than this along an axis = no motion (0.5 px/frame at 8 fps)
  void validate() const;           // ConfigError naming the option
  int64_t window_frames() const;   // max(1, round(window_seconds * fps))
  int64_t segment_frames() const;  // steps per segment: max(2, round(segment_seconds * fps))
  double dead_zone_px_per_frame() const { return dead_zone_px_per_s / fps; }
};

struct WindowScore {
  int64_t first_frame = 0, frames = 0;  // frames [first_frame, first_frame + frames)
  double captioned_digit_fraction = 0;
  double identity_consistency = 0;
  std::optional<double> motion_agreement;  // none when the window holds no motion segment
  int64_t motion_segments = 0, agreeing_segments = 0;
  nlohmann::json to_json() const;
};

struct VideoScore {
  std::string path;  // as given (the manifest's resolved path)
  int line = 0;      // manifest line (0 when not from a manifest)
  std::string caption;
  Caption captioned;
  int64_t frames = 0;
  int64_t frames_with_digit = 0;
  int majority_digit = -1;  // -1: no frame shows a digit
  double captioned_digit_fraction = 0, identity_consistency = 0;
  std::optional<double> motion_agreement;
  int64_t motion_segments = 0, agreeing_segments = 0;
  Motion initial_motion;  // over the first segment
  bool initial_direction_agrees = false;
  std::vector<WindowScore> windows;
  std::vector<int> frame_digits;  // per frame: predicted digit, -1 = no digit
  nlohmann::json to_json() const;
};

// predictions: one per frame, in order.
VideoScore score_video(const std::vector<FramePrediction>& predictions, const Caption& caption,
                       const ScoreOptions& options);

}  // namespace loong::eval
