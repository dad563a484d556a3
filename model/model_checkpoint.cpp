#include "model/model_checkpoint.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/finite.h"
#include "core/fs.h"
#include "core/json_fields.h"
#include "core/safetensors.h"

namespace loong {
namespace {

std::string stage_file(const char* stem, int stage, int stages) {
  if (stages == 1) return std::string(stem) + ".safetensors";
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s-%05d-of-%05d.safetensors", stem, stage + 1, stages);
  return buf;
}

// Full (unsharded) copies of each local tensor, gathered over the tp group. Collective over tp.
std::vector<std::vector<float>> gather_tp(const LlamaModel& model, Communicator& tp, const float* flat) {
  std::vector<std::vector<float>> out;
  std::vector<float> gathered;
  for (const auto& t : model.tensors()) {
    int64_t full_n = 1;
    for (int64_t d : t.full_shape) full_n *= d;
    std::vector<float> full(full_n);
    if (t.shard_dim < 0) {
      std::copy(flat + t.offset, flat + t.offset + t.numel, full.begin());
    } else {
      gathered.resize(t.numel * tp.size());
      tp.all_gather(flat + t.offset, gathered.data(), t.numel);
      for (int r = 0; r < tp.size(); ++r) place_from_shard(t, r, gathered.data() + r * t.numel, full.data());
    }
    out.push_back(std::move(full));
  }
  return out;
}

// Which file holds each tensor: from the index when there is one.
std::map<std::string, std::string> tensor_files(const std::filesystem::path& dir, const char* stem) {
  std::map<std::string, std::string> where;
  const auto index = dir / (std::string(stem) + ".safetensors.index.json");
  if (!std::filesystem::exists(index)) return where;
  const nlohmann::json j = read_json_file(index);
  const JsonField map = JsonField(j, index.string()).at("weight_map");
  for (const auto& [name, file] : map.object().items()) {
    const std::string f = JsonField(file, index.string(), "weight_map." + name).as_string();
    if (f.empty() || f.find('/') != std::string::npos || f == "..")
      throw FormatError(index.string() + ": weight_map." + name + " = '" + f + "' is not a file of this directory");
    where[name] = f;
  }
  return where;
}

class TensorSource {
 public:
  TensorSource(const std::filesystem::path& dir, const char* stem)
      : dir_(dir), stem_(stem), map_(tensor_files(dir, stem)) {}
  const SafetensorsFile& file_for(const std::string& tensor) {
    std::string name = stem_ + ".safetensors";
    if (!map_.empty()) {
      auto it = map_.find(tensor);
      if (it == map_.end())
        throw FormatError((dir_ / (stem_ + ".safetensors.index.json")).string() + ": no entry for tensor '" + tensor +
                          "'");
      name = it->second;
    }
    auto it = open_.find(name);
    if (it == open_.end()) it = open_.emplace(name, SafetensorsFile::open(dir_ / name)).first;
    return it->second;
  }

