// The deterministic order in which a curriculum stage draws its samples (docs/architecture.md, Curriculum):
// epoch e of stage s is a permutation of the stage's eligible clips keyed by (seed, s, e), and the
// stage's sample number g is clip permutation_{g / E}[g mod E] (E eligible clips). Resuming needs
// only g, the count of samples consumed (Megatron-style), so nothing is replayed or skipped.
#pragma once
#include <cstdint>
#include <vector>

namespace loong {

class SampleOrder {
 public:
  // `eligible` are the clip ids that can serve this stage (any order; they are sorted here so the
  // order does not depend on how the corpus listed them). InputError when empty.
  SampleOrder(std::vector<uint64_t> eligible, uint64_t seed, int stage);

  uint64_t clip_at(int64_t sample_index);  // clip of the stage's sample number `sample_index`
  // Caption dropout (classifier-free guidance training): whether sample `sample_index` of stage
  // `stage` trains on the empty caption. A hash of (seed, stage, sample_index) compared with
  // `probability`, so the decision is as deterministic as the order itself (resume-safe) and
  // independent of which clip the sample is.
  static bool caption_dropped(uint64_t seed, int stage, uint64_t sample_index, double probability);
  int64_t epoch_size() const { return static_cast<int64_t>(sorted_.size()); }

 private:
  std::vector<uint64_t> sorted_, perm_;
  uint64_t seed_;
  int stage_;
  int64_t perm_epoch_ = -1;
};

}  // namespace loong
