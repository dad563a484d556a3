// CUDA kernels of a Llama-style decoder, forward and backward: the device twins of ops/cpu/ops.h.
//
// Same kernel list, same shapes, same accumulate/overwrite rules as the CPU header; read that
// header for the meaning of each kernel. Differences, all forced by the device:
// - Every pointer is a device pointer (tensors, token ids, positions, weights, rope tables).
// - Every call takes a CudaContext first and is asynchronous on ctx.stream: it enqueues work and
//   returns. Only sum_squares (which returns a host double) and device_available synchronise.
// - GEMMs run on cuBLAS (ctx.blas must be bound to ctx.stream; make_context does that).
// - Launch and cuBLAS failures throw loong::CudaError naming the call and the CUDA error string.
//   Errors of earlier asynchronous work surface at the next checked call.
// - Element-wise formulas are the LOONG_HD functions of ops/elementwise.h, shared with the CPU.
// - Reductions (rmsnorm dw, embedding dtable, sum of squares) use atomics, so their summation
//   order (and last bits) may differ from run to run and from the CPU.
//
// This header is plain C++: it compiles with g++ (only CUDA runtime / cuBLAS API headers).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

#include "core/error.h"

namespace loong {
// A CUDA runtime or cuBLAS call failed. The message names the call and the CUDA error string.
class CudaError : public Error {
 public:
  using Error::Error;
};
}  // namespace loong

