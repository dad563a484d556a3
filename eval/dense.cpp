#include "eval/dense.h"

#include "core/error.h"
#include "ops/cpu/ops.h"

namespace loong::eval {

Dense::Dense(tok::ParamStore& store, const std::string& name, int64_t in_features, int64_t out_features)
    : Layer(name), store_(store), in_(in_features), out_(out_features) {
  if (in_features < 1 || out_features < 1)
    throw ConfigError(name + ": dense layer sizes must be >= 1, got " + std::to_string(in_features) + " -> " +
                      std::to_string(out_features));
  // Same initialisation as torch.nn.Linear (uniform +-1/sqrt(fan_in) for weight and bias).
  weight_ = store.add(name + ".weight", {out_features, in_features}, tok::Init::kConvWeight, in_features);
  bias_ = store.add(name + ".bias", {out_features}, tok::Init::kConvBias, in_features);
}

tok::Shape5 Dense::out_shape(const tok::Shape5& in) const {
  if (in.c * in.t * in.h * in.w != in_)
    throw InputError(name_ + ": input " + in.str() + " has " + std::to_string(in.c * in.t * in.h * in.w) +
                     " features per item, the layer takes " + std::to_string(in_));
  return {in.n, out_, 1, 1, 1};
}

const float* Dense::forward(const float* x, const tok::Shape5& in) {
  const tok::Shape5 o = out_shape(in);
  x_ = x;
  in_shape_ = in;
  y_.resize(static_cast<size_t>(o.numel()));
  ops::cpu::linear_forward(y_.data(), x, store_.param(weight_), in.n, in_, out_);
  const float* b = store_.param(bias_);
  for (int64_t n = 0; n < in.n; ++n)
    for (int64_t j = 0; j < out_; ++j) y_[n * out_ + j] += b[j];
  return y_.data();
}

const float* Dense::backward(const float* dy, bool need_dx) {
  const int64_t n = in_shape_.n;
  if (need_dx) dx_.resize(static_cast<size_t>(n * in_));
  ops::cpu::linear_backward(need_dx ? dx_.data() : nullptr, store_.grad(weight_), dy, x_, store_.param(weight_), n, in_,
                            out_, false);
  float* db = store_.grad(bias_);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < out_; ++j) db[j] += dy[i * out_ + j];
  return need_dx ? dx_.data() : nullptr;
}

}  // namespace loong::eval
