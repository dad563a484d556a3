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

namespace {
// SplitMix64's finaliser: a bijective mix whose output bits all depend on every input bit.
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
}  // namespace

bool SampleOrder::caption_dropped(uint64_t seed, int stage, uint64_t sample_index, double probability) {
  if (probability <= 0) return false;
  const uint64_t h = mix64(mix64(mix64(seed ^ 0x6361707469306e00ULL) + static_cast<uint64_t>(stage)) + sample_index);
  return static_cast<double>(h >> 11) / 9007199254740992.0 < probability;  // uniform in [0, 1)
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
