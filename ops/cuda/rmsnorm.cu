// RMSNorm: one block per row for the forward and for dx; dw is a column reduction over rows done
// by row chunks that atomicAdd their partial sums.
#include "ops/cuda/common.cuh"
#include "ops/elementwise.h"

namespace loong::ops::cuda {
namespace {

__global__ void rmsnorm_forward_kernel(float* out, float* rstd, const float* x, const float* w, int64_t c, float eps) {
  __shared__ float shared[32];
  const int64_t r = blockIdx.x;
  const float* xr = x + r * c;
  float* yr = out + r * c;
  float ss = 0.0f;
  for (int64_t j = threadIdx.x; j < c; j += blockDim.x) ss += xr[j] * xr[j];
  ss = detail::block_sum(ss, shared);
  const float s = rmsnorm_rstd(ss, static_cast<float>(c), eps);
  if (threadIdx.x == 0) rstd[r] = s;
  for (int64_t j = threadIdx.x; j < c; j += blockDim.x) yr[j] = xr[j] * s * w[j];
}

__global__ void rmsnorm_dx_kernel(float* dx, const float* dout, const float* x, const float* w, const float* rstd,
                                  int64_t c) {
  __shared__ float shared[32];
  const int64_t r = blockIdx.x;
  const float* xr = x + r * c;
  const float* gr = dout + r * c;
  float* dxr = dx + r * c;
  float gx = 0.0f;
  for (int64_t j = threadIdx.x; j < c; j += blockDim.x) gx += gr[j] * w[j] * xr[j];
  const float mean_gx = detail::block_sum(gx, shared) / static_cast<float>(c);
  const float s = rstd[r];
  for (int64_t j = threadIdx.x; j < c; j += blockDim.x) dxr[j] += rmsnorm_dx(gr[j], w[j], xr[j], s, mean_gx);
}

constexpr int64_t kDwRowsPerBlock = 64;

// grid.x covers the columns, grid.y the chunks of kDwRowsPerBlock rows.
__global__ void rmsnorm_dw_kernel(float* dw, const float* dout, const float* x, const float* rstd, int64_t n,
                                  int64_t c) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= c) return;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * kDwRowsPerBlock;
  const int64_t r1 = r0 + kDwRowsPerBlock < n ? r0 + kDwRowsPerBlock : n;
  float acc = 0.0f;
  for (int64_t r = r0; r < r1; ++r) acc += dout[r * c + j] * x[r * c + j] * rstd[r];
  atomicAdd(dw + j, acc);
}

}  // namespace

void rmsnorm_forward(const CudaContext& ctx, float* out, float* rstd, const float* x, const float* w, int64_t n,
                     int64_t c, float eps) {
  if (n == 0) return;
  rmsnorm_forward_kernel<<<n, detail::kThreads, 0, ctx.stream>>>(out, rstd, x, w, c, eps);
  detail::check_launch("rmsnorm_forward_kernel");
}

void rmsnorm_backward(const CudaContext& ctx, float* dx, float* dw, const float* dout, const float* x, const float* w,
                      const float* rstd, int64_t n, int64_t c) {
  if (n == 0) return;
  rmsnorm_dx_kernel<<<n, detail::kThreads, 0, ctx.stream>>>(dx, dout, x, w, rstd, c);
  detail::check_launch("rmsnorm_dx_kernel");
  const dim3 grid(static_cast<unsigned>((c + detail::kThreads - 1) / detail::kThreads),
                  static_cast<unsigned>((n + kDwRowsPerBlock - 1) / kDwRowsPerBlock));
  rmsnorm_dw_kernel<<<grid, detail::kThreads, 0, ctx.stream>>>(dw, dout, x, rstd, n, c);
  detail::check_launch("rmsnorm_dw_kernel");
}

}  // namespace loong::ops::cuda
