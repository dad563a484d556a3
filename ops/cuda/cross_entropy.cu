// Cross-entropy with per-token weights: one block per row for the reductions over the vocabulary,
// an element-wise kernel for the in-place backward.
#include "ops/cuda/common.cuh"
#include "ops/elementwise.h"

namespace loong::ops::cuda {
namespace {

__device__ float row_max(const float* l, int64_t vocab, float* shared) {
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) mx = fmaxf(mx, l[j]);
  return detail::block_max(mx, shared);
}

__device__ float row_sumexp(const float* l, int64_t vocab, float mx, float* shared) {
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) sum += expf(l[j] - mx);
  return detail::block_sum(sum, shared);
}

__device__ float pick(const float* l, int32_t target) { return target >= 0 ? l[target] : 0.0f; }

__global__ void cross_entropy_forward_kernel(float* token_loss, float* lse, const float* logits, const int32_t* targets,
                                             int64_t vocab) {
  __shared__ float shared[32];
  const int64_t r = blockIdx.x;
  const float* l = logits + r * vocab;
  const float mx = row_max(l, vocab, shared);
  const float sum = row_sumexp(l, vocab, mx, shared);
  if (threadIdx.x == 0) {
    const float s = mx + logf(sum);
    lse[r] = s;
    token_loss[r] = s - pick(l, targets[r]);
  }
}

__global__ void row_max_kernel(float* out, const float* logits, int64_t vocab) {
  __shared__ float shared[32];
  const int64_t r = blockIdx.x;
  const float mx = row_max(logits + r * vocab, vocab, shared);
  if (threadIdx.x == 0) out[r] = mx;
}

__global__ void row_sumexp_kernel(float* out, const float* logits, const float* mx, int64_t vocab) {
  __shared__ float shared[32];
  const int64_t r = blockIdx.x;
  const float sum = row_sumexp(logits + r * vocab, vocab, mx[r], shared);
  if (threadIdx.x == 0) out[r] = sum;
}

__global__ void pick_kernel(float* picked, const float* logits, const int32_t* targets, int64_t n, int64_t vocab) {
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < n;
       r += static_cast<int64_t>(gridDim.x) * blockDim.x)
    picked[r] = pick(logits + r * vocab, targets[r]);
}

// grid.x = rows, threads stride over the vocabulary.
__global__ void cross_entropy_backward_kernel(float* logits, const float* lse, const int32_t* targets,
                                              const float* weights, float normalizer, int64_t vocab) {
  const int64_t r = blockIdx.x;
  float* l = logits + r * vocab;
  const float scale = weights[r] / normalizer;
  const float s = lse[r];
  const int64_t t = targets[r];
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) l[j] = cross_entropy_dlogit(l[j], s, j == t, scale);
}

constexpr int kRowThreads = 512;  // vocabularies are large: more threads per row

}  // namespace

void cross_entropy_forward(const CudaContext& ctx, float* token_loss, float* lse, const float* logits,
                           const int32_t* targets, int64_t n, int64_t vocab) {
  if (n == 0) return;
  cross_entropy_forward_kernel<<<n, kRowThreads, 0, ctx.stream>>>(token_loss, lse, logits, targets, vocab);
  detail::check_launch("cross_entropy_forward_kernel");
}

void logits_row_max(const CudaContext& ctx, float* row_max, const float* logits, int64_t n, int64_t vocab) {
  if (n == 0) return;
  row_max_kernel<<<n, kRowThreads, 0, ctx.stream>>>(row_max, logits, vocab);
  detail::check_launch("row_max_kernel");
}

void logits_row_sumexp(const CudaContext& ctx, float* row_sum, const float* logits, const float* row_max, int64_t n,
                       int64_t vocab) {
  if (n == 0) return;
  row_sumexp_kernel<<<n, kRowThreads, 0, ctx.stream>>>(row_sum, logits, row_max, vocab);
  detail::check_launch("row_sumexp_kernel");
}

void logits_pick(const CudaContext& ctx, float* picked, const float* logits, const int32_t* targets, int64_t n,
                 int64_t vocab) {
  if (n == 0) return;
  pick_kernel<<<detail::grid_for(n), detail::kThreads, 0, ctx.stream>>>(picked, logits, targets, n, vocab);
  detail::check_launch("pick_kernel");
}

void cross_entropy_backward(const CudaContext& ctx, float* logits, const float* lse, const int32_t* targets,
                            const float* weights, float normalizer, int64_t n, int64_t vocab) {
  if (n == 0) return;
  cross_entropy_backward_kernel<<<n, kRowThreads, 0, ctx.stream>>>(logits, lse, targets, weights, normalizer, vocab);
  detail::check_launch("cross_entropy_backward_kernel");
}

}  // namespace loong::ops::cuda
