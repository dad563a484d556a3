#include "generate/generation_checkpoint.h"

#include "checkpoint/checkpoint_store.h"
#include "core/error.h"

namespace fs = std::filesystem;

namespace loong {

GenerationCheckpoint GenerationCheckpoint::open(const fs::path& path) {
  if (!fs::exists(path)) throw InputError("--checkpoint " + path.string() + " does not exist");
  if (!fs::is_directory(path)) throw InputError("--checkpoint " + path.string() + " is not a directory");
  GenerationCheckpoint c;
  if (fs::exists(path / "checksums.json") || fs::exists(path / "DONE") || fs::exists(path / "config.json")) {
    const std::string why = CheckpointStore::validate(path);
    if (!why.empty()) throw InputError("--checkpoint " + path.string() + " is not a usable checkpoint: " + why);
    c.dir_ = path;
  } else {
    std::vector<std::string> skipped;
    auto newest = CheckpointStore(path).latest_valid(&skipped);
    if (!newest) {
      std::string msg = "--checkpoint " + path.string() + " holds no complete checkpoint (step_XXXXXXXX/ with DONE)";
      for (const auto& s : skipped) msg += "; skipped " + s;
      throw InputError(msg);
    }
    c.dir_ = *newest;
  }
  c.manifest_ = SequenceManifest::read(c.dir_);
  c.config_ = load_llama_config(c.dir_);
  const auto where = (c.dir_ / "config.json").string();
  if (c.config_.vocab_size != c.manifest_.vocab.size())
    throw FormatError(where + ": vocab_size " + std::to_string(c.config_.vocab_size) + " but " +
                      SequenceManifest::kFile + " describes a vocabulary of " +
                      std::to_string(c.manifest_.vocab.size()) + " ids");
  if (c.config_.max_position_embeddings < c.manifest_.shape.model_length())
    throw FormatError(where + ": max_position_embeddings " + std::to_string(c.config_.max_position_embeddings) +
                      " is shorter than the trained length of " + std::to_string(c.manifest_.shape.model_length()) +
                      " positions");
  return c;
}

fs::path GenerationCheckpoint::text_model() const {
  if (manifest_.text_model_id.empty())
    throw InputError("checkpoint " + dir_.string() + " records no SentencePiece model: it was trained without text");
  return dir_ / SequenceManifest::kTextModelFile;
}

std::unique_ptr<LlamaModel> GenerationCheckpoint::load_model() const {
  auto m = std::make_unique<LlamaModel>(config_);
  load_llama_weights(*m, dir_);
  return m;
}

std::string GenerationCheckpoint::check_tokenizer(const tok::VideoTokenizer& t, const fs::path& tok_dir) const {
  const std::string both = " (checkpoint " + dir_.string() + ", tokenizer " + tok_dir.string() + ")";
  const SequenceManifest& m = manifest_;
  const int64_t K = t.config().quantizer.codebook_size;
  if (K != m.vocab.codebook)
    throw InputError("the tokenizer has " + std::to_string(K) + " codes but the model was trained on a codebook of " +
                     std::to_string(m.vocab.codebook) + ": vocabulary mismatch" + both);
  const tok::Shape5 lat = t.latent_shape(1, 1, t.config().resolution, t.config().resolution);
  if (lat.h != m.shape.grid_h || lat.w != m.shape.grid_w)
    throw InputError("the tokenizer makes " + std::to_string(lat.h) + "x" + std::to_string(lat.w) +
                     " latent grids but the model was trained on " + std::to_string(m.shape.grid_h) + "x" +
                     std::to_string(m.shape.grid_w) + both);
  if (!m.tokenizer_fingerprint.empty()) {
    if (t.fingerprint() != m.tokenizer_fingerprint)
      throw InputError("the tokenizer's weights (fingerprint " + t.fingerprint() +
                       ") are not those of the tokenizer the model's codes came from (fingerprint " +
                       m.tokenizer_fingerprint + ")" + both);
    return "";
  }
  if (m.tokenizer_steps >= 0 && m.tokenizer_steps != t.steps_taken())
    throw InputError("the tokenizer was trained for " + std::to_string(t.steps_taken()) +
                     " steps; the model's codes came from one trained for " + std::to_string(m.tokenizer_steps) +
                     both);
  if (!m.tokenizer_config.is_null() && m.tokenizer_config != t.config().to_json())
    throw InputError("the tokenizer's config differs from the one the model's codes came from" + both);
  return "the checkpoint records no tokenizer fingerprint (codes encoded before fingerprints were recorded): "
         "codebook, grid, steps and config match, the weights themselves were not verified";
}

}  // namespace loong
