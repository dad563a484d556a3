// The per-layer pieces of the Llama that the full forward (LlamaModel::forward_slot) and the
// KV-cache decode step (LlamaDecoder::step) share, so the two passes are one formula on the same
// kernels and differ only where they must: attention over the whole causal sequence vs over a
// cache, and the tensor-parallel all-reduces (which the forward adds between these pieces).
// Internal to model/.
//
// Rows are tokens: N = batch*seq in the forward, one per sequence in a decode step. Buffers are the
// caller's, row-major float32: x, ln [rows, hidden], rstd [rows], qkv [rows, dims.qkv()],
// attn [rows, heads*head_dim], gate_up [rows, 2*inter], h [rows, inter], out [rows, hidden].
// Weights are read through the model's named views (LlamaLayer). Sizes are the shard's local ones.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "model/llama_model.h"

namespace loong::llama_block {

using OpTimes = std::map<std::string, double>;

struct Dims {
  int64_t hidden, head_dim, heads, kv_heads, inter;
  float eps;  // RMSNorm epsilon
  int64_t qkv() const { return (heads + 2 * kv_heads) * head_dim; }
};

// Runs f, adding its wall time (seconds) to (*times)[family] when times is not null.
template <class F>
void timed(OpTimes* times, const char* family, F&& f) {
  if (!times) return f();
  const auto t0 = std::chrono::steady_clock::now();
  f();
  (*times)[family] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// y += x over n floats (the residual stream).
void add_residual(float* y, const float* x, int64_t n);

// ln = input_layernorm(x) (rstd saved), qkv = ln @ qkv_proj^T, then RoPE on the q and k heads,
// row r at position pos[r] of the tables cos/sin [positions, head_dim/2].
void attention_input(const LlamaModel& m, const LlamaLayer& w, const Dims& d, int64_t rows, const float* x, float* ln,
                     float* rstd, float* qkv, const int32_t* pos, const float* cos, const float* sin, OpTimes* times);
// out = attn @ o_proj^T (a partial sum under tensor parallelism: the caller all-reduces).
void attention_output(const LlamaModel& m, const LlamaLayer& w, const Dims& d, int64_t rows, const float* attn,
                      float* out, OpTimes* times);
// ln = post_attention_layernorm(x) (rstd saved), gate_up = ln @ gate_up_proj^T, h = silu(gate) * up,
// out = h @ down_proj^T (a partial sum under tensor parallelism). The residual add is the caller's.
void mlp(const LlamaModel& m, const LlamaLayer& w, const Dims& d, int64_t rows, const float* x, float* ln, float* rstd,
         float* gate_up, float* h, float* out, OpTimes* times);
// ln = final norm(x) (rstd saved), logits [rows, vocab_cols] = ln @ lm_head^T.
void head(const LlamaModel& m, const Dims& d, int64_t rows, int64_t vocab_cols, const float* x, float* ln, float* rstd,
          float* logits, OpTimes* times);

}  // namespace loong::llama_block
