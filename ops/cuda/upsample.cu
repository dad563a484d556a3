// Nearest-neighbour upsampling: one thread per output element forward, one per input element
// backward (a gather over the block of outputs copying it).
#include "ops/cuda/common.cuh"
#include "ops/cuda/conv_ops.h"
#include "ops/elementwise.h"

namespace loong::ops::cuda {
namespace {

__global__ void upsample_forward_kernel(float* out, const float* x, UpsampleShape s, int64_t to, int64_t total) {
  const int64_t ho = s.h * s.fh, wo = s.w * s.fw;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t ox = idx % wo, oy = (idx / wo) % ho, t = (idx / (wo * ho)) % to, nc = idx / (wo * ho * to);
    const int64_t it = upsample_source_index(t, s.ft, s.drop_front), iy = upsample_source_index(oy, s.fh, 0),
                  ix = upsample_source_index(ox, s.fw, 0);
    out[idx] = x[((nc * s.t + it) * s.h + iy) * s.w + ix];
  }
}

__global__ void upsample_backward_kernel(float* dx, const float* dout, UpsampleShape s, int64_t to, int64_t total) {
  const int64_t ho = s.h * s.fh, wo = s.w * s.fw;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t ix = idx % s.w, iy = (idx / s.w) % s.h, it = (idx / (s.w * s.h)) % s.t, nc = idx / (s.w * s.h * s.t);
    int64_t t0 = it * s.ft - s.drop_front, t1 = (it + 1) * s.ft - s.drop_front;
    t0 = t0 < 0 ? 0 : t0;
    t1 = t1 > to ? to : t1;
    float acc = 0.0f;
    for (int64_t t = t0; t < t1; ++t)
      for (int64_t oy = iy * s.fh; oy < (iy + 1) * s.fh; ++oy) {
        const float* src = dout + ((nc * to + t) * ho + oy) * wo;
        for (int64_t ox = ix * s.fw; ox < (ix + 1) * s.fw; ++ox) acc += src[ox];
      }
    dx[idx] = acc;
  }
}

}  // namespace

void upsample_nearest_forward(const CudaContext& ctx, float* out, const float* x, const UpsampleShape& s) {
  const int64_t to = s.out_t(), total = s.n * s.c * to * s.h * s.fh * s.w * s.fw;
  if (total == 0) return;
  upsample_forward_kernel<<<detail::grid_for(total), detail::kThreads, 0, ctx.stream>>>(out, x, s, to, total);
  detail::check_launch("upsample_forward_kernel");
}

void upsample_nearest_backward(const CudaContext& ctx, float* dx, const float* dout, const UpsampleShape& s) {
  const int64_t total = s.n * s.c * s.t * s.h * s.w;
  if (total == 0) return;
  upsample_backward_kernel<<<detail::grid_for(total), detail::kThreads, 0, ctx.stream>>>(dx, dout, s, s.out_t(), total);
  detail::check_launch("upsample_backward_kernel");
}

}  // namespace loong::ops::cuda
