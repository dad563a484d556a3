// A training checkpoint (checkpoint/checkpoint_store.h) opened for generation: the step directory,
// its sequence manifest (sequence/sequence_manifest.h) and model config, checked against each other
// and against the video tokenizer before any weights are read or tokens sampled.
#pragma once
#include <filesystem>
#include <memory>
#include <string>

#include "model/llama_model.h"
#include "sequence/sequence_manifest.h"
#include "tokenizer/video_tokenizer.h"

namespace loong {

class GenerationCheckpoint {
 public:
  // `path` is a checkpoint directory (step_XXXXXXXX, complete and matching its checksums) or a
  // checkpoint root, of which the newest complete checkpoint is used. InputError naming `path` when
  // it does not exist, holds no usable checkpoint (with each skipped candidate's reason), or the
  // checkpoint does not record its sequence format; FormatError when config.json and sequence.json
  // disagree (model vocabulary, positions).
  static GenerationCheckpoint open(const std::filesystem::path& path);

  const std::filesystem::path& dir() const { return dir_; }
  const SequenceManifest& manifest() const { return manifest_; }
  const LlamaConfig& config() const { return config_; }
  // The SentencePiece model for prompts. InputError when the checkpoint has none (a source without
  // text, e.g. a test fixture).
  std::filesystem::path text_model() const;
  // Builds the model and reads its weights (FormatError naming the file and tensor on mismatch).
  std::unique_ptr<LlamaModel> load_model() const;

  // InputError naming both directories when `tokenizer` (loaded from `tokenizer_dir`) is not the
  // tokenizer whose codes the model learned: another codebook size (vocabulary mismatch), another
  // latent grid, or other weights (fingerprint; when the checkpoint has no fingerprint, its
  // recorded training steps and config). Returns a warning ("" if none) when the weights could not
  // be verified because the checkpoint records no fingerprint.
  std::string check_tokenizer(const tok::VideoTokenizer& tokenizer, const std::filesystem::path& tokenizer_dir) const;

 private:
  std::filesystem::path dir_;
  SequenceManifest manifest_;
  LlamaConfig config_;
};

}  // namespace loong
