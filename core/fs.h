// Small filesystem helpers with the durability the checkpoint contract needs.
#pragma once
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace loong {

// Writes `bytes` to `path` durably: `<path>.tmp`, fsync, rename, fsync of the directory.
// IoError naming the path on any failure; the previous content of `path` survives a failure.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);
// fsync of a directory, so that a rename inside it is durable.
void fsync_directory(const std::filesystem::path& dir);
// Whole file as a string; IoError naming the path if it is missing, a directory, or unreadable.
std::string read_file(const std::filesystem::path& path);

// Outputs are checked before any work starts, so that a job never computes for an hour and then
// fails to save. `what` names the setting the path came from ("checkpoint.dir", "--out").
// Creates `dir` and its parents; IoError naming `what`, the path and the reason (a component that
// is a regular file, no permission, read-only file system) when it cannot be created or written.
void prepare_output_directory(const std::filesystem::path& dir, const std::string& what);
// For an output file: prepares its parent directory; IoError when `file` is an existing directory.
void prepare_output_file(const std::filesystem::path& file, const std::string& what);
// IoError unless `path` is an existing regular file (a directory or a missing path named as such).
void require_input_file(const std::filesystem::path& path, const std::string& what);
// IoError unless `path` is an existing directory.
void require_input_directory(const std::filesystem::path& path, const std::string& what);

}  // namespace loong

namespace loong {
// Builds a directory atomically: `fill` writes into `<final>.tmp`, which is then fsynced, renamed
// to `final`, and marked complete with an empty `DONE` file (docs/architecture.md, Checkpoints). A reader
// that sees `final/DONE` sees a complete directory. An existing `final` is replaced.
void write_directory_atomic(const std::filesystem::path& final_dir,
                            const std::function<void(const std::filesystem::path& tmp_dir)>& fill);
// The two halves of write_directory_atomic, for directories that several processes fill:
// begin returns the (emptied) `<final>.tmp`; commit fsyncs its files, renames it and writes DONE.
std::filesystem::path begin_directory_atomic(const std::filesystem::path& final_dir);
void commit_directory_atomic(const std::filesystem::path& final_dir);
}  // namespace loong
