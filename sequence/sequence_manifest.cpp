#include "sequence/sequence_manifest.h"

#include "core/checksum.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/json_fields.h"
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
    const JsonField tf(t, "tokenizer '" + p.tokenizer_id + "' tokenizer.json");
    m.tokenizer_fingerprint = tf.string_or("fingerprint", std::string());
    m.tokenizer_steps = tf.int_or("steps", int64_t{-1});
    if (tf.has("config")) m.tokenizer_config = tf.at("config").object();
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
  const JsonField root(j, source);
  root.object();
  if (root.at("format").as_int() != 1)
    throw FormatError(source + ": format " + j.at("format").dump() + " is not supported (expected 1)");
  constexpr int64_t kMaxIds = int64_t{1} << 24, kMaxGrid = 4096, kMaxFrames = int64_t{1} << 20;
  m.vocab.text_vocab = root.at("text_vocab").as_int(0, kMaxIds);
  m.vocab.codebook = root.at("codebook").as_int(1, kMaxIds);
  m.vocab.pad_to = root.at("vocab_pad_to").as_int(1, 1 << 20);
  m.shape.text_budget = root.at("text_budget").as_int(1, 1 << 20);
  m.shape.grid_h = root.at("grid_h").as_int(1, kMaxGrid);
  m.shape.grid_w = root.at("grid_w").as_int(1, kMaxGrid);
  m.shape.frames = root.at("latent_frames").as_int(1, kMaxFrames);
  m.max_latent_frames = root.at("max_latent_frames").as_int(1, kMaxFrames);
  m.fps = root.at("fps").as_number();
  if (m.fps < 0 || m.fps > 1000) throw FormatError(root.at("fps").where() + " = " + std::to_string(m.fps) + " is outside [0, 1000]");
  m.caption_dropout = root.number_or("caption_dropout", -1.0);  // absent in checkpoints written before it existed
  const JsonField t = root.at("tokenizer");
  m.tokenizer_id = t.at("id").as_string();
  m.tokenizer_fingerprint = t.at("fingerprint").as_string();
  m.tokenizer_steps = t.at("steps").as_int();
  m.tokenizer_config = t.at("config").raw();
  const JsonField tm = root.at("text_model");
  if (!tm.raw().is_null()) m.text_model_id = tm.at("id").as_string();
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
  const nlohmann::json j = read_json_file(path);
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
