// Token embedding: gather rows forward, scatter-add (atomicAdd) backward.
#include "ops/cuda/common.cuh"

namespace loong::ops::cuda {
namespace {

// One block per row, threads stride over the channels.
__global__ void embedding_forward_kernel(float* out, const int32_t* tokens, const float* table, int64_t c) {
  const int64_t r = blockIdx.x;
  const int32_t t = tokens[r];
  float* dst = out + r * c;
  if (t < 0) {  // not in this shard of the table
    for (int64_t j = threadIdx.x; j < c; j += blockDim.x) dst[j] = 0.0f;
    return;
  }
  const float* src = table + static_cast<int64_t>(t) * c;
  for (int64_t j = threadIdx.x; j < c; j += blockDim.x) dst[j] = src[j];
}

// Rows sharing a token add into the same table row, hence atomics.
__global__ void embedding_backward_kernel(float* dtable, const float* dout, const int32_t* tokens, int64_t c) {
  const int64_t r = blockIdx.x;
  const int32_t t = tokens[r];
  if (t < 0) return;
  float* dst = dtable + static_cast<int64_t>(t) * c;
  const float* src = dout + r * c;
  for (int64_t j = threadIdx.x; j < c; j += blockDim.x) atomicAdd(dst + j, src[j]);
}

}  // namespace

void embedding_forward(const CudaContext& ctx, float* out, const int32_t* tokens, const float* table, int64_t n,
                       int64_t c) {
  if (n == 0) return;
  embedding_forward_kernel<<<n, detail::kThreads, 0, ctx.stream>>>(out, tokens, table, c);
  detail::check_launch("embedding_forward_kernel");
}

void embedding_backward(const CudaContext& ctx, float* dtable, const float* dout, const int32_t* tokens, int64_t n,
                        int64_t c) {
  if (n == 0) return;
  embedding_backward_kernel<<<n, detail::kThreads, 0, ctx.stream>>>(dtable, dout, tokens, c);
  detail::check_launch("embedding_backward_kernel");
}

}  // namespace loong::ops::cuda
