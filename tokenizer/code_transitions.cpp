#include "tokenizer/code_transitions.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace loong::tok {

CodeTransitionCounter::CodeTransitionCounter(int64_t codebook_size)
    : k_(codebook_size), pairs_(static_cast<size_t>(codebook_size * codebook_size), 0),
      next_(static_cast<size_t>(codebook_size), 0) {}

void CodeTransitionCounter::add(std::span<const int32_t> codes, int64_t latent_frames, int64_t cells, bool fit,
                                int64_t first_frame) {
  if (latent_frames < 0 || cells < 0 || static_cast<int64_t>(codes.size()) != latent_frames * cells)
    throw InputError("code transitions: " + std::to_string(codes.size()) + " codes are not " +
                     std::to_string(latent_frames) + " latent frames of " + std::to_string(cells) + " cells");
  for (int32_t c : codes)
    if (c < 0 || c >= k_)
      throw InputError("code transitions: code " + std::to_string(c) + " outside [0, " + std::to_string(k_) + ")");
  for (int64_t j = std::max<int64_t>(first_frame, 1); j < latent_frames; ++j)
    for (int64_t i = 0; i < cells; ++i) {
      const int32_t prev = codes[(j - 1) * cells + i], next = codes[j * cells + i];
      if (fit) ++pairs_[prev * k_ + next], ++next_[next];
      else scored_.emplace_back(prev, next);
      ++transitions_, kept_ += prev == next;
    }
}

CodeTransitions CodeTransitionCounter::result() const {
  CodeTransitions r;
  r.transitions = transitions_;
  r.scored = static_cast<int64_t>(scored_.size());
  if (transitions_ > 0) r.kept_share = static_cast<double>(kept_) / transitions_;
  if (scored_.empty()) return r;
  std::vector<int64_t> prev_total(static_cast<size_t>(k_), 0);
  int64_t fitted = 0;
  for (int64_t a = 0; a < k_; ++a)
    for (int64_t b = 0; b < k_; ++b) prev_total[a] += pairs_[a * k_ + b], fitted += pairs_[a * k_ + b];
  for (auto [a, b] : scored_) {
    r.bigram_xent -= std::log((pairs_[a * k_ + b] + 0.5) / (prev_total[a] + 0.5 * k_));
    r.unigram_xent -= std::log((next_[b] + 0.5) / (fitted + 0.5 * k_));
  }
  r.bigram_xent /= static_cast<double>(r.scored);
  r.unigram_xent /= static_cast<double>(r.scored);
  return r;
}

}  // namespace loong::tok
