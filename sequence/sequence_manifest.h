// What a training checkpoint records about the sequences its model learned, so that generation
// needs nothing but the checkpoint and the video tokenizer (docs/architecture.md, Checkpoints):
//   sequence.json    vocabulary layout (V_text, K, V_off), text budget, latent grid h x w, the
//                    trained length (latent frames per sample of the stage the checkpoint was taken
//                    in), frame rate, and the video tokenizer's identity (id, fingerprint, steps,
//                    config) as recorded with the codes in the corpus
//   text_model.spm   the SentencePiece model that tokenized the captions (prompts use it too)
// The coordinator writes both into every checkpoint before checksums.json, so they are covered by
// the checksums like the weights.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "sequence/sample_source.h"
#include "sequence/sequence_format.h"

namespace loong {

struct SequenceManifest {
  static constexpr const char* kFile = "sequence.json";
  static constexpr const char* kTextModelFile = "text_model.spm";

  VocabLayout vocab;
  // text_budget, grid_h x grid_w, and frames = the trained length in latent frames.
  SampleShape shape;
  int64_t max_latent_frames = 0;  // longest curriculum stage (the model's position capacity)
  double fps = 0;                 // frames per second of the training clips (0: unknown)
  std::string tokenizer_id;           // "" unknown
  std::string tokenizer_fingerprint;  // VideoTokenizer::fingerprint(); "" when not recorded
  int64_t tokenizer_steps = -1;       // training steps of the tokenizer; -1 unknown
  nlohmann::json tokenizer_config;    // TokenizerConfig::to_json(); null unknown
  std::string text_model_id;          // FNV-1a 64 (hex) of text_model.spm; "" when there is none
  // Fraction of samples trained on the empty caption ([train] caption_dropout): > 0 means the
  // model learned the unconditional branch classifier-free guidance needs. -1: not recorded.
  double caption_dropout = -1;

  // Built by the coordinator for a checkpoint taken while training on `shape`. FormatError
  // naming the tokenizer id when the recorded tokenizer.json is not JSON.
  static SequenceManifest for_training(const VocabLayout& vocab, const SampleShape& shape, int64_t max_latent_frames,
                                       const SourceProvenance& provenance);

  nlohmann::json to_json() const;
  // FormatError naming `source` and the key on a missing or mistyped key.
  static SequenceManifest from_json(const nlohmann::json& j, const std::string& source);

  // Writes sequence.json and, when `text_model` is not empty, text_model.spm into `dir`.
  void write(const std::filesystem::path& dir, const std::string& text_model) const;
  // Reads `dir`/sequence.json. InputError when it is missing (a checkpoint from before generation
  // metadata was recorded), FormatError when it is malformed or text_model.spm does not match.
  static SequenceManifest read(const std::filesystem::path& dir);
};

}  // namespace loong
