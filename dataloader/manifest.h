// Ingest manifests: which videos to ingest, with their captions and splits.
//   CSV:   a header naming the columns `path` and `caption` (and optionally `split`), in any
//          order; RFC 4180 quoting ("a, b" and "" for a quote); one record per line.
//   JSONL: one object per line: {"path": ..., "caption": ..., "split": ...} (split optional).
// The format is chosen by the extension (.jsonl / .json -> JSONL, anything else CSV). Relative
// paths resolve against the manifest's folder. Empty lines are ignored.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace loong {

struct ManifestEntry {
  std::filesystem::path path;  // resolved
  std::string caption;         // UTF-8
  std::string split;           // "train" (default) or "test"
  int line = 0;                // 1-based line in the manifest
};

struct ManifestProblem {
  int line = 0;
  std::string reason;  // "manifest.csv:7: ..." naming file and line
};

struct Manifest {
  std::vector<ManifestEntry> entries;
  std::vector<ManifestProblem> problems;  // malformed lines, skipped
};

// IoError if the manifest cannot be read; FormatError if a CSV header lacks `path` or `caption`.
// Malformed lines (bad quoting, wrong column count, invalid JSON, missing keys, caption not valid
// UTF-8, unknown split) are reported in `problems` and skipped.
Manifest read_manifest(const std::filesystem::path& manifest);
// The same for manifest bytes already read: `manifest` only names them (format by extension,
// relative paths, messages); nothing is read from disk.
Manifest parse_manifest(std::string_view text, const std::filesystem::path& manifest);

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF — what
// protobuf accepts in the corpus's string fields, so an accepted caption can be read back.
bool is_valid_utf8(const std::string& s);

}  // namespace loong
