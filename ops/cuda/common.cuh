// Private helpers of the CUDA kernels: launch checking, grid sizing, block reductions.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "ops/cuda/ops.h"

namespace loong::ops::cuda::detail {

constexpr int kThreads = 256;  // threads per block of every 1-D kernel
constexpr int64_t kMaxBlocks = 65535LL * 8;

// Blocks for a grid-stride loop over `work` items.
inline unsigned grid_for(int64_t work, int threads = kThreads) {
  int64_t blocks = (work + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  if (blocks > kMaxBlocks) blocks = kMaxBlocks;
  return static_cast<unsigned>(blocks);
}

// Checks the launch just enqueued (configuration errors; not the kernel's execution).
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

// Block-wide reductions; every thread of the block gets the result. blockDim.x must be a multiple
// of 32 and at most 1024. `shared` holds 32 values.
template <typename T>
__device__ T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ inline float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
template <typename T>
__device__ T block_sum(T v, T* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // `shared` may still be read by a previous reduction
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : T(0);
  return warp_sum(v);
}
__device__ inline float block_max(float v, float* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : -INFINITY;
  return warp_max(v);
}

// Row-major GEMM on column-major cuBLAS: C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C.
// A row-major matrix is the column-major transpose, so this computes C^T = op(B)^T op(A)^T.
// The strides are between consecutive matrices of a batch.
struct Mat {
  const float* p;
  int64_t ld;
  bool trans;
  int64_t stride = 0;
};
void gemm(const CudaContext& ctx, int64_t m, int64_t n, int64_t k, float alpha, Mat a, Mat b, float beta, float* c,
          int64_t ldc, int64_t stride_c = 0, int64_t batch = 1);

}  // namespace loong::ops::cuda::detail
