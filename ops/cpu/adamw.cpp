#include <cmath>

#include "ops/cpu/ops.h"
#include "ops/elementwise.h"

namespace loong::ops::cpu {

double sum_squares(const float* x, int64_t n) {
  double total = 0.0;
#pragma omp parallel for reduction(+ : total) schedule(static)
  for (int64_t i = 0; i < n; ++i) total += static_cast<double>(x[i]) * x[i];
  return total;
}

void scale(float* x, float factor, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) x[i] *= factor;
}

void adamw_step(float* p, const float* g, float* m, float* v, int64_t n, const AdamWHyper& h, int64_t step,
                float grad_scale, bool decay) {
  const AdamWStep s = adamw_step_constants(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay, step);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) adamw_update(&p[i], g[i] * grad_scale, &m[i], &v[i], s, decay);
}

}  // namespace loong::ops::cpu
