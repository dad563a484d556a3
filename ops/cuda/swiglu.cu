// SwiGLU on the fused [gate | up] projection; one thread per output element.
#include "ops/cuda/common.cuh"
#include "ops/elementwise.h"

namespace loong::ops::cuda {
namespace {

__global__ void swiglu_forward_kernel(float* h, const float* gate_up, int64_t n, int64_t inter) {
  const int64_t total = n * inter;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = idx / inter, j = idx % inter;
    const float* g = gate_up + r * 2 * inter;
    h[idx] = swiglu(g[j], g[inter + j]);
  }
}

__global__ void swiglu_backward_kernel(float* dgate_up, const float* dh, const float* gate_up, int64_t n,
                                       int64_t inter) {
  const int64_t total = n * inter;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = idx / inter, j = idx % inter;
    const float* g = gate_up + r * 2 * inter;
    float* dg = dgate_up + r * 2 * inter;
    loong::ops::swiglu_backward(g[j], g[inter + j], dh[idx], &dg[j], &dg[inter + j]);
  }
}

}  // namespace

void swiglu_forward(const CudaContext& ctx, float* h, const float* gate_up, int64_t n, int64_t inter) {
  if (n * inter == 0) return;
  swiglu_forward_kernel<<<detail::grid_for(n * inter), detail::kThreads, 0, ctx.stream>>>(h, gate_up, n, inter);
  detail::check_launch("swiglu_forward_kernel");
}

void swiglu_backward(const CudaContext& ctx, float* dgate_up, const float* dh, const float* gate_up, int64_t n,
                     int64_t inter) {
  if (n * inter == 0) return;
  swiglu_backward_kernel<<<detail::grid_for(n * inter), detail::kThreads, 0, ctx.stream>>>(dgate_up, dh, gate_up, n,
                                                                                           inter);
  detail::check_launch("swiglu_backward_kernel");
}

}  // namespace loong::ops::cuda
