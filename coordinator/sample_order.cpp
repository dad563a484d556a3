#include "coordinator/sample_order.h"

#include <algorithm>
#include <random>

#include "core/error.h"

namespace loong {

SampleOrder::SampleOrder(std::vector<uint64_t> eligible, uint64_t seed, int stage)
    : sorted_(std::move(eligible)), seed_(seed), stage_(stage) {
  if (sorted_.empty())
    throw InputError("curriculum stage " + std::to_string(stage + 1) +
                     " has no eligible clips (none has enough latent frames)");
  std::sort(sorted_.begin(), sorted_.end());
}

uint64_t SampleOrder::clip_at(int64_t sample_index) {
  const int64_t E = epoch_size();
  const int64_t epoch = sample_index / E;
  if (epoch != perm_epoch_) {
    // std::mt19937_64's output is fixed by the standard; the bounded draw is ours, so the order
    // is the same with every standard library.
    std::seed_seq seq{static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32), static_cast<uint32_t>(stage_),
                      static_cast<uint32_t>(epoch), static_cast<uint32_t>(epoch >> 32)};
    std::mt19937_64 rng(seq);
    perm_ = sorted_;
    for (int64_t i = E - 1; i > 0; --i) std::swap(perm_[i], perm_[rng() % static_cast<uint64_t>(i + 1)]);
    perm_epoch_ = epoch;
  }
  return perm_[sample_index % E];
}

}  // namespace loong
