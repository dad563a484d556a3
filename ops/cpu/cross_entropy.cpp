#include <cmath>

#include "ops/cpu/ops.h"
#include "ops/elementwise.h"

namespace loong::ops::cpu {

void cross_entropy_forward(float* token_loss, float* lse, const float* logits, const int32_t* targets, int64_t n,
                           int64_t vocab) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; ++r) {
    const float* l = logits + r * vocab;
    float mx = l[0];
    for (int64_t j = 1; j < vocab; ++j) mx = l[j] > mx ? l[j] : mx;
    float sum = 0.0f;
    for (int64_t j = 0; j < vocab; ++j) sum += std::exp(l[j] - mx);
    const float s = mx + std::log(sum);
    lse[r] = s;
    token_loss[r] = s - l[targets[r]];
  }
}

void cross_entropy_backward(float* logits, const float* lse, const int32_t* targets, const float* weights,
                            float normalizer, int64_t n, int64_t vocab) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; ++r) {
    float* l = logits + r * vocab;
    const float scale = weights[r] / normalizer;
    const int32_t t = targets[r];
    for (int64_t j = 0; j < vocab; ++j) l[j] = cross_entropy_dlogit(l[j], lse[r], j == t, scale);
  }
}

}  // namespace loong::ops::cpu
