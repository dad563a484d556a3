#include <cmath>

#include "ops/cpu/ops.h"
#include "ops/elementwise.h"

namespace loong::ops::cpu {

void logits_row_max(float* row_max, const float* logits, int64_t n, int64_t vocab) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; ++r) {
    const float* l = logits + r * vocab;
    float mx = -INFINITY;
    for (int64_t j = 0; j < vocab; ++j) mx = l[j] > mx ? l[j] : mx;
    row_max[r] = mx;
  }
}

void logits_row_sumexp(float* row_sum, const float* logits, const float* row_max, int64_t n, int64_t vocab) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; ++r) {
    const float* l = logits + r * vocab;
    float sum = 0.0f;
    for (int64_t j = 0; j < vocab; ++j) sum += std::exp(l[j] - row_max[r]);
    row_sum[r] = sum;
  }
}

void logits_pick(float* picked, const float* logits, const int32_t* targets, int64_t n, int64_t vocab) {
  for (int64_t r = 0; r < n; ++r) picked[r] = targets[r] >= 0 ? logits[r * vocab + targets[r]] : 0.0f;
}

void cross_entropy_forward(float* token_loss, float* lse, const float* logits, const int32_t* targets, int64_t n,
                           int64_t vocab) {
  // lse holds the row max, then the log-sum-exp; token_loss holds the sum, then the loss.
  logits_row_max(lse, logits, n, vocab);
  logits_row_sumexp(token_loss, logits, lse, n, vocab);
  for (int64_t r = 0; r < n; ++r) {
    lse[r] += std::log(token_loss[r]);
    token_loss[r] = lse[r] - (targets[r] >= 0 ? logits[r * vocab + targets[r]] : 0.0f);
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
