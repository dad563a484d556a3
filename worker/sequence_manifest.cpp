#include "worker/sequence_manifest.h"

#include "core/checksum.h"
#include "core/error.h"
#include "core/fs.h"
#include "dataloader/corpus.h"

namespace fs = std::filesystem;

namespace loong {

SequenceManifest SequenceManifest::for_training(const VocabLayout& vocab, const SampleShape& shape,
                                                int64_t max_latent_frames, const SourceProvenance& p) {
  SequenceManifest m;
  m.vocab = vocab;
  m.shape = shape;
  m.max_latent_frames = max_latent_frames;
  m.fps = p.fps;
  m.tokenizer_id = p.tokenizer_id;
  if (!p.tokenizer_json.empty()) {
    nlohmann::json t;
    try {
      t = nlohmann::json::parse(p.tokenizer_json);
    } catch (const nlohmann::json::exception& e) {
      throw FormatError("tokenizer '" + p.tokenizer_id + "': recorded tokenizer.json is not JSON: " + e.what());
    }
    m.tokenizer_fingerprint = t.value("fingerprint", std::string());
    m.tokenizer_steps = t.value("steps", int64_t{-1});
    if (t.contains("config")) m.tokenizer_config = t["config"];
  }
  if (!p.text_model.empty()) m.text_model_id = hex64(fnv1a64(p.text_model));
  return m;
}

nlohmann::json SequenceManifest::to_json() const {
  return {{"format", 1},
          {"text_vocab", vocab.text_vocab},
          {"codebook", vocab.codebook},
          {"vocab_pad_to", vocab.pad_to},
          {"video_offset", vocab.video_offset()},
          {"model_vocab", vocab.size()},
          {"text_budget", shape.text_budget},
          {"grid_h", shape.grid_h},
          {"grid_w", shape.grid_w},
          {"latent_frames", shape.frames},
          {"max_latent_frames", max_latent_frames},
          {"positions", shape.model_length()},
          {"fps", fps},
          {"caption_dropout", caption_dropout},
          {"tokenizer",
           {{"id", tokenizer_id},
            {"fingerprint", tokenizer_fingerprint},
            {"steps", tokenizer_steps},
            {"config", tokenizer_config}}},
          {"text_model", text_model_id.empty() ? nlohmann::json(nullptr)
                                               : nlohmann::json{{"file", kTextModelFile}, {"id", text_model_id}}}};
}

SequenceManifest SequenceManifest::from_json(const nlohmann::json& j, const std::string& source) {
  SequenceManifest m;
  try {
    if (j.at("format").get<int>() != 1)
      throw FormatError(source + ": format " + j.at("format").dump() + " is not supported (expected 1)");
    m.vocab.text_vocab = j.at("text_vocab").get<int64_t>();
    m.vocab.codebook = j.at("codebook").get<int64_t>();
    m.vocab.pad_to = j.at("vocab_pad_to").get<int64_t>();
    m.shape.text_budget = j.at("text_budget").get<int64_t>();
    m.shape.grid_h = j.at("grid_h").get<int64_t>();
    m.shape.grid_w = j.at("grid_w").get<int64_t>();
    m.shape.frames = j.at("latent_frames").get<int64_t>();
    m.max_latent_frames = j.at("max_latent_frames").get<int64_t>();
    m.fps = j.at("fps").get<double>();
    m.caption_dropout = j.value("caption_dropout", -1.0);  // absent in checkpoints written before it existed
    const auto& t = j.at("tokenizer");
    m.tokenizer_id = t.at("id").get<std::string>();
    m.tokenizer_fingerprint = t.at("fingerprint").get<std::string>();
    m.tokenizer_steps = t.at("steps").get<int64_t>();
    m.tokenizer_config = t.at("config");
    const auto& tm = j.at("text_model");
    if (!tm.is_null()) m.text_model_id = tm.at("id").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(source + ": " + e.what());
  }
  try {
    m.vocab.validate(source);
  } catch (const ConfigError& e) {
    throw FormatError(e.what());
  }
  if (m.shape.text_budget < 1 || m.shape.grid_h < 1 || m.shape.grid_w < 1 || m.shape.frames < 1 ||
      m.max_latent_frames < m.shape.frames)
    throw FormatError(source + ": text_budget, grid and latent frames must be positive (latent_frames <= "
                      "max_latent_frames)");
  return m;
}

void SequenceManifest::write(const fs::path& dir, const std::string& text_model) const {
  if (!text_model.empty()) write_file_atomic(dir / kTextModelFile, text_model);
  write_file_atomic(dir / kFile, to_json().dump(2) + "\n");
}

SequenceManifest SequenceManifest::read(const fs::path& dir) {
  const fs::path path = dir / kFile;
  if (!fs::exists(path))
    throw InputError(dir.string() + " has no " + kFile +
                     ": it is not a training checkpoint of `loong train`, or one written before checkpoints "
                     "recorded the sequence format (vocabulary, grid, trained length, tokenizer, text model)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(path.string() + ": not valid JSON: " + e.what());
  }
  SequenceManifest m = from_json(j, path.string());
  if (!m.text_model_id.empty()) {
    const fs::path tm = dir / kTextModelFile;
    if (!fs::exists(tm)) throw FormatError(path.string() + " names " + kTextModelFile + ", which is missing");
    if (hex64(file_checksum(tm)) != m.text_model_id)
      throw FormatError(tm.string() + " is not the text model " + m.text_model_id + " that " + kFile + " records");
  }
  return m;
}

}  // namespace loong
