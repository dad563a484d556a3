#include "coordinator/checkpoint_store.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/checksum.h"
#include "core/error.h"
#include "core/fs.h"

namespace fs = std::filesystem;

namespace loong {

fs::path CheckpointStore::dir_for(uint64_t step) const {
  char name[32];
  std::snprintf(name, sizeof name, "step_%08llu", static_cast<unsigned long long>(step));
  return root_ / name;
}

fs::path CheckpointStore::begin(uint64_t step) const {
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec) throw IoError("cannot create checkpoint directory " + root_.string() + ": " + ec.message());
  return begin_directory_atomic(dir_for(step));
}

fs::path CheckpointStore::commit(uint64_t step, const proto::TrainingState& state, int64_t keep_last) const {
  const fs::path final_dir = dir_for(step);
  fs::path tmp = final_dir;
  tmp += ".tmp";
  std::string bytes;
  state.SerializeToString(&bytes);
  write_file_atomic(tmp / "training_state.pb", bytes);
  nlohmann::json sums = nlohmann::json::object();
  for (const auto& e : fs::directory_iterator(tmp))
    if (e.is_regular_file() && e.path().filename() != "checksums.json")
      sums[e.path().filename().string()] = std::to_string(file_checksum(e.path()));
  write_file_atomic(tmp / "checksums.json", sums.dump(2));
  commit_directory_atomic(final_dir);
  // Retention: keep the newest keep_last complete checkpoints.
  std::vector<fs::path> done;
  for (const auto& e : fs::directory_iterator(root_))
    if (e.is_directory() && e.path().filename().string().starts_with("step_") && fs::exists(e.path() / "DONE") &&
        e.path().extension() != ".tmp")
      done.push_back(e.path());
  std::sort(done.begin(), done.end());
  for (size_t i = 0; i + static_cast<size_t>(keep_last) < done.size(); ++i) {
    std::error_code ec;
    fs::remove_all(done[i], ec);
  }
  return final_dir;
}

std::string CheckpointStore::validate(const fs::path& dir) {
  if (!fs::exists(dir / "DONE")) return "no DONE marker (incomplete write)";
  nlohmann::json sums;
  try {
    sums = nlohmann::json::parse(read_file(dir / "checksums.json"));
  } catch (const std::exception& e) {
    return std::string("checksums.json unreadable: ") + e.what();
  }
  for (auto it = sums.begin(); it != sums.end(); ++it) {
    const fs::path f = dir / it.key();
    try {
      if (!fs::exists(f)) return "file " + it.key() + " is missing";
      if (std::to_string(file_checksum(f)) != it.value().get<std::string>())
        return "file " + it.key() + " does not match its checksum";
    } catch (const std::exception& e) {
      return "file " + it.key() + ": " + e.what();
    }
  }
  if (!sums.contains("training_state.pb")) return "no training_state.pb";
  return "";
}

std::optional<fs::path> CheckpointStore::latest_valid(std::vector<std::string>* skipped) const {
  if (!fs::exists(root_)) return std::nullopt;
  std::vector<fs::path> candidates;
  for (const auto& e : fs::directory_iterator(root_)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && name.starts_with("step_") && name.size() == 13) candidates.push_back(e.path());
  }
  std::sort(candidates.rbegin(), candidates.rend());
  for (const auto& c : candidates) {
    const std::string why = validate(c);
    if (why.empty()) return c;
    if (skipped) skipped->push_back(c.string() + ": " + why);
  }
  return std::nullopt;
}

proto::TrainingState CheckpointStore::read_state(const fs::path& dir) {
  proto::TrainingState s;
  const std::string bytes = read_file(dir / "training_state.pb");
  if (!s.ParseFromString(bytes))
    throw FormatError((dir / "training_state.pb").string() + ": not a TrainingState message");
  return s;
}

}  // namespace loong
