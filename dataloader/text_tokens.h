// Caption tokens: a SentencePiece model (BPE by default, character coverage 1.0, no BOS/EOS pieces,
// <unk> = 0) trained on the captions of the corpus's train split (MNIST's test digits stay
// unseen), stored as blob "sentencepiece.model", and every caption, of every split, tokenized into
// the text_tokens column family. Token ids are [0, V_text), V_text = the model's piece count; the
// special tokens of the sequence format (docs/architecture.md) come after them. Clips ingested later are
// tokenized with the stored model by tokenize_new_captions() (`loong text tokenize`), so a
// language model trained on the text tokens stays valid.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace loong {

class CorpusWriter;

struct TextTrainSummary {
  int64_t captions = 0;          // clips tokenized by this call
  int64_t trained_on = 0;        // captions the model was trained on (0: an existing model was used)
  int64_t already_current = 0;   // clips left alone: tokens of the current model (tokenize_new_captions)
  int64_t tokens = 0;            // total caption tokens written
  int64_t max_tokens = 0;        // longest caption written, tokens
  int vocab_size = 0;            // V_text: pieces in the model (below the request for tiny corpora)
  std::string model_id;          // FNV-1a 64 of the model blob, hex (= CorpusReader::text_model_id())
};

// Trains on the captions of clips of `train_split` ("" = every split; InputError if there are
// none) with `vocab_size` pieces requested, stores the model (replacing an earlier one) and the
// tokens of every clip's caption. `scratch` is a directory for temporary files, removed at the end.
// SentencePiece runs in the helper process `loong-sentencepiece` (see dataloader/spm_tool.cpp);
// IoError naming it if it cannot run or fails.
// `model_type` is "bpe" (default: learns whole words even from the tiny vocabularies of synthetic
// captions, where unigram falls back to characters) or "unigram".
TextTrainSummary train_text_tokens(CorpusWriter& corpus, int vocab_size, const std::filesystem::path& scratch,
                                   const std::string& model_type = "bpe", const std::string& train_split = "train");

// Tokenizes, with the model already stored in the corpus, the captions of clips that have no text
// tokens or tokens of another model (every clip if `all`). InputError if the corpus has no model.
TextTrainSummary tokenize_new_captions(CorpusWriter& corpus, const std::filesystem::path& scratch, bool all = false);

// Token ids of each of `texts` under the SentencePiece model file `model` (newlines inside a text
// become spaces), through the helper process; `scratch` is an existing directory for the exchange
// files. IoError naming the helper when it fails, or returns fewer lines or an id outside
// [0, vocab_size).
std::vector<std::vector<int32_t>> encode_texts(const std::filesystem::path& model, const std::vector<std::string>& texts,
                                               int vocab_size, const std::filesystem::path& scratch);
// V_text of a SentencePiece model file (its piece count), from the helper; `scratch` as above.
int sentencepiece_pieces(const std::filesystem::path& model, const std::filesystem::path& scratch);

// Path of the helper: $LOONG_SENTENCEPIECE if set, else next to the running executable, else the
// build-tree location compiled in.
std::filesystem::path sentencepiece_tool();

}  // namespace loong
