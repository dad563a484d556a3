// Caption tokens: a SentencePiece model (BPE by default, character coverage 1.0, no BOS/EOS pieces,
// <unk> = 0) trained on every caption of the corpus, stored as blob "sentencepiece.model", and
// every caption tokenized into the text_tokens column family. Token ids are [0, vocab size);
// the special tokens of the sequence format (DESIGN.md) come after them.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

namespace loong {

class CorpusWriter;

struct TextTrainSummary {
  int64_t captions = 0;    // clips tokenized
  int64_t tokens = 0;      // total caption tokens
  int64_t max_tokens = 0;  // longest caption, tokens
  int vocab_size = 0;      // highest token id used + 1 (the model may be below the request for tiny corpora)
  std::string model_id;    // FNV-1a 64 of the model blob, hex
};

// Trains on all captions of `corpus` (InputError if there are none) with `vocab_size` pieces
// requested, stores the model and the tokens. `scratch` is a directory for temporary files.
// SentencePiece runs in the helper process `loong-sentencepiece` (see dataloader/spm_tool.cpp);
// IoError naming it if it cannot run or fails.
// `model_type` is "bpe" (default: learns whole words even from the tiny vocabularies of synthetic
// captions, where unigram falls back to characters) or "unigram".
TextTrainSummary train_text_tokens(CorpusWriter& corpus, int vocab_size, const std::filesystem::path& scratch,
                                   const std::string& model_type = "bpe");

// Path of the helper: $LOONG_SENTENCEPIECE if set, else next to the running executable, else the
// build-tree location compiled in.
std::filesystem::path sentencepiece_tool();

}  // namespace loong
