#include <cmath>

#include "ops/cpu/ops.h"
#include "ops/elementwise.h"

namespace loong::ops::cpu {

void rmsnorm_forward(float* out, float* rstd, const float* x, const float* w, int64_t n, int64_t c, float eps) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; ++r) {
    const float* xr = x + r * c;
    float* yr = out + r * c;
    float ss = 0.0f;
    for (int64_t j = 0; j < c; ++j) ss += xr[j] * xr[j];
    const float s = rmsnorm_rstd(ss, static_cast<float>(c), eps);
    rstd[r] = s;
    for (int64_t j = 0; j < c; ++j) yr[j] = xr[j] * s * w[j];
  }
}

void rmsnorm_backward(float* dx, float* dw, const float* dout, const float* x, const float* w, const float* rstd,
                      int64_t n, int64_t c) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; ++r) {
    const float* xr = x + r * c;
    const float* gr = dout + r * c;
    float* dxr = dx + r * c;
    float gx = 0.0f;
    for (int64_t j = 0; j < c; ++j) gx += gr[j] * w[j] * xr[j];
    const float mean_gx = gx / static_cast<float>(c);
    for (int64_t j = 0; j < c; ++j) dxr[j] += rmsnorm_dx(gr[j], w[j], xr[j], rstd[r], mean_gx);
  }
  // dw is a reduction over rows: threads own column ranges so no two write the same element.
  const int64_t chunk = 32;
#pragma omp parallel for schedule(static)
  for (int64_t c0 = 0; c0 < c; c0 += chunk) {
    const int64_t c1 = c0 + chunk < c ? c0 + chunk : c;
    for (int64_t r = 0; r < n; ++r) {
      const float* xr = x + r * c;
      const float* gr = dout + r * c;
      const float s = rstd[r];
      for (int64_t j = c0; j < c1; ++j) dw[j] += gr[j] * xr[j] * s;
    }
  }
}

}  // namespace loong::ops::cpu
