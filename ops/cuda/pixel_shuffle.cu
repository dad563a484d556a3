// Space-to-depth and depth-to-space: one thread per packed element, the same index arithmetic as
// the CPU kernels (ops/elementwise.h).
#include "ops/cuda/common.cuh"
#include "ops/cuda/conv_ops.h"
#include "ops/elementwise.h"

namespace loong::ops::cuda {
namespace {

template <bool kToPacked>
__global__ void pixel_shuffle_kernel(float* dst, const float* src, PixelShuffleShape s, int64_t total) {
  const int64_t cp = s.c * s.p * s.p, hl = s.h / s.p, wl = s.w / s.p;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t x = idx % wl, y = (idx / wl) % hl, t = (idx / (wl * hl)) % s.t, c_lo = (idx / (wl * hl * s.t)) % cp,
                  n = idx / (wl * hl * s.t * cp);
    const int64_t full = space_to_depth_source(n, c_lo, t, y, x, s.c, s.t, s.h, s.w, s.p);
    if (kToPacked)
      dst[idx] = src[full];
    else
      dst[full] = src[idx];
  }
}

}  // namespace

void space_to_depth(const CudaContext& ctx, float* packed, const float* full, const PixelShuffleShape& s) {
  const int64_t total = s.n * s.c * s.t * s.h * s.w;
  if (total == 0) return;
  pixel_shuffle_kernel<true><<<detail::grid_for(total), detail::kThreads, 0, ctx.stream>>>(packed, full, s, total);
  detail::check_launch("space_to_depth_kernel");
}

void depth_to_space(const CudaContext& ctx, float* full, const float* packed, const PixelShuffleShape& s) {
  const int64_t total = s.n * s.c * s.t * s.h * s.w;
  if (total == 0) return;
  pixel_shuffle_kernel<false><<<detail::grid_for(total), detail::kThreads, 0, ctx.stream>>>(full, packed, s, total);
  detail::check_launch("depth_to_space_kernel");
}

}  // namespace loong::ops::cuda
