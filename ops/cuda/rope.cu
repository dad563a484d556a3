// Rotary embedding (rotate-half) in place; one thread per (row, head, pair).
#include "ops/cuda/common.cuh"
#include "ops/elementwise.h"

namespace loong::ops::cuda {
namespace {

__global__ void rope_tables_kernel(float* cos_t, float* sin_t, int64_t positions, int64_t head_dim, double theta) {
  const int64_t half = head_dim / 2, total = positions * half;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t p = idx / half, i = idx % half;
    const float angle = static_cast<float>(p) * rope_inv_freq(theta, i, head_dim);
    cos_t[idx] = cosf(angle);
    sin_t[idx] = sinf(angle);
  }
}

template <bool kBackward>
__global__ void rope_kernel(float* x, int64_t ld, int64_t n, int64_t heads, int64_t head_dim, const int32_t* pos,
                            const float* cos_t, const float* sin_t) {
  const int64_t half = head_dim / 2, per_row = heads * half, total = n * per_row;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = idx / per_row, rem = idx % per_row, h = rem / half, i = rem % half;
    const int64_t t = static_cast<int64_t>(pos[r]) * half + i;
    float* v = x + r * ld + h * head_dim;
    if constexpr (kBackward)
      rope_rotate_backward(v[i], v[i + half], cos_t[t], sin_t[t], &v[i], &v[i + half]);
    else
      rope_rotate(v[i], v[i + half], cos_t[t], sin_t[t], &v[i], &v[i + half]);
  }
}

}  // namespace

void rope_tables(const CudaContext& ctx, float* cos, float* sin, int64_t positions, int64_t head_dim, double theta) {
  const int64_t total = positions * (head_dim / 2);
  if (total == 0) return;
  rope_tables_kernel<<<detail::grid_for(total), detail::kThreads, 0, ctx.stream>>>(cos, sin, positions, head_dim,
                                                                                   theta);
  detail::check_launch("rope_tables_kernel");
}

void rope_forward(const CudaContext& ctx, float* x, int64_t ld, int64_t n, int64_t heads, int64_t head_dim,
                  const int32_t* pos, const float* cos, const float* sin) {
  const int64_t total = n * heads * (head_dim / 2);
  if (total == 0) return;
  rope_kernel<false>
      <<<detail::grid_for(total), detail::kThreads, 0, ctx.stream>>>(x, ld, n, heads, head_dim, pos, cos, sin);
  detail::check_launch("rope_kernel<forward>");
}

void rope_backward(const CudaContext& ctx, float* dx, int64_t ld, int64_t n, int64_t heads, int64_t head_dim,
                   const int32_t* pos, const float* cos, const float* sin) {
  const int64_t total = n * heads * (head_dim / 2);
  if (total == 0) return;
  rope_kernel<true>
      <<<detail::grid_for(total), detail::kThreads, 0, ctx.stream>>>(dx, ld, n, heads, head_dim, pos, cos, sin);
  detail::check_launch("rope_kernel<backward>");
}

}  // namespace loong::ops::cuda
