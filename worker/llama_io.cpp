// Hugging Face compatible save/load: model.safetensors with Llama tensor names + config.json.
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"
#include "core/safetensors.h"
#include "worker/llama_model.h"

namespace loong {

void save_llama(const LlamaModel& model, const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw IoError("cannot create directory " + dir.string() + ": " + ec.message());
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  for (const auto& t : model.tensors()) w.add_f32(t.name, t.shape, model.params().data() + t.offset);
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

void load_llama_weights(LlamaModel& model, const std::filesystem::path& dir) {
  const LlamaConfig saved = load_llama_config(dir);
  if (saved.to_hf_json() != model.config().to_hf_json())
    throw ConfigError((dir / "config.json").string() + " describes a different model: " + saved.to_hf_json().dump() +
                      " vs " + model.config().to_hf_json().dump());
  const auto file = SafetensorsFile::open(dir / "model.safetensors");
  for (const auto& t : model.tensors())
    file.read_f32(t.name, t.shape, std::span<float>(model.params().data() + t.offset, t.numel));
  for (const auto& [name, info] : file.tensors())
    if (!name.ends_with("rotary_emb.inv_freq")) model.tensor(name);  // rejects unknown tensors
}

}  // namespace loong
