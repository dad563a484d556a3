// LayerNorm over the channels of each position of [N, C, P] (see conv_ops.h). The statistics of a
// position read C values P floats apart, so the loops run channels outside and a block of
// contiguous positions inside: every pass over memory is unit-stride and vectorises. One OpenMP
// task per (n, block of positions); gamma/beta gradients are summed per task and reduced after.
#include <algorithm>
#include <vector>

#include "ops/cpu/conv_ops.h"
#include "ops/elementwise.h"

namespace loong::ops::cpu {
namespace {
constexpr int64_t kBlock = 256;  // positions per task: a few KB of statistics, many tasks
}  // namespace

void channelnorm_forward(float* out, float* mean, float* rstd, const float* x, const float* gamma, const float* beta,
                         const ChannelNormShape& s, float eps) {
  const int64_t blocks = (s.p + kBlock - 1) / kBlock;
  const float inv_c = 1.0f / static_cast<float>(s.c);
#pragma omp parallel for schedule(static)
  for (int64_t task = 0; task < s.n * blocks; ++task) {
    const int64_t n = task / blocks, p0 = (task % blocks) * kBlock, len = std::min(kBlock, s.p - p0);
    const float* xn = x + n * s.c * s.p + p0;
    float* yn = out + n * s.c * s.p + p0;
    float* m = mean + n * s.p + p0;
    float* r = rstd + n * s.p + p0;
    float acc[kBlock];
    std::fill(acc, acc + len, 0.0f);
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t i = 0; i < len; ++i) acc[i] += xn[c * s.p + i];
    for (int64_t i = 0; i < len; ++i) m[i] = acc[i] * inv_c, acc[i] = 0.0f;
    for (int64_t c = 0; c < s.c; ++c)  // two passes: no cancellation in the variance
      for (int64_t i = 0; i < len; ++i) {
        const float d = xn[c * s.p + i] - m[i];
        acc[i] += d * d;
      }
    for (int64_t i = 0; i < len; ++i) r[i] = groupnorm_rstd(acc[i] * inv_c, eps);
    for (int64_t c = 0; c < s.c; ++c) {
      const float g = gamma ? gamma[c] : 1.0f, b = beta ? beta[c] : 0.0f;
      for (int64_t i = 0; i < len; ++i) yn[c * s.p + i] = (xn[c * s.p + i] - m[i]) * r[i] * g + b;
    }
  }
}

void channelnorm_backward(float* dx, float* dgamma, float* dbeta, const float* dout, const float* x, const float* gamma,
                          const float* mean, const float* rstd, const ChannelNormShape& s, bool accumulate_dx) {
  const int64_t blocks = (s.p + kBlock - 1) / kBlock, tasks = s.n * blocks;
  const float inv_c = 1.0f / static_cast<float>(s.c);
  const bool affine_grads = dgamma || dbeta;
  // Per-task partial sums of the gamma/beta gradients, reduced in task order (deterministic).
  std::vector<double> partial(affine_grads ? static_cast<size_t>(tasks * 2 * s.c) : 0, 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t n = task / blocks, p0 = (task % blocks) * kBlock, len = std::min(kBlock, s.p - p0);
    const size_t base = static_cast<size_t>(n * s.c * s.p + p0);
    const float* xn = x + base;
    const float* gn = dout + base;
    float* dn = dx + base;
    const float* m = mean + n * s.p + p0;
    const float* r = rstd + n * s.p + p0;
    float sg[kBlock], sgx[kBlock];
    std::fill(sg, sg + len, 0.0f);
    std::fill(sgx, sgx + len, 0.0f);
    for (int64_t c = 0; c < s.c; ++c) {
      const float w = gamma ? gamma[c] : 1.0f;
      double pg = 0.0, pb = 0.0;
      for (int64_t i = 0; i < len; ++i) {
        const float xhat = (xn[c * s.p + i] - m[i]) * r[i], dy = gn[c * s.p + i];
        sg[i] += dy * w;
        sgx[i] += dy * w * xhat;
        pg += static_cast<double>(dy) * xhat;
        pb += dy;
      }
      if (affine_grads) {
        partial[static_cast<size_t>((task * 2) * s.c + c)] = pg;
        partial[static_cast<size_t>((task * 2 + 1) * s.c + c)] = pb;
      }
    }
    for (int64_t i = 0; i < len; ++i) sg[i] *= inv_c, sgx[i] *= inv_c;
    for (int64_t c = 0; c < s.c; ++c) {
      const float w = gamma ? gamma[c] : 1.0f;
      for (int64_t i = 0; i < len; ++i) {
        const float xhat = (xn[c * s.p + i] - m[i]) * r[i];
        const float v = groupnorm_dx(gn[c * s.p + i] * w, xhat, r[i], sg[i], sgx[i]);
        dn[c * s.p + i] = accumulate_dx ? dn[c * s.p + i] + v : v;
      }
    }
  }
  if (!affine_grads) return;
  for (int64_t c = 0; c < s.c; ++c) {
    double g = 0.0, b = 0.0;
    for (int64_t task = 0; task < tasks; ++task) {
      g += partial[static_cast<size_t>((task * 2) * s.c + c)];
      b += partial[static_cast<size_t>((task * 2 + 1) * s.c + c)];
    }
    if (dgamma) dgamma[c] += static_cast<float>(g);
    if (dbeta) dbeta[c] += static_cast<float>(b);
  }
}

}  // namespace loong::ops::cpu
