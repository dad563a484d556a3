// AdamW over a model's flat parameter buffer, PyTorch semantics (torch.optim.AdamW), with
// gradient-norm clipping (torch.nn.utils.clip_grad_norm_ semantics) folded into the update.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "ops/cpu/ops.h"
#include "worker/llama_model.h"

namespace loong {

struct AdamWConfig {
  float beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f, weight_decay = 0.1f;
  float max_grad_norm = 1.0f;  // <= 0 disables clipping
};

class AdamWOptimizer {
 public:
  AdamWOptimizer(const LlamaModel& model, const AdamWConfig& config);

  // Global L2 norm of the gradient buffer.
  static double grad_norm(std::span<const float> grads);
  // Clipping coefficient min(1, max_norm / (norm + 1e-6)), 1 when clipping is off.
  float clip_coefficient(double norm) const;
  // One step at learning rate `lr` with gradients scaled by `grad_scale`. Norm gains are not
  // decayed (ParamTensor::weight_decay).
  void step(LlamaModel& model, float lr, float grad_scale);

  int64_t steps_taken() const { return step_; }
  std::span<float> exp_avg() { return m_; }
  std::span<float> exp_avg_sq() { return v_; }
  void set_steps_taken(int64_t s) { step_ = s; }

 private:
  AdamWConfig config_;
  std::vector<float> m_, v_;
  int64_t step_ = 0;
};

}  // namespace loong
