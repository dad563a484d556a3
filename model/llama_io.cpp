// Single-process save/load (one safetensors file + config.json) on top of the layout-independent
// checkpoint files of model/model_checkpoint.
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/finite.h"
#include "core/fs.h"
#include "core/safetensors.h"
#include "model/llama_model.h"
#include "model/model_checkpoint.h"

namespace loong {

void save_llama(const LlamaModel& model, const std::filesystem::path& dir) {
  if (model.shard().tp_size != 1 || !model.shard().has_embedding || !model.shard().has_head)
    throw InputError("save_llama writes a whole model; use save_model_files for a sharded one");
  if (const int64_t bad = count_non_finite(model.params()); bad > 0)
    throw DivergedError("refusing to write " + dir.string() + ": the weights hold " + std::to_string(bad) +
                        " non-finite values (NaN or Inf): the run diverged");
  prepare_output_directory(dir, "checkpoint");
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  for (const auto& t : model.tensors()) w.add_f32(t.name, t.shape, model.param(t));
  w.write(dir / "model.safetensors");
  write_file_atomic(dir / "config.json", model.config().to_hf_json().dump(2) + "\n");
}

LlamaConfig load_llama_config(const std::filesystem::path& dir) {
  const auto path = dir / "config.json";
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(path.string() + ": not valid JSON: " + e.what());
  }
  return LlamaConfig::from_hf_json(j, path.string());
}

void load_llama_weights(LlamaModel& model, const std::filesystem::path& dir) { load_model_files(model, nullptr, dir); }

}  // namespace loong
