#include "eval/evaluation_report.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>

namespace loong::eval {
namespace {

nlohmann::json opt(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); }

// Summary of one metric; `per_video` and `per_window` give it for a video and for its windows
// (none = not defined there, e.g. no motion segment).
MetricSummary summarize_metric(const std::vector<VideoScore>& videos,
                               const std::function<std::optional<double>(const VideoScore&)>& per_video,
                               const std::function<std::optional<double>(const WindowScore&)>& per_window) {
  MetricSummary m;
  double sum = 0;
  int64_t n = 0;
  std::vector<double> wsum;
  for (const VideoScore& v : videos) {
    if (auto x = per_video(v)) sum += *x, ++n;
    if (wsum.size() < v.windows.size()) wsum.resize(v.windows.size(), 0.0), m.window_videos.resize(v.windows.size(), 0);
    for (size_t w = 0; w < v.windows.size(); ++w)
      if (auto x = per_window(v.windows[w])) wsum[w] += *x, ++m.window_videos[w];
  }
  if (n) m.mean = sum / static_cast<double>(n);
  for (size_t w = 0; w < wsum.size(); ++w) {
    std::optional<double> mean;
    if (m.window_videos[w]) mean = wsum[w] / static_cast<double>(m.window_videos[w]);
    m.window_means.push_back(mean);
    if (mean && (!m.worst_window || *mean < *m.worst_window)) m.worst_window = mean;
  }
  return m;
}

std::string fmt(const std::optional<double>& v) {
  if (!v) return "-";
  char b[16];
  std::snprintf(b, sizeof b, "%.3f", *v);
  return b;
}

std::string pad(std::string s, size_t width) {
  if (s.size() < width) s.insert(0, width - s.size(), ' ');
  return s;
}

}  // namespace

nlohmann::json MetricSummary::to_json() const {
  nlohmann::json w = nlohmann::json::array();
  for (const auto& x : window_means) w.push_back(opt(x));
  return {
      {"mean", opt(mean)}, {"window_means", w}, {"window_videos", window_videos}, {"worst_window", opt(worst_window)}};
}

EvaluationSummary summarize(const std::vector<VideoScore>& videos) {
  EvaluationSummary s;
  s.videos = static_cast<int64_t>(videos.size());
  int64_t agreeing = 0;
  for (const VideoScore& v : videos) {
    s.frames += v.frames, s.frames_with_digit += v.frames_with_digit;
    agreeing += v.initial_direction_agrees;
    auto& tally = s.initial_direction_by_caption[v.captioned.direction.str()];
    ++tally.videos, tally.agreeing += v.initial_direction_agrees;
    for (int d : v.frame_digits) {
      if (d < 0)
        ++s.no_digit_frames[static_cast<size_t>(v.captioned.digit)];
      else
        ++s.confusion[static_cast<size_t>(v.captioned.digit)][static_cast<size_t>(d)];
    }
  }
  if (s.videos) s.initial_direction_agreement = static_cast<double>(agreeing) / static_cast<double>(s.videos);
  s.captioned_digit = summarize_metric(
      videos, [](const VideoScore& v) { return std::optional<double>(v.captioned_digit_fraction); },
      [](const WindowScore& w) { return std::optional<double>(w.captioned_digit_fraction); });
  s.identity = summarize_metric(
      videos, [](const VideoScore& v) { return std::optional<double>(v.identity_consistency); },
      [](const WindowScore& w) { return std::optional<double>(w.identity_consistency); });
  s.motion = summarize_metric(
      videos, [](const VideoScore& v) { return v.motion_agreement; },
      [](const WindowScore& w) { return w.motion_agreement; });
  return s;
}

nlohmann::json EvaluationSummary::to_json() const {
  nlohmann::json dirs = nlohmann::json::object();
  for (const auto& [k, t] : initial_direction_by_caption)
    dirs[k] = {{"videos", t.videos},
               {"agreeing", t.agreeing},
               {"fraction", t.videos ? static_cast<double>(t.agreeing) / static_cast<double>(t.videos) : 0.0}};
  return {{"videos", videos},
          {"frames", frames},
          {"frames_with_digit", frames_with_digit},
          {"captioned_digit_fraction", captioned_digit.to_json()},
          {"identity_consistency", identity.to_json()},
          {"motion_agreement", motion.to_json()},
          {"initial_direction_agreement", opt(initial_direction_agreement)},
          {"initial_direction_by_caption", dirs},
          {"confusion", {{"rows", "captioned digit 0..9"}, {"columns", "digit seen 0..9"}, {"frames", confusion}}},
          {"no_digit_frames", no_digit_frames}};
}

