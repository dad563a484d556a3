#include <cstring>

#include "ops/cpu/ops.h"

namespace loong::ops::cpu {

void embedding_forward(float* out, const int32_t* tokens, const float* table, int64_t n, int64_t c) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; ++r) {
    if (tokens[r] >= 0)
      std::memcpy(out + r * c, table + static_cast<int64_t>(tokens[r]) * c, c * sizeof(float));
    else
      std::memset(out + r * c, 0, c * sizeof(float));
  }
}

void embedding_backward(float* dtable, const float* dout, const int32_t* tokens, int64_t n, int64_t c) {
  // Threads split the channels, not the rows, so two rows with the same token never race.
  const int64_t chunk = 64;
#pragma omp parallel for schedule(static)
  for (int64_t c0 = 0; c0 < c; c0 += chunk) {
    const int64_t c1 = c0 + chunk < c ? c0 + chunk : c;
    for (int64_t r = 0; r < n; ++r) {
      if (tokens[r] < 0) continue;
      float* dst = dtable + static_cast<int64_t>(tokens[r]) * c;
      const float* src = dout + r * c;
      for (int64_t j = c0; j < c1; ++j) dst[j] += src[j];
    }
  }
}

}  // namespace loong::ops::cpu
