// How predictable a tokenizer's codes are from one latent frame to the next at the same cell: what
// a language model that copies codes forward can get from them (docs/quality.md, section 7).
#pragma once
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace loong::tok {

struct CodeTransitions {
  int64_t transitions = 0;  // (previous, next) cell pairs seen, fitted and scored
  int64_t scored = 0;       // pairs the cross-entropies are measured on
  double kept_share = 0;    // share of all pairs whose code did not change
  // Held-out cross-entropies in nats per scored pair: a bigram p(next | previous) and a unigram
  // p(next), both fitted with add-1/2 smoothing on the fitted clips. 0 when nothing was scored.
  double bigram_xent = 0, unigram_xent = 0;
};

// Counts transitions clip by clip; a clip either fits the two models or is scored by them.
class CodeTransitionCounter {
 public:
  explicit CodeTransitionCounter(int64_t codebook_size);
  // `codes`: one clip's [latent_frames, cells] codes (row-major), each in [0, codebook_size).
  // Pairs latent frame j with j - 1 for every j >= first_frame (>= 1); latent frame 0 covers one
  // pixel frame and the others four, so first_frame = 2 compares like with like.
  // InputError when a code is out of range or the size is not latent_frames * cells.
  void add(std::span<const int32_t> codes, int64_t latent_frames, int64_t cells, bool fit, int64_t first_frame = 2);
  CodeTransitions result() const;

 private:
  int64_t k_;
  std::vector<int64_t> pairs_, next_;  // fitted counts: K x K (previous-major) and K
  std::vector<std::pair<int32_t, int32_t>> scored_;
  int64_t transitions_ = 0, kept_ = 0;
};

}  // namespace loong::tok
