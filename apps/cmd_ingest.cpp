// `loong ingest`: decodes the videos of a manifest into clips of the corpus (dataloader/ingest.h).
// Exit status: 0 if every line landed, 2 if anything was skipped, 1 on a fatal error.
#include <cstdio>
#include <cstdlib>

#include "apps/commands.h"
#include "dataloader/ingest.h"

namespace loong::apps {

void register_ingest(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "ingest",
      "Decode the videos of a manifest (FFmpeg), resample, resize + center-crop, cut clips of 1+4k frames and "
      "store them in a corpus. Re-running is idempotent. Exit status 0: all landed; 2: something was skipped "
      "(reasons printed); 1: fatal error.");
  auto manifest = std::make_shared<std::string>();
  auto db = std::make_shared<std::string>();
  auto o = std::make_shared<IngestOptions>();
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
  cmd->callback([manifest, db, o] {
    IngestSummary s = ingest(*manifest, *db, *o);
    for (auto& k : s.skipped) std::fprintf(stderr, "skipped: %s\n", k.reason.c_str());
    std::printf(
        "ingest: %lld videos listed, %lld ingested, %lld already present; %lld clips, %lld frames; %zu skipped; "
        "%.1f s (%.0f frames/s)\n",
        static_cast<long long>(s.videos_listed), static_cast<long long>(s.videos_ingested),
        static_cast<long long>(s.videos_present), static_cast<long long>(s.clips), static_cast<long long>(s.frames),
        s.skipped.size(), s.seconds, s.seconds > 0 ? s.frames / s.seconds : 0.0);
    std::fflush(stdout);
    if (!s.skipped.empty()) std::exit(2);
  });
}

}  // namespace loong::apps
