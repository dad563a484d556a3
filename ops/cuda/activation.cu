// SiLU, one thread per element; the formulas are ops/elementwise.h's.
#include "ops/cuda/common.cuh"
#include "ops/cuda/conv_ops.h"
#include "ops/elementwise.h"

namespace loong::ops::cuda {
namespace {

__global__ void silu_forward_kernel(float* out, const float* x, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = silu(x[i]);
}

__global__ void silu_backward_kernel(float* dx, const float* dout, const float* x, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dx[i] = loong::ops::silu_backward(x[i], dout[i]);
}

}  // namespace

void silu_forward(const CudaContext& ctx, float* out, const float* x, int64_t n) {
  if (n == 0) return;
  silu_forward_kernel<<<detail::grid_for(n), detail::kThreads, 0, ctx.stream>>>(out, x, n);
  detail::check_launch("silu_forward_kernel");
}

void silu_backward(const CudaContext& ctx, float* dx, const float* dout, const float* x, int64_t n) {
  if (n == 0) return;
  silu_backward_kernel<<<detail::grid_for(n), detail::kThreads, 0, ctx.stream>>>(dx, dout, x, n);
  detail::check_launch("silu_backward_kernel");
}

}  // namespace loong::ops::cuda
