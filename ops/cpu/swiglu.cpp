#include "ops/cpu/ops.h"
#include "ops/elementwise.h"

namespace loong::ops::cpu {

void swiglu_forward(float* h, const float* gate_up, int64_t n, int64_t inter) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; ++r) {
    const float* g = gate_up + r * 2 * inter;
    const float* u = g + inter;
    float* hr = h + r * inter;
    for (int64_t j = 0; j < inter; ++j) hr[j] = swiglu(g[j], u[j]);
  }
}

void swiglu_backward(float* dgate_up, const float* dh, const float* gate_up, int64_t n, int64_t inter) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; ++r) {
    const float* g = gate_up + r * 2 * inter;
    const float* u = g + inter;
    const float* dhr = dh + r * inter;
    float* dg = dgate_up + r * 2 * inter;
    float* du = dg + inter;
    for (int64_t j = 0; j < inter; ++j) loong::ops::swiglu_backward(g[j], u[j], dhr[j], &dg[j], &du[j]);
  }
}

}  // namespace loong::ops::cpu
