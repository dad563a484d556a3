#include <cblas.h>

#include "ops/cpu/ops.h"

namespace loong::ops::cpu {

void linear_forward(float* y, const float* x, const float* w, int64_t n, int64_t in, int64_t out) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
}

void linear_backward(float* dx, float* dw, const float* dy, const float* x, const float* w, int64_t n, int64_t in,
                     int64_t out, bool accumulate_dx) {
  // dw[out, in] += dy^T[out, n] @ x[n, in]
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dy, out, x, in, 1.0f, dw, in);
  if (dx)  // dx[n, in] = dy[n, out] @ w[out, in]
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out, w, in,
                accumulate_dx ? 1.0f : 0.0f, dx, in);
}

}  // namespace loong::ops::cpu
