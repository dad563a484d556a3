// Causal grouped-query attention, the straightforward way: the T x T scores of every (sequence,
// head) come from cuBLAS strided-batched GEMMs, a row kernel applies the causal mask and softmax
// in place in `probs`, and P @ V is another batched GEMM. Not flash-attention: probs is
// materialised, as the CPU path (and its backward) expects.
//
// Batching: a strided batch needs one constant stride per operand. With h = kvh * group + g, the
// heads of a fixed (sequence b, group member g) are kv_heads matrices whose q offsets step by
// group*D, k/v offsets by D and probs offsets by group*T*T: one batched GEMM per (b, g).
// In the backward the same batching makes each call's kv heads distinct, so dk/dv accumulate over
// g without races (beta 0 for g = 0 overwrites, then beta 1).
#include <cmath>

#include "ops/cuda/common.cuh"
#include "ops/elementwise.h"

namespace loong::ops::cuda {
namespace {

// One block per score row (b, h, i): softmax over columns j <= i, zeros for j > i.
__global__ void causal_softmax_kernel(float* probs, int64_t seq) {
  __shared__ float shared[32];
  const int64_t row = blockIdx.x, i = row % seq;
  float* p = probs + row * seq;
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j <= i; j += blockDim.x) mx = fmaxf(mx, p[j]);
  mx = detail::block_max(mx, shared);
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j <= i; j += blockDim.x) sum += expf(p[j] - mx);
  const float inv = 1.0f / detail::block_sum(sum, shared);
  for (int64_t j = threadIdx.x; j < seq; j += blockDim.x) p[j] = j <= i ? expf(p[j] - mx) * inv : 0.0f;
}

// One block per row i of kv head kvh (query head h = kvh * group + g) of sequence b:
// dS = P * (dP - delta) below the diagonal, zero above; delta = rowsum(dO * O) of that head.
__global__ void softmax_backward_kernel(float* ds, const float* probs, const float* out, const float* dout, int64_t b,
                                        int64_t g, int64_t seq, int64_t heads, int64_t group, int64_t head_dim) {
  __shared__ float shared[32];
  const int64_t kvh = blockIdx.x / seq, i = blockIdx.x % seq, h = kvh * group + g, ldo = heads * head_dim;
  const float* o = out + (b * seq + i) * ldo + h * head_dim;
  const float* dob = dout + (b * seq + i) * ldo + h * head_dim;
  float dot = 0.0f;
  for (int64_t d = threadIdx.x; d < head_dim; d += blockDim.x) dot += o[d] * dob[d];
  const float delta = detail::block_sum(dot, shared);
  const float* p = probs + ((b * heads + h) * seq + i) * seq;
  float* row = ds + blockIdx.x * seq;  // scratch row (kvh, i), holding dP on entry
  for (int64_t j = threadIdx.x; j < seq; j += blockDim.x) row[j] = j <= i ? softmax_dscore(p[j], row[j], delta) : 0.0f;
}

constexpr int kRowThreads = 128;

}  // namespace

int64_t attention_scratch_floats(const AttentionShape& s) { return s.kv_heads * s.seq * s.seq; }

void attention_forward(const CudaContext& ctx, float* out, float* probs, const float* q, const float* k, const float* v,
                       const AttentionShape& s) {
  using detail::gemm;
  const int64_t T = s.seq, D = s.head_dim, ld = s.ld_qkv, ldo = s.heads * s.head_dim;
  const int64_t group = s.heads / s.kv_heads, TT = T * T;
  if (s.batch * s.heads * T == 0) return;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t g = 0; g < group; ++g)  // S = scale * Q K^T, all T x T
      gemm(ctx, T, T, D, scale, {q + b * T * ld + g * D, ld, false, group * D}, {k + b * T * ld, ld, true, D}, 0.0f,
           probs + (b * s.heads + g) * TT, T, group * TT, s.kv_heads);
  causal_softmax_kernel<<<s.batch * s.heads * T, kRowThreads, 0, ctx.stream>>>(probs, T);
  detail::check_launch("causal_softmax_kernel");
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t g = 0; g < group; ++g)  // O = P V (P is zero above the diagonal)
      gemm(ctx, T, D, T, 1.0f, {probs + (b * s.heads + g) * TT, T, false, group * TT}, {v + b * T * ld, ld, false, D},
           0.0f, out + b * T * ldo + g * D, ldo, group * D, s.kv_heads);
}

void attention_backward(const CudaContext& ctx, float* dq, float* dk, float* dv, float* scratch, const float* dout,
                        const float* out, const float* probs, const float* q, const float* k, const float* v,
                        const AttentionShape& s) {
  using detail::gemm;
  const int64_t T = s.seq, D = s.head_dim, ld = s.ld_qkv, ldo = s.heads * s.head_dim;
  const int64_t group = s.heads / s.kv_heads, TT = T * T;
  if (s.batch * s.heads * T == 0) return;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  for (int64_t b = 0; b < s.batch; ++b) {
    const float* kb = k + b * T * ld;
    const float* vb = v + b * T * ld;
    for (int64_t g = 0; g < group; ++g) {
      const float* qg = q + b * T * ld + g * D;
      const float* dog = dout + b * T * ldo + g * D;
      const float* pg = probs + (b * s.heads + g) * TT;
      const float beta = g == 0 ? 0.0f : 1.0f;  // overwrite dk, dv at the first head of a group
      // dP = dO V^T into scratch [kv_heads, T, T]
      gemm(ctx, T, T, D, 1.0f, {dog, ldo, false, group * D}, {vb, ld, true, D}, 0.0f, scratch, T, TT, s.kv_heads);
      softmax_backward_kernel<<<s.kv_heads * T, kRowThreads, 0, ctx.stream>>>(scratch, probs, out, dout, b, g, T,
                                                                              s.heads, group, D);
      detail::check_launch("softmax_backward_kernel");
      // dQ = scale * dS K
      gemm(ctx, T, D, T, scale, {scratch, T, false, TT}, {kb, ld, false, D}, 0.0f, dq + b * T * ld + g * D, ld,
           group * D, s.kv_heads);
      // dK (+)= scale * dS^T Q
      gemm(ctx, T, D, T, scale, {scratch, T, true, TT}, {qg, ld, false, group * D}, beta, dk + b * T * ld, ld, D,
           s.kv_heads);
      // dV (+)= P^T dO
      gemm(ctx, T, D, T, 1.0f, {pg, T, true, group * TT}, {dog, ldo, false, group * D}, beta, dv + b * T * ld, ld, D,
           s.kv_heads);
    }
  }
}

}  // namespace loong::ops::cuda
