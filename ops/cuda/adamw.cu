// Optimizer kernels: sum of squares (for the global gradient norm), scaling, AdamW.
#include <algorithm>

#include "ops/cuda/common.cuh"
#include "ops/elementwise.h"

namespace loong::ops::cuda {
namespace {

// Each block reduces its grid-stride share in double and adds it to *acc.
__global__ void sum_squares_kernel(double* acc, const float* x, int64_t n) {
  __shared__ double shared[32];
  double s = 0.0;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    s += static_cast<double>(x[i]) * x[i];
  s = detail::block_sum(s, shared);
  if (threadIdx.x == 0) atomicAdd(acc, s);
}

__global__ void scale_kernel(float* x, float factor, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    x[i] *= factor;
}

__global__ void adamw_kernel(float* p, const float* g, float* m, float* v, int64_t n, AdamWStep s, float grad_scale,
                             bool decay) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    adamw_update(&p[i], g[i] * grad_scale, &m[i], &v[i], s, decay);
}

constexpr unsigned kReduceBlocks = 1024;  // enough to fill an H100; few atomics on *acc

}  // namespace

void sum_squares_accumulate(const CudaContext& ctx, double* acc, const float* x, int64_t n) {
  if (n == 0) return;
  const unsigned blocks = std::min(detail::grid_for(n), kReduceBlocks);
  sum_squares_kernel<<<blocks, detail::kThreads, 0, ctx.stream>>>(acc, x, n);
  detail::check_launch("sum_squares_kernel");
}

double sum_squares(const CudaContext& ctx, const float* x, int64_t n, double* scratch) {
  check(cudaMemsetAsync(scratch, 0, sizeof(double), ctx.stream), "cudaMemsetAsync(sum_squares scratch)");
  sum_squares_accumulate(ctx, scratch, x, n);
  double result = 0.0;
  check(cudaMemcpyAsync(&result, scratch, sizeof(double), cudaMemcpyDeviceToHost, ctx.stream),
        "cudaMemcpyAsync(sum_squares result)");
  synchronize(ctx);
  return result;
}

void scale(const CudaContext& ctx, float* x, float factor, int64_t n) {
  if (n == 0) return;
  scale_kernel<<<detail::grid_for(n), detail::kThreads, 0, ctx.stream>>>(x, factor, n);
  detail::check_launch("scale_kernel");
}

void adamw_step(const CudaContext& ctx, float* p, const float* g, float* m, float* v, int64_t n, const AdamWHyper& h,
                int64_t step, float grad_scale, bool decay) {
  if (n == 0) return;
  const AdamWStep s = adamw_step_constants(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay, step);
  adamw_kernel<<<detail::grid_for(n), detail::kThreads, 0, ctx.stream>>>(p, g, m, v, n, s, grad_scale, decay);
  detail::check_launch("adamw_kernel");
}

}  // namespace loong::ops::cuda