 private:
  std::filesystem::path dir_;
  std::string stem_;
  std::map<std::string, std::string> map_;
  std::map<std::string, SafetensorsFile> open_;
};

}  // namespace

void save_model_files(LlamaModel& model, ProcessGrid& grid, AdamWOptimizer* optimizer,
                      const std::filesystem::path& dir) {
  const auto& pos = grid.position();
  const int stages = grid.layout().pp;
  auto weights = gather_tp(model, grid.tp(), model.params().data());
  std::vector<std::vector<float>> m, v;
  int64_t steps = 0;
  if (optimizer) {
    std::vector<float> m_flat, v_flat;
    optimizer->gather_state(m_flat, v_flat);  // collective over dp under ZeRO-1
    m = gather_tp(model, grid.tp(), m_flat.data());
    v = gather_tp(model, grid.tp(), v_flat.data());
    steps = optimizer->steps_taken();
  }
  const bool writer = pos.tp_rank == 0 && pos.dp_rank == 0;
  // A diverged run must never leave a checkpoint that looks like a model.
  for (size_t i = 0; i < model.tensors().size(); ++i)
    if (const int64_t bad = count_non_finite(weights[i]); bad > 0)
      throw DivergedError("refusing to write checkpoint " + dir.string() + ": tensor " + model.tensors()[i].name +
                          " holds " + std::to_string(bad) + " non-finite values (NaN or Inf): the run diverged");
  if (writer) {
    SafetensorsWriter w;
    w.set_metadata("format", "pt");
    for (size_t i = 0; i < model.tensors().size(); ++i)
      w.add_f32(model.tensors()[i].name, model.tensors()[i].full_shape, weights[i].data());
    w.write(dir / stage_file("model", pos.pp_rank, stages));
    if (optimizer) {
      SafetensorsWriter o;
      o.set_metadata("step", std::to_string(steps));
      for (size_t i = 0; i < model.tensors().size(); ++i) {
        o.add_f32("exp_avg." + model.tensors()[i].name, model.tensors()[i].full_shape, m[i].data());
        o.add_f32("exp_avg_sq." + model.tensors()[i].name, model.tensors()[i].full_shape, v[i].data());
      }
      o.write(dir / stage_file("optimizer", pos.pp_rank, stages));
    }
  }
  grid.workers().barrier();
  if (pos.worker == 0) {
    write_file_atomic(dir / "config.json", model.config().to_hf_json().dump(2) + "\n");
    if (stages > 1) {
      for (const char* stem : {"model", "optimizer"}) {
        if (std::string(stem) == "optimizer" && !optimizer) continue;
        nlohmann::json index = {{"metadata", nlohmann::json::object()}, {"weight_map", nlohmann::json::object()}};
        uint64_t total = 0;
        for (int s = 0; s < stages; ++s) {
          const auto file = stage_file(stem, s, stages);
          auto f = SafetensorsFile::open(dir / file);
          for (const auto& [name, info] : f.tensors()) {
            index["weight_map"][name] = file;
            total += info.end - info.begin;
          }
        }
        index["metadata"]["total_size"] = total;
        write_file_atomic(dir / (std::string(stem) + ".safetensors.index.json"), index.dump(2) + "\n");
      }
    }
  }
  grid.workers().barrier();
}

void load_model_files(LlamaModel& model, AdamWOptimizer* optimizer, const std::filesystem::path& dir) {
  const LlamaConfig saved = load_llama_config(dir);
  if (saved.to_hf_json() != model.config().to_hf_json())
    throw ConfigError((dir / "config.json").string() + " describes a different model: " + saved.to_hf_json().dump() +
                      " vs " + model.config().to_hf_json().dump());
  const int tp_rank = model.shard().tp_rank;
  std::vector<float> full;
  TensorSource weights(dir, "model");
  for (const auto& t : model.tensors()) {
    int64_t full_n = 1;
    for (int64_t d : t.full_shape) full_n *= d;
    full.resize(full_n);
    const auto& file = weights.file_for(t.name);
    file.read_f32(t.name, t.full_shape, full);
    if (const int64_t bad = count_non_finite(full); bad > 0)
      throw FormatError(file.path().string() + ": tensor " + t.name + " holds " + std::to_string(bad) +
                        " non-finite values (NaN or Inf): these weights come from a diverged run");
    slice_for_shard(t, tp_rank, full.data(), model.param(t));
  }
  if (!optimizer) return;
  TensorSource state(dir, "optimizer");
  std::vector<float> m(model.params().size()), v(model.params().size());
  int64_t steps = -1;
  for (const auto& t : model.tensors()) {
    int64_t full_n = 1;
    for (int64_t d : t.full_shape) full_n *= d;
    full.resize(full_n);
    const auto& f = state.file_for("exp_avg." + t.name);
    f.read_f32("exp_avg." + t.name, t.full_shape, full);
    slice_for_shard(t, tp_rank, full.data(), m.data() + t.offset);
    state.file_for("exp_avg_sq." + t.name).read_f32("exp_avg_sq." + t.name, t.full_shape, full);
    slice_for_shard(t, tp_rank, full.data(), v.data() + t.offset);
    auto it = f.metadata().find("step");
    if (it == f.metadata().end())
      throw FormatError(f.path().string() + ": metadata has no 'step' (optimizer steps taken)");
    try {
      steps = std::stoll(it->second);
    } catch (const std::exception&) {
      throw FormatError(f.path().string() + ": metadata 'step' = '" + it->second + "' is not an integer");
    }
  }
  optimizer->load_state(m.data(), v.data(), steps < 0 ? 0 : steps);
}

}  // namespace loong
