#include "optim/adamw_optimizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace loong {

void AdamWConfig::validate(const std::string& source) const {
  auto bad = [&](const char* key, float v, const char* range) {
    return ConfigError(source + ": AdamW " + key + " = " + std::to_string(v) + " must be " + range);
  };
  if (!(beta1 >= 0 && beta1 < 1)) throw bad("beta1", beta1, "in [0, 1)");
  if (!(beta2 >= 0 && beta2 < 1)) throw bad("beta2", beta2, "in [0, 1)");
  if (!(eps > 0) || !std::isfinite(eps)) throw bad("eps", eps, "positive and finite");
  if (!(weight_decay >= 0) || !std::isfinite(weight_decay)) throw bad("weight_decay", weight_decay, ">= 0 and finite");
  if (!std::isfinite(max_grad_norm)) throw bad("max_grad_norm", max_grad_norm, "finite (<= 0 disables clipping)");
}


AdamWOptimizer::AdamWOptimizer(const std::vector<ParamTensor>& tensors, int64_t numel, const AdamWConfig& config,
                               Communicator* dp, bool zero1)
    : tensors_(tensors), numel_(numel), config_(config), dp_(dp), zero1_(zero1 && dp && dp->size() > 1) {
  config_.validate("optimizer");
  if (zero1_) {
    const int d = dp_->size();
    shard_ = (numel_ + d - 1) / d;
    begin_ = std::min(numel_, dp_->rank() * shard_);
    end_ = std::min(numel_, begin_ + shard_);
    padded_.assign(shard_ * d, 0.0f);
    shard_buf_.assign(shard_, 0.0f);
  } else {
    begin_ = 0;
    end_ = numel_;
  }
  m_.assign(end_ - begin_, 0.0f);
  v_.assign(end_ - begin_, 0.0f);
}

void AdamWOptimizer::reduce_gradients(std::span<float> grads) {
  if (!dp_ || dp_->size() == 1) return;
  if (!zero1_) {
    dp_->all_reduce_sum(grads.data(), numel_);
    return;
  }
  std::memcpy(padded_.data(), grads.data(), numel_ * sizeof(float));
  dp_->reduce_scatter_sum(padded_.data(), shard_buf_.data(), shard_);
  std::memcpy(grads.data() + begin_, shard_buf_.data(), (end_ - begin_) * sizeof(float));
}

double AdamWOptimizer::local_grad_sum_squares(std::span<const float> grads, int tp_rank) const {
  double total = 0;
  for (const auto& t : tensors_) {
    if (t.shard_dim < 0 && tp_rank != 0) continue;  // replicated across tp: counted once
    const int64_t b = std::max(t.offset, begin_), e = std::min(t.offset + t.numel, end_);
    if (b < e) total += ops::cpu::sum_squares(grads.data() + b, e - b);
  }
  return total;
}

float AdamWOptimizer::clip_coefficient(double norm) const {
  if (config_.max_grad_norm <= 0) return 1.0f;
  return static_cast<float>(std::min(1.0, config_.max_grad_norm / (norm + 1e-6)));
}

void AdamWOptimizer::step(std::span<float> params, std::span<const float> grads, float lr, float grad_scale) {
  if (static_cast<int64_t>(params.size()) != numel_ || static_cast<int64_t>(grads.size()) != numel_)
    throw InputError("optimizer step: buffers of " + std::to_string(params.size()) + " floats, expected " +
                     std::to_string(numel_));
  ++step_;
  const ops::cpu::AdamWHyper h{lr, config_.beta1, config_.beta2, config_.eps, config_.weight_decay};
  for (const auto& t : tensors_) {
    const int64_t b = std::max(t.offset, begin_), e = std::min(t.offset + t.numel, end_);
    if (b >= e) continue;
    ops::cpu::adamw_step(params.data() + b, grads.data() + b, m_.data() + (b - begin_), v_.data() + (b - begin_), e - b,
                         h, step_, grad_scale, t.weight_decay);
  }
  if (zero1_) {
    std::memcpy(shard_buf_.data(), params.data() + begin_, (end_ - begin_) * sizeof(float));
    dp_->all_gather(shard_buf_.data(), padded_.data(), shard_);
    std::memcpy(params.data(), padded_.data(), numel_ * sizeof(float));
  }
}

void AdamWOptimizer::gather_state(std::vector<float>& m_full, std::vector<float>& v_full) {
  m_full.assign(numel_, 0.0f);
  v_full.assign(numel_, 0.0f);
  if (!zero1_) {
    std::copy(m_.begin(), m_.end(), m_full.begin());
    std::copy(v_.begin(), v_.end(), v_full.begin());
    return;
  }
  for (auto [mine, full] : {std::pair{&m_, &m_full}, std::pair{&v_, &v_full}}) {
    std::fill(shard_buf_.begin(), shard_buf_.end(), 0.0f);
    std::copy(mine->begin(), mine->end(), shard_buf_.begin());
    dp_->all_gather(shard_buf_.data(), padded_.data(), shard_);
    std::copy(padded_.begin(), padded_.begin() + numel_, full->begin());
  }
}

void AdamWOptimizer::load_state(const float* m_full, const float* v_full, int64_t steps_taken) {
  std::copy(m_full + begin_, m_full + end_, m_.begin());
  std::copy(v_full + begin_, v_full + end_, v_.begin());
  step_ = steps_taken;
}

}  // namespace loong
