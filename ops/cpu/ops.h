// CPU kernels of a Llama-style decoder, forward and backward.
//
// Conventions (all kernels):
// - Tensors are float32, row-major, contiguous unless a leading dimension `ld` is given.
// - A batch of B sequences of T tokens is laid out as N = B*T rows; row r is token r % T of
//   sequence r / T.
// - Backward kernels named `*_backward` ACCUMULATE (+=) into parameter gradients (so micro-
//   batches can sum) and say in their comment whether they overwrite or accumulate input grads.
// - Kernels do not validate user data (token ids, shapes); the model does, once, and throws.
// - Kernels allocate nothing; callers own every buffer (memory is planned once per shape).
// Element-wise formulas live in ops/elementwise.h, shared with the CUDA kernels.
#pragma once
#include <cstdint>

namespace loong::ops::cpu {

// ---- embedding ----
// out[N, C] = table[tokens[n], :]. table is [V, C]. A negative token id means "not in this
// shard of the table" (vocab-parallel embedding) and gives a zero row.
void embedding_forward(float* out, const int32_t* tokens, const float* table, int64_t n, int64_t c);
// dtable[tokens[n], :] += dout[n, :], skipping negative ids.
void embedding_backward(float* dtable, const float* dout, const int32_t* tokens, int64_t n, int64_t c);

// ---- RMSNorm ----
// out = x * rstd * w per row; rstd[n] = 1/sqrt(mean(x[n]^2) + eps) is saved for backward.
void rmsnorm_forward(float* out, float* rstd, const float* x, const float* w, int64_t n, int64_t c, float eps);
// dx += d(out)/dx (accumulates: the residual stream gradient flows through), dw += ....
void rmsnorm_backward(float* dx, float* dw, const float* dout, const float* x, const float* w, const float* rstd,
                      int64_t n, int64_t c);

// ---- rotary embedding (rotate-half) ----
// cos/sin tables [positions, head_dim/2]: angle(p, i) = p * theta^(-2i/head_dim).
void rope_tables(float* cos, float* sin, int64_t positions, int64_t head_dim, double theta);
// In place on `heads` heads of `head_dim` each, at x + r*ld + h*head_dim, for N rows; row r uses
// position pos[r].
void rope_forward(float* x, int64_t ld, int64_t n, int64_t heads, int64_t head_dim, const int32_t* pos,
                  const float* cos, const float* sin);
// In place: turns d(rotated) into d(unrotated).
void rope_backward(float* dx, int64_t ld, int64_t n, int64_t heads, int64_t head_dim, const int32_t* pos,
                   const float* cos, const float* sin);

// ---- causal grouped-query attention ----
// q, k, v: rows of stride ld_qkv; q has `heads` heads, k and v `kv_heads` heads of `head_dim`.
// out [N, heads*head_dim]; probs [B, heads, T, T] (softmax of the scaled causal scores; only the
// lower triangle is written and read) is saved for backward.
struct AttentionShape {
  int64_t batch, seq, heads, kv_heads, head_dim, ld_qkv;
};
void attention_forward(float* out, float* probs, const float* q, const float* k, const float* v,
                       const AttentionShape& s);
// One new query row per sequence against that sequence's cached keys and values (KV-cache
// decoding). Sequence b's query row is q + b*ld_q (`heads` heads of head_dim); its cache holds
// `positions` rows of kv_heads*head_dim floats from k + b*cache_stride (v likewise); query head h
// reads kv head h / (heads/kv_heads). out [batch, heads*head_dim] = softmax(q.K^T / sqrt(head_dim)) V
// over all cached rows (the causal mask is implicit: the cache holds only the past and the present).
// `scores` is scratch of `positions` floats. Serial: a decode step's rows are few.
struct DecodeAttentionShape {
  int64_t batch, positions, heads, kv_heads, head_dim, ld_q, cache_stride;
};
void attention_decode(float* out, float* scores, const float* q, const float* k, const float* v,
                      const DecodeAttentionShape& s);
// Floats of scratch attention_backward needs: T*T per OpenMP thread.
int64_t attention_scratch_floats(const AttentionShape& s);
// Overwrites dq, dk, dv (same strides as q, k, v). `scratch` holds attention_scratch_floats(s).
void attention_backward(float* dq, float* dk, float* dv, float* scratch, const float* dout, const float* out,
                        const float* probs, const float* q, const float* k, const float* v, const AttentionShape& s);

// ---- SwiGLU ----
// gate_up [N, 2I] holds gate in columns [0, I) and up in [I, 2I); h [N, I] = silu(gate) * up.
void swiglu_forward(float* h, const float* gate_up, int64_t n, int64_t inter);
// Overwrites dgate_up.
void swiglu_backward(float* dgate_up, const float* dh, const float* gate_up, int64_t n, int64_t inter);

// ---- linear (no bias), weights [out, in] as torch.nn.Linear ----
// y[N, out] = x[N, in] @ w^T (overwrites y).
void linear_forward(float* y, const float* x, const float* w, int64_t n, int64_t in, int64_t out);
// dw += dy^T @ x; dx = dy @ w (overwrite, or += when accumulate_dx). dx may be null.
void linear_backward(float* dx, float* dw, const float* dy, const float* x, const float* w, int64_t n, int64_t in,
                     int64_t out, bool accumulate_dx);

// ---- cross-entropy with per-token weights ----
// token_loss[n] = logsumexp(logits[n]) - logits[n, target[n]]; lse[n] saved for backward.
// It is three reductions over the vocabulary, exposed separately so that a vocab-parallel head
// can combine each across tensor-parallel ranks (max, then sum, then the target logit);
// cross_entropy_forward runs the three for an unsharded head.
void cross_entropy_forward(float* token_loss, float* lse, const float* logits, const int32_t* targets, int64_t n,
                           int64_t vocab);
// row_max[n] = max_j logits[n, j].
void logits_row_max(float* row_max, const float* logits, int64_t n, int64_t vocab);
// row_sum[n] = sum_j exp(logits[n, j] - row_max[n]).
void logits_row_sumexp(float* row_sum, const float* logits, const float* row_max, int64_t n, int64_t vocab);
// picked[n] = logits[n, targets[n]], or 0 where targets[n] < 0 (target in another shard).
void logits_pick(float* picked, const float* logits, const int32_t* targets, int64_t n, int64_t vocab);
// In place: logits[n, :] becomes d(loss)/d(logits) for loss = sum_n weight[n]*token_loss[n] / normalizer.
// A negative target (in another vocab shard) has no one-hot term here.
void cross_entropy_backward(float* logits, const float* lse, const int32_t* targets, const float* weights,
                            float normalizer, int64_t n, int64_t vocab);

// ---- optimizer ----
// Sum of squares in double (for the global gradient norm).
double sum_squares(const float* x, int64_t n);
void scale(float* x, float factor, int64_t n);
// One AdamW step (see ops/elementwise.h) on n elements, gradient multiplied by `grad_scale`
// (the clipping coefficient). `step` is the 1-based optimizer step, for bias correction.
struct AdamWHyper {
  float lr, beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f, weight_decay = 0.1f;
};
void adamw_step(float* p, const float* g, float* m, float* v, int64_t n, const AdamWHyper& h, int64_t step,
                float grad_scale, bool decay);

}  // namespace loong::ops::cpu
