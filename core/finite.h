// Finiteness of weight buffers: a checkpoint with NaN or Inf weights is never committed, and
// one that somehow exists is refused when loaded (a diverged run must not look like a model).
#pragma once
#include <cmath>
#include <cstdint>
#include <span>

namespace loong {

// Elements that are NaN or +-Inf.
inline int64_t count_non_finite(std::span<const float> x) {
  int64_t n = 0;
  for (float v : x) n += std::isfinite(v) ? 0 : 1;
  return n;
}

}  // namespace loong
