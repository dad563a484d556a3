// Space-to-depth and depth-to-space: one pass over the packed side's rows, so every thread
// writes its own rows in both directions (a permutation: no accumulation).
#include "ops/cpu/conv_ops.h"
#include "ops/elementwise.h"

namespace loong::ops::cpu {
namespace {

// Calls f(packed_offset, full_offset) for every element; rows of the packed side split over threads.
template <class F>
void for_each_pair(const PixelShuffleShape& s, F f) {
  const int64_t cp = s.c * s.p * s.p, hl = s.h / s.p, wl = s.w / s.p;
  const int64_t rows = s.n * cp * s.t * hl;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t y = r % hl, t = (r / hl) % s.t, c_lo = (r / (hl * s.t)) % cp, n = r / (hl * s.t * cp);
    for (int64_t x = 0; x < wl; ++x) f(r * wl + x, space_to_depth_source(n, c_lo, t, y, x, s.c, s.t, s.h, s.w, s.p));
  }
}

}  // namespace

void space_to_depth(float* packed, const float* full, const PixelShuffleShape& s) {
  for_each_pair(s, [&](int64_t lo, int64_t hi) { packed[lo] = full[hi]; });
}

void depth_to_space(float* full, const float* packed, const PixelShuffleShape& s) {
  for_each_pair(s, [&](int64_t lo, int64_t hi) { full[hi] = packed[lo]; });
}

}  // namespace loong::ops::cpu
