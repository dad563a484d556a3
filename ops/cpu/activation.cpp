#include "ops/cpu/conv_ops.h"
#include "ops/elementwise.h"

namespace loong::ops::cpu {

void silu_forward(float* out, const float* x, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = silu(x[i]);
}

void silu_backward(float* dx, const float* dout, const float* x, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) dx[i] = loong::ops::silu_backward(x[i], dout[i]);
}

}  // namespace loong::ops::cpu