namespace loong::ops::cuda {

// ---- device and context ----
// True when a CUDA device can be used; otherwise false with the reason in *why (when not null),
// e.g. "cudaGetDeviceCount: no CUDA-capable device is detected".
bool device_available(std::string* why);

// The handles every kernel runs on. Not owning: make_context / destroy_context manage them.
struct CudaContext {
  cublasHandle_t blas = nullptr;
  cudaStream_t stream = nullptr;
};
// Selects `device`, creates a non-blocking stream and a cuBLAS handle bound to it (FP32 math,
// no TF32, so results stay comparable with the CPU path).
CudaContext make_context(int device = 0);
void destroy_context(CudaContext& ctx);
// Waits for all work enqueued on ctx.stream and throws CudaError if any of it failed.
void synchronize(const CudaContext& ctx);

// Throw CudaError("<what>: <cuda error string>") when `status` is not success.
void check(cudaError_t status, const char* what);
void check(cublasStatus_t status, const char* what);

// ---- embedding ----
// out[N, C] = table[tokens[n], :]. table is [V, C]. A negative token id gives a zero row.
void embedding_forward(const CudaContext& ctx, float* out, const int32_t* tokens, const float* table, int64_t n,
                       int64_t c);
// dtable[tokens[n], :] += dout[n, :] (atomicAdd), skipping negative ids.
void embedding_backward(const CudaContext& ctx, float* dtable, const float* dout, const int32_t* tokens, int64_t n,
                        int64_t c);

// ---- RMSNorm ----
// out = x * rstd * w per row; rstd[n] = 1/sqrt(mean(x[n]^2) + eps) is saved for backward.
void rmsnorm_forward(const CudaContext& ctx, float* out, float* rstd, const float* x, const float* w, int64_t n,
                     int64_t c, float eps);
// dx += d(out)/dx (accumulates), dw += sum over rows of dout * x * rstd (atomicAdd).
void rmsnorm_backward(const CudaContext& ctx, float* dx, float* dw, const float* dout, const float* x, const float* w,
                      const float* rstd, int64_t n, int64_t c);

// ---- rotary embedding (rotate-half) ----
// cos/sin tables [positions, head_dim/2] on the device: angle(p, i) = p * theta^(-2i/head_dim).
void rope_tables(const CudaContext& ctx, float* cos, float* sin, int64_t positions, int64_t head_dim, double theta);
// In place on `heads` heads of `head_dim` at x + r*ld + h*head_dim, N rows; row r uses pos[r].
void rope_forward(const CudaContext& ctx, float* x, int64_t ld, int64_t n, int64_t heads, int64_t head_dim,
                  const int32_t* pos, const float* cos, const float* sin);
// In place: turns d(rotated) into d(unrotated).
void rope_backward(const CudaContext& ctx, float* dx, int64_t ld, int64_t n, int64_t heads, int64_t head_dim,
                   const int32_t* pos, const float* cos, const float* sin);

// ---- causal grouped-query attention ----
// Same layout as the CPU: q, k, v rows of stride ld_qkv; q has `heads` heads, k and v `kv_heads`
// (heads % kv_heads == 0); out [N, heads*head_dim]; probs [B, heads, T, T].
// Unlike the CPU, the forward writes ALL of probs (zeros above the diagonal) and the backward
// reads all of it, so probs must come from this attention_forward.
struct AttentionShape {
  int64_t batch, seq, heads, kv_heads, head_dim, ld_qkv;
};
void attention_forward(const CudaContext& ctx, float* out, float* probs, const float* q, const float* k, const float* v,
                       const AttentionShape& s);
// Floats of device scratch attention_backward needs: kv_heads * T * T.
int64_t attention_scratch_floats(const AttentionShape& s);
// Overwrites dq, dk, dv (same strides as q, k, v). `scratch` holds attention_scratch_floats(s).
void attention_backward(const CudaContext& ctx, float* dq, float* dk, float* dv, float* scratch, const float* dout,
                        const float* out, const float* probs, const float* q, const float* k, const float* v,
                        const AttentionShape& s);

// ---- SwiGLU ----
// gate_up [N, 2I]: gate in columns [0, I), up in [I, 2I); h [N, I] = silu(gate) * up.
void swiglu_forward(const CudaContext& ctx, float* h, const float* gate_up, int64_t n, int64_t inter);
// Overwrites dgate_up.
void swiglu_backward(const CudaContext& ctx, float* dgate_up, const float* dh, const float* gate_up, int64_t n,
                     int64_t inter);

// ---- linear (no bias), weights [out, in] as torch.nn.Linear ----
// y[N, out] = x[N, in] @ w^T (overwrites y).
void linear_forward(const CudaContext& ctx, float* y, const float* x, const float* w, int64_t n, int64_t in,
                    int64_t out);
// dw += dy^T @ x; dx = dy @ w (overwrite, or += when accumulate_dx). dx may be null.
void linear_backward(const CudaContext& ctx, float* dx, float* dw, const float* dy, const float* x, const float* w,
                     int64_t n, int64_t in, int64_t out, bool accumulate_dx);

// ---- cross-entropy with per-token weights ----
// token_loss[n] = logsumexp(logits[n]) - logits[n, target[n]]; lse[n] saved for backward.
// A negative target contributes no target logit (token_loss = lse), as logits_pick.
void cross_entropy_forward(const CudaContext& ctx, float* token_loss, float* lse, const float* logits,
                           const int32_t* targets, int64_t n, int64_t vocab);
// The three reductions of the forward, for a vocab-parallel head (see ops/cpu/ops.h).
// row_max[n] = max_j logits[n, j].
void logits_row_max(const CudaContext& ctx, float* row_max, const float* logits, int64_t n, int64_t vocab);
// row_sum[n] = sum_j exp(logits[n, j] - row_max[n]).
void logits_row_sumexp(const CudaContext& ctx, float* row_sum, const float* logits, const float* row_max, int64_t n,
                       int64_t vocab);
// picked[n] = logits[n, targets[n]], or 0 where targets[n] < 0.
void logits_pick(const CudaContext& ctx, float* picked, const float* logits, const int32_t* targets, int64_t n,
                 int64_t vocab);
// In place: logits[n, :] becomes d(loss)/d(logits) for loss = sum_n weight[n]*token_loss[n] / normalizer.
// A negative target has no one-hot term.
void cross_entropy_backward(const CudaContext& ctx, float* logits, const float* lse, const int32_t* targets,
                            const float* weights, float normalizer, int64_t n, int64_t vocab);

// ---- optimizer ----
// *acc += sum of squares of x[0, n), in double (atomicAdd on a device double). Enqueue one call
// per tensor, then read *acc once: the global gradient norm costs one synchronisation.
void sum_squares_accumulate(const CudaContext& ctx, double* acc, const float* x, int64_t n);
// Sum of squares in double, returned to the host (as the CPU). `scratch` is one device double.
// Synchronises ctx.stream.
double sum_squares(const CudaContext& ctx, const float* x, int64_t n, double* scratch);
void scale(const CudaContext& ctx, float* x, float factor, int64_t n);
// One AdamW step (ops/elementwise.h) on n elements, gradient multiplied by `grad_scale`;
// `step` is the 1-based optimizer step.
struct AdamWHyper {
  float lr, beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f, weight_decay = 0.1f;
};
void adamw_step(const CudaContext& ctx, float* p, const float* g, float* m, float* v, int64_t n, const AdamWHyper& h,
                int64_t step, float grad_scale, bool decay);

}  // namespace loong::ops::cuda
