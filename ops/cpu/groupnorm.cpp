// GroupNorm with per-frame statistics over [N, C, T, S] (see conv_ops.h). One OpenMP task per
// (n, t, group) for the statistics and the input gradient; gamma/beta gradients are reductions
// over (n, t, s) that threads split by channel. Sums run in double.
#include <cstring>

#include "ops/cpu/conv_ops.h"
#include "ops/elementwise.h"

namespace loong::ops::cpu {
namespace {

// Element i of channel c at (n, t).
inline int64_t at(const GroupNormShape& s, int64_t n, int64_t c, int64_t t) { return ((n * s.c + c) * s.t + t) * s.s; }

}  // namespace

void groupnorm_forward(float* out, float* mean, float* rstd, const float* x, const float* gamma, const float* beta,
                       const GroupNormShape& s, float eps) {
  const int64_t cg = s.c / s.groups, tasks = s.n * s.t * s.groups;
  const double count = static_cast<double>(cg * s.s);
#pragma omp parallel for schedule(static)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t g = task % s.groups, t = (task / s.groups) % s.t, n = task / (s.groups * s.t);
    double sum = 0.0;
    for (int64_t c = g * cg; c < (g + 1) * cg; ++c) {
      const float* xr = x + at(s, n, c, t);
      for (int64_t i = 0; i < s.s; ++i) sum += xr[i];
    }
    const double mu = sum / count;
    double sq = 0.0;  // two passes: the variance does not suffer from cancellation
    for (int64_t c = g * cg; c < (g + 1) * cg; ++c) {
      const float* xr = x + at(s, n, c, t);
      for (int64_t i = 0; i < s.s; ++i) {
        const double d = xr[i] - mu;
        sq += d * d;
      }
    }
    const float m = static_cast<float>(mu);
    const float r = groupnorm_rstd(static_cast<float>(sq / count), eps);
    const int64_t stat = (n * s.t + t) * s.groups + g;
    mean[stat] = m;
    rstd[stat] = r;
    for (int64_t c = g * cg; c < (g + 1) * cg; ++c) {
      const float a = r * (gamma ? gamma[c] : 1.0f), b = beta ? beta[c] : 0.0f;
      const float* xr = x + at(s, n, c, t);
      float* yr = out + at(s, n, c, t);
      for (int64_t i = 0; i < s.s; ++i) yr[i] = (xr[i] - m) * a + b;
    }
  }
}

void groupnorm_backward(float* dx, float* dgamma, float* dbeta, const float* dout, const float* x, const float* gamma,
                        const float* mean, const float* rstd, const GroupNormShape& s, bool accumulate_dx) {
  const int64_t cg = s.c / s.groups, tasks = s.n * s.t * s.groups;
  const double count = static_cast<double>(cg * s.s);
#pragma omp parallel for schedule(static)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t g = task % s.groups, t = (task / s.groups) % s.t, n = task / (s.groups * s.t);
    const int64_t stat = (n * s.t + t) * s.groups + g;
    const float m = mean[stat], r = rstd[stat];
    double sg = 0.0, sgx = 0.0;
    for (int64_t c = g * cg; c < (g + 1) * cg; ++c) {
      const float w = gamma ? gamma[c] : 1.0f;
      const float* xr = x + at(s, n, c, t);
      const float* gr = dout + at(s, n, c, t);
      for (int64_t i = 0; i < s.s; ++i) {
        const float gi = gr[i] * w;
        sg += gi;
        sgx += static_cast<double>(gi) * ((xr[i] - m) * r);
      }
    }
    const float mean_g = static_cast<float>(sg / count), mean_gx = static_cast<float>(sgx / count);
    for (int64_t c = g * cg; c < (g + 1) * cg; ++c) {
      const float w = gamma ? gamma[c] : 1.0f;
      const float* xr = x + at(s, n, c, t);
      const float* gr = dout + at(s, n, c, t);
      float* dr = dx + at(s, n, c, t);
      for (int64_t i = 0; i < s.s; ++i) {
        const float v = groupnorm_dx(gr[i] * w, (xr[i] - m) * r, r, mean_g, mean_gx);
        dr[i] = accumulate_dx ? dr[i] + v : v;
      }
    }
  }
  if (!dgamma && !dbeta) return;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < s.c; ++c) {
    const int64_t g = c / cg;
    double sgam = 0.0, sbet = 0.0;
    for (int64_t n = 0; n < s.n; ++n)
      for (int64_t t = 0; t < s.t; ++t) {
        const int64_t stat = (n * s.t + t) * s.groups + g;
        const float m = mean[stat], r = rstd[stat];
        const float* xr = x + at(s, n, c, t);
        const float* gr = dout + at(s, n, c, t);
        for (int64_t i = 0; i < s.s; ++i) {
          sgam += static_cast<double>(gr[i]) * ((xr[i] - m) * r);
          sbet += gr[i];
        }
      }
    if (dgamma) dgamma[c] += static_cast<float>(sgam);
    if (dbeta) dbeta[c] += static_cast<float>(sbet);
  }
}

}  // namespace loong::ops::cpu
