// Aggregates of per-video scores (eval/video_score.h) over a set of videos, as JSON and as a
// table for people.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "eval/video_score.h"

namespace loong::eval {

// A manifest entry that was not scored, and why ("m.csv:7: ...").
struct SkippedVideo {
  std::string path;
  int line = 0;
  std::string reason;
};

// One per-video metric over the set: its mean over videos, its mean per window index (over the
// videos long enough to have that window) and the worst of those window means.
struct MetricSummary {
  std::optional<double> mean;
  std::vector<std::optional<double>> window_means;
  std::vector<int64_t> window_videos;  // videos contributing to each window mean
  std::optional<double> worst_window;
  nlohmann::json to_json() const;
};

struct DirectionTally {
  int64_t videos = 0, agreeing = 0;
};

struct EvaluationSummary {
  int64_t videos = 0, frames = 0, frames_with_digit = 0;
  MetricSummary captioned_digit, identity, motion;
  std::optional<double> initial_direction_agreement;  // fraction of videos
  // confusion[captioned][seen]: frames of videos captioned with digit `captioned` that the
  // classifier reads as `seen`; frames without a digit are counted in no_digit_frames[captioned].
  std::array<std::array<int64_t, kDigitClasses>, kDigitClasses> confusion{};
  std::array<int64_t, kDigitClasses> no_digit_frames{};
  std::map<std::string, DirectionTally> initial_direction_by_caption;  // key: Direction::str()
  nlohmann::json to_json() const;
};

EvaluationSummary summarize(const std::vector<VideoScore>& videos);

struct EvaluationReport {
  std::string label;  // names the set in the JSON and the table (e.g. "real test", "generated")
  std::string manifest;
  std::string classifier;  // classifier directory
  double classifier_test_accuracy = 0;
  ScoreOptions options;
  std::string round_trip_tokenizer;  // videos scored after a round trip through it ("" = as decoded)
  std::vector<VideoScore> videos;
  std::vector<SkippedVideo> skipped;
  EvaluationSummary summary;  // of `videos`

  // {"label", "manifest", "classifier", "options", "summary", "videos", "skipped"}.
  nlohmann::json to_json() const;
  // Per-video rows, then the aggregates, the per-window means, direction agreement per captioned
  // direction and the confusion matrix; fixed-width text.
  std::string table() const;
};

}  // namespace loong::eval