nlohmann::json EvaluationReport::to_json() const {
  nlohmann::json vs = nlohmann::json::array(), sk = nlohmann::json::array();
  for (const auto& v : videos) vs.push_back(v.to_json());
  for (const auto& s : skipped) sk.push_back({{"path", s.path}, {"line", s.line}, {"reason", s.reason}});
  return {{"label", label},
          {"manifest", manifest},
          {"classifier", {{"dir", classifier}, {"mnist_test_accuracy", classifier_test_accuracy}}},
          {"options",
           {{"fps", options.fps},
            {"window_seconds", options.window_seconds},
            {"window_frames", options.window_frames()},
            {"segment_seconds", options.segment_seconds},
            {"segment_frames", options.segment_frames()},
            {"dead_zone_px_per_s", options.dead_zone_px_per_s},
            {"round_trip_tokenizer", round_trip_tokenizer}}},
          {"summary", summary.to_json()},
          {"videos", vs},
          {"skipped", sk}};
}

std::string EvaluationReport::table() const {
  std::string t;
  char line[512];
  const std::string name = label.empty() ? manifest : label;
  std::snprintf(line, sizeof line, "eval %s: %lld videos scored, %zu skipped, %lld frames at %g fps, windows of %g s\n",
                name.c_str(), static_cast<long long>(summary.videos), skipped.size(),
                static_cast<long long>(summary.frames), options.fps, options.window_seconds);
  t += line;
  if (!round_trip_tokenizer.empty())
    t += "  (after a round trip through the video tokenizer " + round_trip_tokenizer + ")\n";
  t +=
      "\n  video                         digit seen  digit%  ident%  motion  initial direction (caption -> measured)\n";
  for (const VideoScore& v : videos) {
    std::string p = std::filesystem::path(v.path).filename().string();
    if (p.size() > 28) p = p.substr(p.size() - 28);
    std::snprintf(line, sizeof line, "  %-28s  %5d %4s  %6.3f  %6.3f  %6s  %s %s -> %s\n", p.c_str(), v.captioned.digit,
                  v.majority_digit < 0 ? "-" : std::to_string(v.majority_digit).c_str(), v.captioned_digit_fraction,
                  v.identity_consistency, fmt(v.motion_agreement).c_str(), v.initial_direction_agrees ? "ok " : "BAD",
                  v.captioned.direction.str().c_str(),
                  v.initial_motion.measured ? v.initial_motion.direction.str().c_str() : "(not measured)");
    t += line;
  }
  for (const SkippedVideo& s : skipped) t += "  skipped: " + s.reason + "\n";

  const auto& S = summary;
  size_t windows =
      std::max({S.captioned_digit.window_means.size(), S.identity.window_means.size(), S.motion.window_means.size()});
  t += "\n  metric                          mean   worst window";
  for (size_t w = 0; w < windows; ++w) {
    std::snprintf(line, sizeof line, "  %4g-%-4gs", w * options.window_seconds, (w + 1) * options.window_seconds);
    t += line;
  }
  t += "\n";
  auto row = [&](const char* what, const MetricSummary& m) {
    std::snprintf(line, sizeof line, "  %-28s  %6s  %12s", what, fmt(m.mean).c_str(), fmt(m.worst_window).c_str());
    t += line;
    for (size_t w = 0; w < windows; ++w) t += "  " + pad(w < m.window_means.size() ? fmt(m.window_means[w]) : "-", 10);
    t += "\n";
  };
  row("captioned digit fraction", S.captioned_digit);
  row("identity consistency", S.identity);
  row("motion agreement", S.motion);
  std::snprintf(line, sizeof line, "  %-28s  %6s\n", "initial direction agreement",
                fmt(S.initial_direction_agreement).c_str());
  t += line;
  t += "\n  initial direction agreement per captioned direction:";
  for (const auto& [k, d] : S.initial_direction_by_caption) {
    std::snprintf(line, sizeof line, "  %s %lld/%lld;", k.c_str(), static_cast<long long>(d.agreeing),
                  static_cast<long long>(d.videos));
    t += line;
  }
  t += "\n\n  confusion (frames; rows: captioned digit, columns: digit seen, '-': no digit)\n       ";
  for (int d = 0; d < kDigitClasses; ++d) t += pad(std::to_string(d), 6);
  t += pad("-", 6) + "\n";
  for (int c = 0; c < kDigitClasses; ++c) {
    int64_t total = S.no_digit_frames[c];
    for (int64_t n : S.confusion[c]) total += n;
    if (!total) continue;
    t += "    " + pad(std::to_string(c), 2) + " ";
    for (int64_t n : S.confusion[c]) t += pad(std::to_string(n), 6);
    t += pad(std::to_string(S.no_digit_frames[c]), 6) + "\n";
  }
  return t;
}

}  // namespace loong::eval
