// Nearest-neighbour upsampling. The backward gathers: each input element sums the output
// positions that copy it, so threads (over rows of input) never write the same element.
#include <algorithm>

#include "ops/cpu/conv_ops.h"
#include "ops/elementwise.h"

namespace loong::ops::cpu {

void upsample_nearest_forward(float* out, const float* x, const UpsampleShape& s) {
  const int64_t to = s.out_t(), ho = s.h * s.fh, wo = s.w * s.fw;
  const int64_t rows = s.n * s.c * to * ho;  // output rows of wo elements
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t oy = r % ho, t = (r / ho) % to, nc = r / (ho * to);
    const int64_t it = upsample_source_index(t, s.ft, s.drop_front), iy = upsample_source_index(oy, s.fh, 0);
    const float* src = x + ((nc * s.t + it) * s.h + iy) * s.w;
    float* dst = out + r * wo;
    for (int64_t ox = 0; ox < wo; ++ox) dst[ox] = src[upsample_source_index(ox, s.fw, 0)];
  }
}

void upsample_nearest_backward(float* dx, const float* dout, const UpsampleShape& s) {
  const int64_t to = s.out_t(), ho = s.h * s.fh, wo = s.w * s.fw;
  const int64_t rows = s.n * s.c * s.t * s.h;  // input rows of w elements
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t iy = r % s.h, it = (r / s.h) % s.t, nc = r / (s.h * s.t);
    float* dst = dx + r * s.w;
    std::fill(dst, dst + s.w, 0.0f);
    // Output frames copying input frame it: t with (t + drop_front) / ft == it.
    const int64_t t0 = std::max<int64_t>(0, it * s.ft - s.drop_front);
    const int64_t t1 = std::min<int64_t>(to, (it + 1) * s.ft - s.drop_front);
    for (int64_t t = t0; t < t1; ++t)
      for (int64_t oy = iy * s.fh; oy < (iy + 1) * s.fh; ++oy) {
        const float* src = dout + ((nc * to + t) * ho + oy) * wo;
        for (int64_t ix = 0; ix < s.w; ++ix)
          for (int64_t ox = ix * s.fw; ox < (ix + 1) * s.fw; ++ox) dst[ix] += src[ox];
      }
  }
}

}  // namespace loong::ops::cpu
