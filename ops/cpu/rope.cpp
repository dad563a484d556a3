#include <cmath>

#include "ops/cpu/ops.h"
#include "ops/elementwise.h"

namespace loong::ops::cpu {

void rope_tables(float* cos, float* sin, int64_t positions, int64_t head_dim, double theta) {
  const int64_t half = head_dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float inv_freq = rope_inv_freq(theta, i, head_dim);
    for (int64_t p = 0; p < positions; ++p) {
      const float angle = static_cast<float>(p) * inv_freq;
      cos[p * half + i] = std::cos(angle);
      sin[p * half + i] = std::sin(angle);
    }
  }
}

void rope_forward(float* x, int64_t ld, int64_t n, int64_t heads, int64_t head_dim, const int32_t* pos,
                  const float* cos, const float* sin) {
  const int64_t half = head_dim / 2;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; ++r) {
    const float* cr = cos + static_cast<int64_t>(pos[r]) * half;
    const float* sr = sin + static_cast<int64_t>(pos[r]) * half;
    for (int64_t h = 0; h < heads; ++h) {
      float* v = x + r * ld + h * head_dim;
      for (int64_t i = 0; i < half; ++i) rope_rotate(v[i], v[i + half], cr[i], sr[i], &v[i], &v[i + half]);
    }
  }
}

void rope_backward(float* dx, int64_t ld, int64_t n, int64_t heads, int64_t head_dim, const int32_t* pos,
                   const float* cos, const float* sin) {
  const int64_t half = head_dim / 2;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; ++r) {
    const float* cr = cos + static_cast<int64_t>(pos[r]) * half;
    const float* sr = sin + static_cast<int64_t>(pos[r]) * half;
    for (int64_t h = 0; h < heads; ++h) {
      float* v = dx + r * ld + h * head_dim;
      for (int64_t i = 0; i < half; ++i) rope_rotate_backward(v[i], v[i + half], cr[i], sr[i], &v[i], &v[i + half]);
    }
  }
}

}  // namespace loong::ops::cpu
