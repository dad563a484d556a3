// A fully connected head for the convolutional layers of tokenizer/conv_net.h: each batch item's
// activations [C, T, H, W] are flattened (row-major) into one vector of C*T*H*W features and mapped
// to `out` features, y = W x + b. Output shape [N, out, 1, 1, 1], so it composes with Sequential
// and the rest of the layer contract (see tokenizer/conv_net.h: forward keeps a pointer to x until
// backward, backward accumulates parameter gradients and returns d/dx owned by the layer).
// Tensors <name>.weight [out, in] (torch.nn.Linear layout) and <name>.bias [out].
#pragma once
#include <vector>

#include "tokenizer/conv_net.h"

namespace loong::eval {

class Dense : public tok::Layer {
 public:
  Dense(tok::ParamStore& store, const std::string& name, int64_t in_features, int64_t out_features);
  // InputError naming the layer when the input's C*T*H*W differs from in_features.
  tok::Shape5 out_shape(const tok::Shape5& in) const override;
  const float* forward(const float* x, const tok::Shape5& in) override;
  const float* backward(const float* dy, bool need_dx = true) override;

 private:
  tok::ParamStore& store_;
  int64_t in_, out_, weight_, bias_;
  const float* x_ = nullptr;
  tok::Shape5 in_shape_{};
  std::vector<float> y_, dx_;
};

}  // namespace loong::eval
