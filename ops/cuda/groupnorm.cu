// GroupNorm with per-frame statistics: one block per (n, t, group) for the statistics and the
// input gradient, one block per channel for the gamma/beta gradients. Sums in double, as the CPU.
#include "ops/cuda/common.cuh"
#include "ops/cuda/conv_ops.h"
#include "ops/elementwise.h"

namespace loong::ops::cuda {
namespace {

// Offset of element e (of the cg*S elements of group g at (n, t)) in [N, C, T, S].
__device__ inline int64_t group_at(const GroupNormShape& s, int64_t n, int64_t g, int64_t t, int64_t e, int64_t cg) {
  const int64_t c = g * cg + e / s.s;
  return ((n * s.c + c) * s.t + t) * s.s + e % s.s;
}

__global__ void groupnorm_forward_kernel(float* out, float* mean, float* rstd, const float* x, const float* gamma,
                                         const float* beta, GroupNormShape s, float eps) {
  __shared__ double shared[32];
  const int64_t task = blockIdx.x, g = task % s.groups, t = (task / s.groups) % s.t, n = task / (s.groups * s.t);
  const int64_t cg = s.c / s.groups, count = cg * s.s;
  double sum = 0.0;
  for (int64_t e = threadIdx.x; e < count; e += blockDim.x) sum += x[group_at(s, n, g, t, e, cg)];
  const double mu = detail::block_sum(sum, shared) / static_cast<double>(count);
  double sq = 0.0;
  for (int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    const double d = x[group_at(s, n, g, t, e, cg)] - mu;
    sq += d * d;
  }
  sq = detail::block_sum(sq, shared);
  const float m = static_cast<float>(mu);
  const float r = groupnorm_rstd(static_cast<float>(sq / static_cast<double>(count)), eps);
  if (threadIdx.x == 0) {
    mean[task] = m;  // task == (n * T + t) * groups + g
    rstd[task] = r;
  }
  for (int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    const int64_t c = g * cg + e / s.s, i = group_at(s, n, g, t, e, cg);
    out[i] = (x[i] - m) * (r * (gamma ? gamma[c] : 1.0f)) + (beta ? beta[c] : 0.0f);
  }
}

__global__ void groupnorm_dx_kernel(float* dx, const float* dout, const float* x, const float* gamma, const float* mean,
                                    const float* rstd, GroupNormShape s, bool accumulate) {
  __shared__ double shared[32];
  const int64_t task = blockIdx.x, g = task % s.groups, t = (task / s.groups) % s.t, n = task / (s.groups * s.t);
  const int64_t cg = s.c / s.groups, count = cg * s.s;
  const float m = mean[task], r = rstd[task];
  double sg = 0.0, sgx = 0.0;
  for (int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    const int64_t c = g * cg + e / s.s, i = group_at(s, n, g, t, e, cg);
    const float gi = dout[i] * (gamma ? gamma[c] : 1.0f);
    sg += gi;
    sgx += static_cast<double>(gi) * ((x[i] - m) * r);
  }
  const float mean_g = static_cast<float>(detail::block_sum(sg, shared) / static_cast<double>(count));
  const float mean_gx = static_cast<float>(detail::block_sum(sgx, shared) / static_cast<double>(count));
  for (int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    const int64_t c = g * cg + e / s.s, i = group_at(s, n, g, t, e, cg);
    const float v = groupnorm_dx(dout[i] * (gamma ? gamma[c] : 1.0f), (x[i] - m) * r, r, mean_g, mean_gx);
    dx[i] = accumulate ? dx[i] + v : v;
  }
}

// One block per channel c: reductions over (n, t, s).
__global__ void groupnorm_affine_grad_kernel(float* dgamma, float* dbeta, const float* dout, const float* x,
                                             const float* mean, const float* rstd, GroupNormShape s) {
  __shared__ double shared[32];
  const int64_t c = blockIdx.x, g = c / (s.c / s.groups), per = s.t * s.s, total = s.n * per;
  double sgam = 0.0, sbet = 0.0;
  for (int64_t e = threadIdx.x; e < total; e += blockDim.x) {
    const int64_t n = e / per, t = (e % per) / s.s;
    const int64_t i = (n * s.c + c) * per + e % per, stat = (n * s.t + t) * s.groups + g;
    sgam += static_cast<double>(dout[i]) * ((x[i] - mean[stat]) * rstd[stat]);
    sbet += dout[i];
  }
  sgam = detail::block_sum(sgam, shared);
  sbet = detail::block_sum(sbet, shared);
  if (threadIdx.x == 0) {
    if (dgamma) dgamma[c] += static_cast<float>(sgam);
    if (dbeta) dbeta[c] += static_cast<float>(sbet);
  }
}

}  // namespace

void groupnorm_forward(const CudaContext& ctx, float* out, float* mean, float* rstd, const float* x, const float* gamma,
                       const float* beta, const GroupNormShape& s, float eps) {
  const int64_t tasks = s.n * s.t * s.groups;
  if (tasks == 0) return;
  groupnorm_forward_kernel<<<static_cast<unsigned>(tasks), detail::kThreads, 0, ctx.stream>>>(out, mean, rstd, x, gamma,
                                                                                              beta, s, eps);
  detail::check_launch("groupnorm_forward_kernel");
}

void groupnorm_backward(const CudaContext& ctx, float* dx, float* dgamma, float* dbeta, const float* dout,
                        const float* x, const float* gamma, const float* mean, const float* rstd,
                        const GroupNormShape& s, bool accumulate_dx) {
  const int64_t tasks = s.n * s.t * s.groups;
  if (tasks == 0) return;
  groupnorm_dx_kernel<<<static_cast<unsigned>(tasks), detail::kThreads, 0, ctx.stream>>>(dx, dout, x, gamma, mean, rstd,
                                                                                         s, accumulate_dx);
  detail::check_launch("groupnorm_dx_kernel");
  if (!dgamma && !dbeta) return;
  groupnorm_affine_grad_kernel<<<static_cast<unsigned>(s.c), detail::kThreads, 0, ctx.stream>>>(dgamma, dbeta, dout, x,
                                                                                                mean, rstd, s);
  detail::check_launch("groupnorm_affine_grad_kernel");
}

}  // namespace loong::ops::cuda
