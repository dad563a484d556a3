// Linear layers (no bias) on cuBLAS, and the row-major GEMM wrapper the attention uses too.
#include "ops/cuda/common.cuh"

namespace loong::ops::cuda {
namespace detail {

void gemm(const CudaContext& ctx, int64_t m, int64_t n, int64_t k, float alpha, Mat a, Mat b, float beta, float* c,
          int64_t ldc, int64_t stride_c, int64_t batch) {
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T; the column-major view of a
  // row-major matrix is its transpose, so each operand keeps its own transpose flag.
  const cublasOperation_t ta = a.trans ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t tb = b.trans ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (batch == 1) {
    check(cublasSgemm_64(ctx.blas, tb, ta, n, m, k, &alpha, b.p, b.ld, a.p, a.ld, &beta, c, ldc), "cublasSgemm_64");
  } else {
    check(cublasSgemmStridedBatched_64(ctx.blas, tb, ta, n, m, k, &alpha, b.p, b.ld, b.stride, a.p, a.ld, a.stride,
                                       &beta, c, ldc, stride_c, batch),
          "cublasSgemmStridedBatched_64");
  }
}

}  // namespace detail

void linear_forward(const CudaContext& ctx, float* y, const float* x, const float* w, int64_t n, int64_t in,
                    int64_t out) {
  // y[n, out] = x[n, in] @ w[out, in]^T
  detail::gemm(ctx, n, out, in, 1.0f, {x, in, false}, {w, in, true}, 0.0f, y, out);
}

void linear_backward(const CudaContext& ctx, float* dx, float* dw, const float* dy, const float* x, const float* w,
                     int64_t n, int64_t in, int64_t out, bool accumulate_dx) {
  // dw[out, in] += dy[n, out]^T @ x[n, in]
  detail::gemm(ctx, out, in, n, 1.0f, {dy, out, true}, {x, in, false}, 1.0f, dw, in);
  // dx[n, in] = dy[n, out] @ w[out, in]
  if (dx) detail::gemm(ctx, n, in, out, 1.0f, {dy, out, false}, {w, in, false}, accumulate_dx ? 1.0f : 0.0f, dx, in);
}

}  // namespace loong::ops::cuda
