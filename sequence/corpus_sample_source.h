// The corpus (dataloader/corpus.h) as a SampleSource: caption tokens from the text_tokens column
// (`loong text train`), video codes from the video_tokens column of one tokenizer id
// (`loong tokenizer encode --id`). Clip ids are 64-bit FNV-1a hashes of the corpus's string ids
// (stable across processes and corpus growth; a collision is reported as an error).
#pragma once
#include <map>
#include <memory>

#include "dataloader/corpus.h"
#include "sequence/sample_source.h"

namespace loong {

class CorpusSampleSource final : public SampleSource {
 public:
  // InputError naming the corpus and what to run when text tokens, the SentencePiece model or the
  // tokenizer's codes are missing.
  CorpusSampleSource(const std::filesystem::path& db, const std::string& tokenizer_id);

  VocabLayout vocab() const override { return vocab_; }
  int64_t grid_h() const override { return grid_h_; }
  int64_t grid_w() const override { return grid_w_; }
  std::vector<ClipEntry> clips(const std::string& split) const override;
  ClipTokens fetch(uint64_t clip_id, int64_t frames) override;
  std::string describe() const override;
  SourceProvenance provenance() const override { return provenance_; }

 private:
  std::unique_ptr<CorpusReader> corpus_;
  std::string tokenizer_;
  VocabLayout vocab_;
  int64_t grid_h_ = 0, grid_w_ = 0;
  SourceProvenance provenance_;
  std::map<uint64_t, std::string> ids_;
  std::map<std::string, std::vector<ClipEntry>> by_split_;
};

}  // namespace loong
