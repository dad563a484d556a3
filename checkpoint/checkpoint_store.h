// The checkpoint directory of a job (docs/architecture.md, Checkpoints):
//   <root>/step_XXXXXXXX/   model + optimizer files (model/model_checkpoint.h), config.json,
//                           sequence.json + text_model.spm (what generation needs; written by the
//                           coordinator, sequence/sequence_manifest.h),
//                           training_state.pb (proto TrainingState), checksums.json (FNV-1a 64 of
//                           every other file), DONE (written last, after the atomic rename)
// A directory without DONE, or whose files do not match checksums.json, is not a checkpoint:
// `latest_valid` skips it (with a logged reason) in favour of the previous one.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "training.pb.h"

namespace loong {

class CheckpointStore {
 public:
  explicit CheckpointStore(std::filesystem::path root) : root_(std::move(root)) {}
  const std::filesystem::path& root() const { return root_; }

  std::filesystem::path dir_for(uint64_t step) const;
  // Starts a checkpoint: the temporary directory to fill (model files are written by workers).
  std::filesystem::path begin(uint64_t step) const;
  // Writes training_state.pb and checksums.json into the temporary directory, then renames it
  // into place and writes DONE. Keeps the newest `keep_last` complete checkpoints.
  std::filesystem::path commit(uint64_t step, const proto::TrainingState& state, int64_t keep_last) const;

  // Newest complete checkpoint whose checksums match; nullopt when there is none. Each skipped
  // candidate is reported in `skipped` with its reason.
  std::optional<std::filesystem::path> latest_valid(std::vector<std::string>* skipped = nullptr) const;
  // Checks DONE and every checksum; returns the reason when invalid, empty when valid.
  // Also checks that every file the layout writes is present and covered (config.json, model
  // shards named by the index, optimizer shards).
  static std::string validate(const std::filesystem::path& dir);
  // Files a complete checkpoint needs that `dir` lacks (a reason), or empty.
  static std::string missing_files(const std::filesystem::path& dir);
  static proto::TrainingState read_state(const std::filesystem::path& dir);

 private:
  std::filesystem::path root_;
};

}  // namespace loong
