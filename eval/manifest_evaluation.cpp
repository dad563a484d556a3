#include "eval/manifest_evaluation.h"

#include "core/error.h"
#include "core/progress.h"
#include "dataloader/manifest.h"
#include "dataloader/video_decoder.h"
#include "eval/contact_sheet.h"
#include "eval/tokenizer_round_trip.h"

namespace loong::eval {

EvaluationReport evaluate_manifest(const std::filesystem::path& manifest_path, DigitClassifier& classifier,
                                   const std::filesystem::path& classifier_dir, const ManifestEvaluationOptions& o) {
  o.score.validate();
  if (o.resolution < 28 || o.resolution > 1024) throw ConfigError("evaluation: resolution must be in [28, 1024]");
  const Manifest manifest = read_manifest(manifest_path);
  EvaluationReport report;
  report.label = o.label;
  report.manifest = manifest_path.string();
  report.classifier = classifier_dir.string();
  report.classifier_test_accuracy = classifier.info().test_accuracy;
  report.options = o.score;
  report.round_trip_tokenizer = o.round_trip ? o.round_trip_name : "";
  auto skip = [&](const std::string& path, int line, const std::string& reason) {
    if (o.strict) throw InputError(reason);
    report.skipped.push_back({path, line, reason});
  };
  for (const ManifestProblem& p : manifest.problems) skip("", p.line, p.reason);

  ContactSheet sheet(o.resolution, o.score.fps);
  DecodeOptions decode;
  decode.resolution = o.resolution;
  decode.fps = o.score.fps;
  const std::string where = manifest_path.string() + ":";
  ProgressBar bar("eval " + (o.label.empty() ? manifest_path.filename().string() : o.label),
                  static_cast<int64_t>(manifest.entries.size()), 10.0);
  int64_t done = 0;
  for (const ManifestEntry& e : manifest.entries) {
    const std::string at = where + std::to_string(e.line) + ": ";
    Caption caption;
    try {
      caption = parse_caption(e.caption);
    } catch (const InputError& err) {
      skip(e.path.string(), e.line, at + err.what());
      continue;
    }
    DecodedVideo video;
    try {
      video = decode_video(e.path, decode);
    } catch (const InputError& err) {
      skip(e.path.string(), e.line, at + "cannot read video: " + err.what());
      continue;
    }
    if (o.round_trip) video.frames = tokenizer_round_trip(*o.round_trip, video.frames, o.resolution);
    const auto predictions = classifier.classify(video.frames, o.resolution, o.resolution);
    VideoScore score = score_video(predictions, caption, o.score);
    score.path = e.path.string();
    score.line = e.line;
    score.caption = e.caption;
    if (!o.contact_sheet.empty()) sheet.add_row(video.frames, score.frame_digits, caption.digit);
    report.videos.push_back(std::move(score));
    if (o.progress) bar.update(++done);
  }
  if (o.progress) bar.finish();
  if (report.videos.empty()) {
    std::string why = "no video of " + manifest_path.string() + " could be scored";
    for (size_t i = 0; i < report.skipped.size() && i < 3; ++i) why += "\n  " + report.skipped[i].reason;
    if (report.skipped.size() > 3) why += "\n  ... and " + std::to_string(report.skipped.size() - 3) + " more";
    throw InputError(why);
  }
  report.summary = summarize(report.videos);
  if (!o.contact_sheet.empty()) sheet.write(o.contact_sheet);
  return report;
}

}  // namespace loong::eval
