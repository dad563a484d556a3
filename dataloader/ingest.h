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

// Why a manifest line was skipped: a small fixed set, for counting (metrics label values).
enum class IngestSkipCause {
  manifest_line,  // malformed line of the manifest (no video to look at)
  missing_file,   // the listed file does not exist
  io_error,       // the operating system refused a read (or the corpus a write)
  undecodable,    // not a media file, no video stream, damaged stream, no decodable frame
  over_limit,     // readable, but beyond --max-width/--max-height/--max-duration
  too_short,      // fewer frames than --min-frames at the output rate
  duplicate,      // the same file bytes as an earlier line of this manifest (a video keeps one caption)
};
// The cause as a lower-case identifier ("manifest_line", "missing_file", ...).
const char* skip_cause_name(IngestSkipCause cause);

struct IngestSkip {
  std::string reason;  // names the manifest line and the file
  int line = 0;        // 1-based manifest line; IngestSummary::skipped is ordered by it
  IngestSkipCause cause = IngestSkipCause::undecodable;
};

// What one manifest entry came to, as it finishes.
struct IngestEntryResult {
  enum class Outcome { ingested, present, skipped } outcome = Outcome::ingested;
  int64_t clips = 0, frames = 0;     // written by this run (ingested only)
  const IngestSkip* skip = nullptr;  // skipped only; valid during the call
};

// Follows an ingest while it runs (progress metrics). Calls are serialised by the ingest (never
// concurrent) but come from its worker threads; they should return quickly.
class IngestObserver {
 public:
  virtual ~IngestObserver() = default;
  // Once, after the manifest is read: the entries to process and the malformed lines (skipped).
  virtual void started(int64_t videos_listed, const std::vector<IngestSkip>& malformed_lines) = 0;
  virtual void finished(const IngestEntryResult& entry) = 0;
};

struct IngestOptions {
  DecodeOptions decode;                // resolution, fps, size and duration limits
  int clip_frames = 65;                // 1 + 4k, k >= 0
  int min_frames = 1;                  // shortest clip kept (tails and short videos)
  int threads = 2;                     // videos decoded in parallel
  bool progress = true;                // progress bar (terminal) or plain lines on stderr
  IngestObserver* observer = nullptr;  // not owned; may be null
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
