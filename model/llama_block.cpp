#include "model/llama_block.h"

#include "ops/cpu/ops.h"

namespace loong::llama_block {

namespace cpu = ops::cpu;

void add_residual(float* y, const float* x, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void attention_input(const LlamaModel& m, const LlamaLayer& w, const Dims& d, int64_t rows, const float* x, float* ln,
                     float* rstd, float* qkv, const int32_t* pos, const float* cos, const float* sin, OpTimes* times) {
  const int64_t QKV = d.qkv();
  timed(times, "rmsnorm",
        [&] { cpu::rmsnorm_forward(ln, rstd, x, m.param(*w.input_layernorm), rows, d.hidden, d.eps); });
  timed(times, "linear", [&] { cpu::linear_forward(qkv, ln, m.param(*w.qkv_proj), rows, d.hidden, QKV); });
  timed(times, "rope", [&] {
    cpu::rope_forward(qkv, QKV, rows, d.heads, d.head_dim, pos, cos, sin);
    cpu::rope_forward(qkv + d.heads * d.head_dim, QKV, rows, d.kv_heads, d.head_dim, pos, cos, sin);
  });
}

void attention_output(const LlamaModel& m, const LlamaLayer& w, const Dims& d, int64_t rows, const float* attn,
                      float* out, OpTimes* times) {
  timed(times, "linear",
        [&] { cpu::linear_forward(out, attn, m.param(*w.o_proj), rows, d.heads * d.head_dim, d.hidden); });
}

void mlp(const LlamaModel& m, const LlamaLayer& w, const Dims& d, int64_t rows, const float* x, float* ln, float* rstd,
         float* gate_up, float* h, float* out, OpTimes* times) {
  timed(times, "rmsnorm",
        [&] { cpu::rmsnorm_forward(ln, rstd, x, m.param(*w.post_attention_layernorm), rows, d.hidden, d.eps); });
  timed(times, "linear",
        [&] { cpu::linear_forward(gate_up, ln, m.param(*w.gate_up_proj), rows, d.hidden, 2 * d.inter); });
  timed(times, "swiglu", [&] { cpu::swiglu_forward(h, gate_up, rows, d.inter); });
  timed(times, "linear", [&] { cpu::linear_forward(out, h, m.param(*w.down_proj), rows, d.inter, d.hidden); });
}

void head(const LlamaModel& m, const Dims& d, int64_t rows, int64_t vocab_cols, const float* x, float* ln, float* rstd,
          float* logits, OpTimes* times) {
  timed(times, "rmsnorm", [&] { cpu::rmsnorm_forward(ln, rstd, x, m.param(*m.final_norm()), rows, d.hidden, d.eps); });
  timed(times, "linear", [&] { cpu::linear_forward(logits, ln, m.param(*m.lm_head()), rows, d.hidden, vocab_cols); });
}

}  // namespace loong::llama_block
