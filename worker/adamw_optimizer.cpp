#include "worker/adamw_optimizer.h"

#include <algorithm>
#include <cmath>

namespace loong {

AdamWOptimizer::AdamWOptimizer(const LlamaModel& model, const AdamWConfig& config)
    : config_(config), m_(model.params().size(), 0.0f), v_(model.params().size(), 0.0f) {}

double AdamWOptimizer::grad_norm(std::span<const float> grads) {
  return std::sqrt(ops::cpu::sum_squares(grads.data(), static_cast<int64_t>(grads.size())));
}

float AdamWOptimizer::clip_coefficient(double norm) const {
  if (config_.max_grad_norm <= 0) return 1.0f;
  return static_cast<float>(std::min(1.0, config_.max_grad_norm / (norm + 1e-6)));
}

void AdamWOptimizer::step(LlamaModel& model, float lr, float grad_scale) {
  ++step_;
  const ops::cpu::AdamWHyper h{lr, config_.beta1, config_.beta2, config_.eps, config_.weight_decay};
  for (const auto& t : model.tensors())
    ops::cpu::adamw_step(model.param(t), model.grad(t), m_.data() + t.offset, v_.data() + t.offset, t.numel, h, step_,
                         grad_scale, t.weight_decay);
}

}  // namespace loong
