// AdamW over a flat parameter buffer (torch.optim.AdamW semantics), with the data-parallel
// gradient reduction and, optionally, ZeRO-1: the optimizer state is split across the
// data-parallel group, gradients are reduce-scattered, each rank updates its shard and the
// parameters are all-gathered. Gradient clipping (torch.nn.utils.clip_grad_norm_ semantics) is
// folded into the update as a scale on the gradient.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ops/cpu/ops.h"
#include "parallel/communicator.h"
#include "parallel/param_tensor.h"

namespace loong {

struct AdamWConfig {
  float beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f, weight_decay = 0.1f;
  float max_grad_norm = 1.0f;  // <= 0 disables clipping
  // ConfigError naming `source` for betas outside [0, 1), eps <= 0, weight_decay < 0, non-finite.
  void validate(const std::string& source) const;
};

class AdamWOptimizer {
 public:
  // `tensors` describe the flat buffers of `numel` floats (copied); `dp` is the data-parallel
  // group (borrowed; null for a single replica). With `zero1` the state is sharded over dp.
  AdamWOptimizer(const std::vector<ParamTensor>& tensors, int64_t numel, const AdamWConfig& config,
                 Communicator* dp = nullptr, bool zero1 = false);

  // Sums gradients over the data-parallel group: all-reduce, or reduce-scatter into this rank's
  // shard with ZeRO-1 (then only the shard of `grads` is meaningful for step()).
  void reduce_gradients(std::span<float> grads);
  // Sum of squares of the gradient elements this rank counts toward the global norm: its ZeRO
  // shard (or everything), skipping tensors replicated across tp unless `tp_rank` is 0. The caller
  // sums this over the ranks holding distinct parts (model group, and dp with ZeRO-1).
  double local_grad_sum_squares(std::span<const float> grads, int tp_rank) const;
  // Clipping coefficient min(1, max_norm / (norm + 1e-6)); 1 when clipping is off.
  float clip_coefficient(double norm) const;
  // One step at learning rate `lr`, gradients scaled by `grad_scale`. With ZeRO-1 the updated
  // shards are all-gathered so every rank ends with the full parameters.
  void step(std::span<float> params, std::span<const float> grads, float lr, float grad_scale);

  bool zero1() const { return zero1_; }
  int64_t steps_taken() const { return step_; }
  void set_steps_taken(int64_t s) { step_ = s; }
  // This rank's range [begin, end) of the flat buffer whose state it holds.
  int64_t shard_begin() const { return begin_; }
  int64_t shard_end() const { return end_; }
  // Moments for elements [shard_begin, shard_end).
  std::span<float> exp_avg() { return m_; }
  std::span<float> exp_avg_sq() { return v_; }
  const AdamWConfig& config() const { return config_; }
  // Full moments over the whole flat buffer (all-gathered over dp under ZeRO-1; collective then).
  void gather_state(std::vector<float>& exp_avg_full, std::vector<float>& exp_avg_sq_full);
  // Takes this rank's shard from full moments over the whole flat buffer.
  void load_state(const float* exp_avg_full, const float* exp_avg_sq_full, int64_t steps_taken);
  const std::vector<ParamTensor>& tensors() const { return tensors_; }

 private:
  std::vector<ParamTensor> tensors_;
  int64_t numel_;
  AdamWConfig config_;
  Communicator* dp_;
  bool zero1_;
  int64_t shard_ = 0, begin_ = 0, end_ = 0;  // shard size (padded) and this rank's range
  std::vector<float> m_, v_;
  std::vector<float> padded_, shard_buf_;  // ZeRO-1 staging
  int64_t step_ = 0;
};

}  // namespace loong
