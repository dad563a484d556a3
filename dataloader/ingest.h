// `loong ingest`: videos listed in a manifest -> clips in the corpus.
//
// Every video is decoded (dataloader/video_decoder.h) to `resolution` x `resolution` RGB at `fps`
// and cut into consecutive clips of `clip_frames` = 1 + 4k frames. The tail after the last full
// clip is kept as one shorter clip of the largest 1 + 4j frames it holds if that is at least
// `min_frames` (frames beyond 1 + 4j are dropped), and dropped otherwise. A video yielding no clip
// is skipped ("shorter than --min-frames").
//
// Idempotent and crash-safe: a video's key is the FNV-1a 64 of its file's bytes; clip ids are
// (video key, clip index); all of a video's clips are written in one RocksDB batch together with
// a "done" record, and videos whose done record exists are not decoded again. An ingest killed
// half-way and re-run therefore completes without duplicates or losses.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "dataloader/video_decoder.h"

namespace loong {

struct IngestOptions {
  DecodeOptions decode;  // resolution, fps, size and duration limits
  int clip_frames = 65;  // 1 + 4k, k >= 0
  int min_frames = 1;    // shortest clip kept (tails and short videos)
  int threads = 2;       // videos decoded in parallel
  bool progress = true;  // progress bar (terminal) or plain lines on stderr
};

struct IngestSkip {
  std::string reason;  // names the manifest line and the file
  int line = 0;        // 1-based manifest line; IngestSummary::skipped is ordered by it
};

struct IngestSummary {
  int64_t videos_listed = 0;      // manifest entries (well-formed lines)
  int64_t videos_ingested = 0;    // decoded and written by this run
  int64_t videos_present = 0;     // already in the corpus (same file bytes), not decoded again
  int64_t clips = 0, frames = 0;  // written by this run
  double seconds = 0;
  std::vector<IngestSkip> skipped;  // malformed manifest lines and rejected videos, in manifest order
};

// Ingests `manifest` into the corpus at `db_dir` (created if missing). Throws ConfigError for bad
// options, IoError/FormatError for an unreadable manifest or corpus (including another writer
// holding the corpus); problems with single lines or videos are collected in `skipped`.
IngestSummary ingest(const std::filesystem::path& manifest, const std::filesystem::path& db_dir,
                     const IngestOptions& options);

// FNV-1a 64 of a file's bytes as 16 hex digits; IoError naming the file if it cannot be read.
std::string file_key(const std::filesystem::path& path);

}  // namespace loong
