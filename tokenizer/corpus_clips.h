// Clip windows from the corpus for the video tokenizer: deterministic batches of `frames`-frame
// windows (uint8 [N, frames, H, W, 3]) drawn from one split.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "dataloader/corpus.h"

namespace loong::tok {

class CorpusClipSampler {
 public:
  // InputError when the split has no clip of at least `frames` frames.
  CorpusClipSampler(const CorpusReader& corpus, const std::string& split, int32_t frames, uint64_t seed);
  // The next `n` windows (random clip, random start aligned to 4 frames so latent frames line up).
  std::vector<uint8_t> next(int64_t n);
  // Advances past `n` windows exactly as next(n) would (two draws each), without reading them: a
  // resumed training run continues the sequence of the run it resumes.
  void skip(int64_t n) { rng_.discard(2 * static_cast<unsigned long long>(n)); }
  // Window `i` of a fixed, reproducible evaluation set (clip i mod count, from frame 0).
  std::vector<uint8_t> fixed(int64_t first, int64_t n) const;
  int64_t clips() const { return static_cast<int64_t>(ids_.size()); }
  int32_t height() const { return h_; }
  int32_t width() const { return w_; }

 private:
  const CorpusReader& corpus_;
  std::vector<std::string> ids_;
  std::vector<int32_t> lengths_;
  int32_t frames_, h_ = 0, w_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace loong::tok
