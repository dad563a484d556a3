// `loong ingest`: decodes the videos of a manifest into clips of the corpus (dataloader/ingest.h).
// Exit status: 0 if every line landed, 2 if anything was skipped, 1 on a fatal error.
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "apps/commands.h"
#include "apps/metrics_flags.h"
#include "dataloader/ingest.h"

namespace loong::apps {
namespace {

const char* outcome_name(IngestEntryResult::Outcome o) {
  switch (o) {
    case IngestEntryResult::Outcome::ingested:
      return "ingested";
    case IngestEntryResult::Outcome::present:
      return "present";
    case IngestEntryResult::Outcome::skipped:
      return "skipped";
  }
  return "unknown";
}

// Progress of one ingest as Prometheus metrics (`loong_ingest_*`); counters start at 0 with the
// command and count what this run did.
class IngestMetrics final : public IngestObserver {
 public:
  explicit IngestMetrics(MetricsEndpoint& m)
      : listed_(m.gauge("loong_ingest_videos_listed", "Well-formed manifest entries this ingest works through")),
        progress_(m.gauge("loong_ingest_progress_ratio",
                          "Fraction of the listed videos finished (ingested, present or skipped)")),
        processed_(m.counter_family("loong_ingest_videos_processed_total",
                                    "Manifest entries finished, by outcome: ingested (decoded and written), present "
                                    "(already in the corpus), skipped")),
        clips_(m.counter("loong_ingest_clips_total", "Clips written")),
        frames_(m.counter("loong_ingest_frames_total", "Frames written")),
        skipped_(m.counter_family("loong_ingest_skipped_total",
                                  "Manifest lines skipped, by reason (malformed line, missing file, I/O error, "
                                  "undecodable, over a size/duration limit, too short, duplicate of an earlier line)")),
        frames_per_s_(m.gauge("loong_ingest_frames_per_second", "Frames written per second since the ingest started")) {
    using O = IngestEntryResult::Outcome;
    for (auto o : {O::ingested, O::present, O::skipped}) processed_.Add({{"outcome", outcome_name(o)}});
    for (auto c : {IngestSkipCause::manifest_line, IngestSkipCause::missing_file, IngestSkipCause::io_error,
                   IngestSkipCause::undecodable, IngestSkipCause::over_limit, IngestSkipCause::too_short,
                   IngestSkipCause::duplicate})
      skipped_.Add({{"reason", skip_cause_name(c)}});
  }

  void started(int64_t videos_listed, const std::vector<IngestSkip>& malformed_lines) override {
    t0_ = std::chrono::steady_clock::now();
    listed_.Set(static_cast<double>(videos_listed));
    total_ = videos_listed;
    for (const auto& m : malformed_lines) skipped_.Add({{"reason", skip_cause_name(m.cause)}}).Increment();
  }

  void finished(const IngestEntryResult& e) override {
    processed_.Add({{"outcome", outcome_name(e.outcome)}}).Increment();
    if (e.skip) skipped_.Add({{"reason", skip_cause_name(e.skip->cause)}}).Increment();
    clips_.Increment(static_cast<double>(e.clips));
    frames_.Increment(static_cast<double>(e.frames));
    ++done_;
    progress_.Set(total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    if (s > 0) frames_per_s_.Set(frames_.Value() / s);
  }

 private:
  prometheus::Gauge& listed_;
  prometheus::Gauge& progress_;
  prometheus::Family<prometheus::Counter>& processed_;
  prometheus::Counter& clips_;
  prometheus::Counter& frames_;
  prometheus::Family<prometheus::Counter>& skipped_;
  prometheus::Gauge& frames_per_s_;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  int64_t total_ = 0, done_ = 0;
};

}  // namespace

void register_ingest(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "ingest",
      "Decode the videos of a manifest (FFmpeg), resample, resize + center-crop, cut clips of 1+4k frames and "
      "store them in a corpus. Re-running is idempotent. Exit status 0: all landed; 2: something was skipped "
      "(reasons printed); 1: fatal error.");
  auto manifest = std::make_shared<std::string>();
  auto db = std::make_shared<std::string>();
  auto o = std::make_shared<IngestOptions>();
  auto metrics = std::make_shared<MetricsFlags>();
  cmd->add_option("--manifest", *manifest,
                  "CSV with header path,caption[,split] or JSONL {\"path\",\"caption\"[,\"split\"]}; relative paths "
                  "resolve against the manifest's folder; split is train (default) or test")
      ->required();
  cmd->add_option("--db", *db, "Corpus directory (created if missing)")->required();
  cmd->add_option("--resolution", o->decode.resolution, "Side of the square output frames, pixels")
      ->capture_default_str();
  cmd->add_option("--fps", o->decode.fps, "Output frame rate (frames per second)")->capture_default_str();
  cmd->add_option("--clip-frames", o->clip_frames, "Frames per clip, 1 + 4k")->capture_default_str();
  cmd->add_option(
         "--min-frames", o->min_frames,
         "Shortest clip kept: the tail after the last full clip becomes one clip of the largest 1+4j frames it "
         "holds if that is >= this, else it is dropped")
      ->capture_default_str();
  cmd->add_option("--max-width", o->decode.max_width, "Reject source videos wider than this (pixels)")
      ->capture_default_str();
  cmd->add_option("--max-height", o->decode.max_height, "Reject source videos taller than this (pixels)")
      ->capture_default_str();
  cmd->add_option("--max-duration", o->decode.max_duration_s, "Reject source videos longer than this (seconds)")
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "Videos decoded in parallel")->capture_default_str();
  cmd->add_flag("--no-progress{false}", o->progress, "No progress bar or progress lines");
  add_metrics_flags(cmd, *metrics, "loong-ingest");
  cmd->callback([manifest, db, o, metrics] {
    std::unique_ptr<MetricsEndpoint> endpoint = metrics->start();
    std::unique_ptr<IngestMetrics> progress;
    if (endpoint) progress = std::make_unique<IngestMetrics>(*endpoint);
    IngestOptions options = *o;
    options.observer = progress.get();
    IngestSummary s = ingest(*manifest, *db, options);
    for (auto& k : s.skipped) std::fprintf(stderr, "skipped: %s\n", k.reason.c_str());
    std::printf(
        "ingest: %lld videos listed, %lld ingested, %lld already present; %lld clips, %lld frames; %zu skipped; "
        "%.1f s (%.0f frames/s)\n",
        static_cast<long long>(s.videos_listed), static_cast<long long>(s.videos_ingested),
        static_cast<long long>(s.videos_present), static_cast<long long>(s.clips), static_cast<long long>(s.frames),
        s.skipped.size(), s.seconds, s.seconds > 0 ? s.frames / s.seconds : 0.0);
    std::fflush(stdout);
    metrics->linger(endpoint.get());
    if (s.skipped.empty()) return;
    progress.reset();
    endpoint.reset();  // removes the target file; std::exit skips destructors
    std::exit(2);
  });
}

}  // namespace loong::apps
