#include "checkpoint/checkpoint_store.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/checksum.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/json_fields.h"

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
  // Never commit a directory a reader would reject: every shard the layout writes must be here.
  const std::string missing = missing_files(tmp);
  if (!missing.empty()) throw IoError("checkpoint " + final_dir.string() + " is incomplete, not committed: " + missing);
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

std::string CheckpointStore::missing_files(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir / "config.json", ec)) return "config.json is missing";
  for (const char* stem : {"model", "optimizer"}) {
    const fs::path single = dir / (std::string(stem) + ".safetensors");
    const fs::path index = dir / (std::string(stem) + ".safetensors.index.json");
    if (fs::exists(single, ec)) continue;
    if (!fs::exists(index, ec)) {
      if (std::string(stem) == "optimizer") continue;  // inference-only checkpoints have no optimizer
      return std::string(stem) + ".safetensors (or its index) is missing";
    }
    try {
      const nlohmann::json j = read_json_file(index);
      const JsonField map = JsonField(j, index.string()).at("weight_map");
      for (const auto& [name, file] : map.object().items()) {
        const std::string f = JsonField(file, index.string(), "weight_map." + name).as_string();
        if (f.find('/') != std::string::npos || f == ".." || f.empty())
          return index.filename().string() + " names '" + f + "', which is not a file of this directory";
        if (!fs::exists(dir / f, ec)) return "shard " + f + " (named by " + index.filename().string() + ") is missing";
      }
    } catch (const Error& e) {
      return e.what();
    }
  }
  return "";
}

std::string CheckpointStore::validate(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return "it does not exist";
  if (!fs::is_directory(dir, ec)) return "it is not a directory";
  if (!fs::exists(dir / "DONE", ec)) {
    if (fs::exists(dir / "checksums.json", ec) || fs::exists(dir / "training_state.pb", ec))
      return "no DONE marker (incomplete write)";
    return "no DONE marker: not a checkpoint directory (expected step_XXXXXXXX/ with DONE, checksums.json, ...)";
  }
  try {
    const nlohmann::json sums = read_json_file(dir / "checksums.json");
    const JsonField root(sums, (dir / "checksums.json").string());
    for (const auto& [name, value] : root.object().items()) {
      const std::string expected = JsonField(value, root.where(), name).as_string();
      if (name.find('/') != std::string::npos || name == ".." || name.empty())
        return "checksums.json names '" + name + "', which is not a file of this directory";
      const fs::path f = dir / name;
      if (!fs::exists(f, ec)) return "file " + name + " is missing";
      if (std::to_string(file_checksum(f)) != expected) return "file " + name + " does not match its checksum";
    }
    if (!sums.contains("training_state.pb")) return "no training_state.pb";
    // Files the layout needs but that checksums.json does not cover (written before this check).
    const std::string missing = missing_files(dir);
    if (!missing.empty()) return missing;
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string name = e.path().filename().string();
      if (e.is_regular_file() && name.ends_with(".safetensors") && !sums.contains(name))
        return "file " + name + " is not covered by checksums.json";
    }
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("cannot be read: ") + e.what();
  }
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
