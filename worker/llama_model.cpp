#include "worker/llama_model.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>

#include "core/error.h"
#include "ops/cpu/ops.h"

namespace loong {

namespace cpu = ops::cpu;

// Every buffer the forward and backward passes need for one (batch, seq) shape, allocated once.
struct LlamaModel::Activations {
  int64_t batch = 0, seq = 0;
  std::vector<int32_t> tokens, targets, pos;
  std::vector<float> weights;
  std::vector<float> rope_cos, rope_sin;
  struct PerLayer {
    std::vector<float> x_in, ln1, rstd1, qkv, probs, attn, x_mid, ln2, rstd2, gate_up, h;
  };
  std::vector<PerLayer> layers;
  std::vector<float> x_final, lnf, rstdf, logits, lse, token_loss;
  // Gradient scratch, reused layer after layer.
  std::vector<float> d_res, d_ln, d_qkv, d_attn, d_gate_up, d_h, d_scores;
  bool have_forward = false;

  size_t bytes() const {
    size_t n = 0;
    auto add = [&](const auto& v) { n += v.size() * sizeof(v[0]); };
    for (const auto& l : layers) {
      for (const auto* v :
           {&l.x_in, &l.ln1, &l.rstd1, &l.qkv, &l.probs, &l.attn, &l.x_mid, &l.ln2, &l.rstd2, &l.gate_up, &l.h})
        add(*v);
    }
    for (const auto* v : {&x_final, &lnf, &rstdf, &logits, &lse, &token_loss, &d_res, &d_ln, &d_qkv, &d_attn,
                          &d_gate_up, &d_h, &d_scores, &rope_cos, &rope_sin, &weights})
      add(*v);
    add(tokens), add(targets), add(pos);
    return n;
  }
};

LlamaModel::LlamaModel(const LlamaConfig& config) : config_(config) {
  config_.validate("model config");
  const int64_t C = config_.hidden_size, I = config_.intermediate_size, V = config_.vocab_size;
  const int64_t D = config_.head_dim(), H = config_.num_attention_heads, KV = config_.num_key_value_heads;
  int64_t offset = 0;
  auto add = [&](std::string name, std::vector<int64_t> shape, bool decay) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    tensors_.push_back({std::move(name), std::move(shape), offset, n, decay});
    offset += n;
  };
  add("model.embed_tokens.weight", {V, C}, true);
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {C}, false);
    add(p + "self_attn.q_proj.weight", {H * D, C}, true);  // q, k, v adjacent: one fused GEMM
    add(p + "self_attn.k_proj.weight", {KV * D, C}, true);
    add(p + "self_attn.v_proj.weight", {KV * D, C}, true);
    add(p + "self_attn.o_proj.weight", {C, H * D}, true);
    add(p + "post_attention_layernorm.weight", {C}, false);
    add(p + "mlp.gate_proj.weight", {I, C}, true);  // gate, up adjacent: one fused GEMM
    add(p + "mlp.up_proj.weight", {I, C}, true);
    add(p + "mlp.down_proj.weight", {C, I}, true);
  }
  add("model.norm.weight", {C}, false);
  add("lm_head.weight", {V, C}, true);
  params_.assign(offset, 0.0f);
  grads_.assign(offset, 0.0f);

  embed_ = &tensors_[0];
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    const ParamTensor* b = &tensors_[1 + 9 * l];
    layers_.push_back({&b[0], &b[1], &b[4], &b[5], &b[6], &b[8]});
  }
  norm_ = &tensors_[tensors_.size() - 2];
  head_ = &tensors_.back();
}

LlamaModel::~LlamaModel() = default;

const ParamTensor& LlamaModel::tensor(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return t;
  throw InputError("model has no tensor '" + name + "'");
}

void LlamaModel::init_random(uint64_t seed, float std) {
  std::mt19937_64 rng(seed);
  const float out_std = std / std::sqrt(2.0f * static_cast<float>(config_.num_hidden_layers));
  for (const auto& t : tensors_) {
    float* p = param(t);
    if (t.shape.size() == 1) {
      std::fill(p, p + t.numel, 1.0f);
      continue;
    }
    const bool residual_out = t.name.ends_with("o_proj.weight") || t.name.ends_with("down_proj.weight");
    std::normal_distribution<float> dist(0.0f, residual_out ? out_std : std);
    for (int64_t i = 0; i < t.numel; ++i) p[i] = dist(rng);
  }
}

void LlamaModel::zero_grad() { std::fill(grads_.begin(), grads_.end(), 0.0f); }

void LlamaModel::plan(int64_t batch, int64_t seq) {
  if (acts_ && acts_->batch == batch && acts_->seq == seq) return;
  const int64_t N = batch * seq, C = config_.hidden_size, I = config_.intermediate_size;
  const int64_t V = config_.vocab_size, H = config_.num_attention_heads, D = config_.head_dim();
  const int64_t QKV = config_.qkv_rows();
  auto a = std::make_unique<Activations>();
  a->batch = batch;
  a->seq = seq;
  a->tokens.resize(N), a->targets.resize(N), a->pos.resize(N), a->weights.resize(N);
  for (int64_t r = 0; r < N; ++r) a->pos[r] = static_cast<int32_t>(r % seq);
  a->rope_cos.resize(seq * D / 2), a->rope_sin.resize(seq * D / 2);
  cpu::rope_tables(a->rope_cos.data(), a->rope_sin.data(), seq, D, config_.rope_theta);
  a->layers.resize(config_.num_hidden_layers);
  for (auto& l : a->layers) {
    l.x_in.resize(N * C), l.ln1.resize(N * C), l.rstd1.resize(N), l.qkv.resize(N * QKV);
    l.probs.resize(batch * H * seq * seq), l.attn.resize(N * H * D), l.x_mid.resize(N * C);
    l.ln2.resize(N * C), l.rstd2.resize(N), l.gate_up.resize(N * 2 * I), l.h.resize(N * I);
  }
  a->x_final.resize(N * C), a->lnf.resize(N * C), a->rstdf.resize(N), a->logits.resize(N * V);
  a->lse.resize(N), a->token_loss.resize(N);
  a->d_res.resize(N * C), a->d_ln.resize(N * C), a->d_qkv.resize(N * QKV), a->d_attn.resize(N * H * D);
  a->d_gate_up.resize(N * 2 * I), a->d_h.resize(N * I),
      a->d_scores.resize(cpu::attention_scratch_floats({batch, seq, H, config_.num_key_value_heads, D, QKV}));
  acts_ = std::move(a);
}

template <class F>
void LlamaModel::timed(const char* family, F&& f) {
  if (!op_times_) return f();
  const auto t0 = std::chrono::steady_clock::now();
  f();
  (*op_times_)[family] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

namespace {
void add_inplace(float* y, const float* x, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}
}  // namespace

ForwardLoss LlamaModel::forward(const int32_t* tokens, const int32_t* targets, const float* weights, int64_t batch,
                                int64_t seq) {
  if (batch <= 0 || seq <= 0) throw InputError("forward: batch and seq must be positive");
  if (seq > config_.max_position_embeddings)
    throw InputError("sequence length " + std::to_string(seq) + " exceeds max_position_embeddings " +
                     std::to_string(config_.max_position_embeddings));
  const int64_t N = batch * seq, V = config_.vocab_size;
  for (int64_t r = 0; r < N; ++r) {
    if (tokens[r] < 0 || tokens[r] >= V)
      throw InputError("token id " + std::to_string(tokens[r]) + " at position " + std::to_string(r) +
                       " is outside the vocabulary [0, " + std::to_string(V) + ")");
    if (targets[r] < 0 || targets[r] >= V)
      throw InputError("target id " + std::to_string(targets[r]) + " at position " + std::to_string(r) +
                       " is outside the vocabulary [0, " + std::to_string(V) + ")");
    if (!std::isfinite(weights[r]) || weights[r] < 0)
      throw InputError("loss weight " + std::to_string(weights[r]) + " at position " + std::to_string(r) +
                       " is not a finite non-negative number");
  }
  plan(batch, seq);
  Activations& a = *acts_;
  std::copy(tokens, tokens + N, a.tokens.begin());
  std::copy(targets, targets + N, a.targets.begin());
  std::copy(weights, weights + N, a.weights.begin());

  const int64_t C = config_.hidden_size, I = config_.intermediate_size, H = config_.num_attention_heads;
  const int64_t KV = config_.num_key_value_heads, D = config_.head_dim(), QKV = config_.qkv_rows();
  const float eps = static_cast<float>(config_.rms_norm_eps);
  const cpu::AttentionShape shape{batch, seq, H, KV, D, QKV};

  timed("embedding", [&] { cpu::embedding_forward(a.layers[0].x_in.data(), a.tokens.data(), param(*embed_), N, C); });
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& w = layers_[l];
    auto& s = a.layers[l];
    float* x_out = l + 1 < layers_.size() ? a.layers[l + 1].x_in.data() : a.x_final.data();
    timed("rmsnorm",
          [&] { cpu::rmsnorm_forward(s.ln1.data(), s.rstd1.data(), s.x_in.data(), param(*w.ln1), N, C, eps); });
    timed("linear", [&] { cpu::linear_forward(s.qkv.data(), s.ln1.data(), param(*w.qkv), N, C, QKV); });
    timed("rope",
          [&] { cpu::rope_forward(s.qkv.data(), QKV, N, H, D, a.pos.data(), a.rope_cos.data(), a.rope_sin.data()); });
    timed("rope", [&] {
      cpu::rope_forward(s.qkv.data() + H * D, QKV, N, KV, D, a.pos.data(), a.rope_cos.data(), a.rope_sin.data());
    });
    timed("attention", [&] {
      cpu::attention_forward(s.attn.data(), s.probs.data(), s.qkv.data(), s.qkv.data() + H * D,
                             s.qkv.data() + (H + KV) * D, shape);
    });
    timed("linear", [&] { cpu::linear_forward(s.x_mid.data(), s.attn.data(), param(*w.o), N, H * D, C); });
    timed("residual", [&] { add_inplace(s.x_mid.data(), s.x_in.data(), N * C); });
    timed("rmsnorm",
          [&] { cpu::rmsnorm_forward(s.ln2.data(), s.rstd2.data(), s.x_mid.data(), param(*w.ln2), N, C, eps); });
    timed("linear", [&] { cpu::linear_forward(s.gate_up.data(), s.ln2.data(), param(*w.gate_up), N, C, 2 * I); });
    timed("swiglu", [&] { cpu::swiglu_forward(s.h.data(), s.gate_up.data(), N, I); });
    timed("linear", [&] { cpu::linear_forward(x_out, s.h.data(), param(*w.down), N, I, C); });
    timed("residual", [&] { add_inplace(x_out, s.x_mid.data(), N * C); });
  }
  timed("rmsnorm",
        [&] { cpu::rmsnorm_forward(a.lnf.data(), a.rstdf.data(), a.x_final.data(), param(*norm_), N, C, eps); });
  timed("linear", [&] { cpu::linear_forward(a.logits.data(), a.lnf.data(), param(*head_), N, C, V); });
  timed("cross_entropy", [&] {
    cpu::cross_entropy_forward(a.token_loss.data(), a.lse.data(), a.logits.data(), a.targets.data(), N, V);
  });
  a.have_forward = true;

  ForwardLoss loss;
  for (int64_t r = 0; r < N; ++r) {
    loss.weighted_sum += static_cast<double>(a.weights[r]) * a.token_loss[r];
    loss.weight_sum += a.weights[r];
  }
  return loss;
}

std::span<const float> LlamaModel::logits() const {
  if (!acts_) return {};
  return acts_->logits;
}
std::span<const float> LlamaModel::token_losses() const {
  if (!acts_) return {};
  return acts_->token_loss;
}

void LlamaModel::backward(float normalizer) {
  if (!acts_ || !acts_->have_forward) throw InputError("backward() called without a preceding forward()");
  if (!(normalizer > 0))
    throw InputError("backward(): loss normalizer must be positive, got " + std::to_string(normalizer));
  Activations& a = *acts_;
  a.have_forward = false;  // the logits become gradients below
  const int64_t N = a.batch * a.seq, C = config_.hidden_size, I = config_.intermediate_size;
  const int64_t V = config_.vocab_size, H = config_.num_attention_heads, KV = config_.num_key_value_heads;
  const int64_t D = config_.head_dim(), QKV = config_.qkv_rows();
  const cpu::AttentionShape shape{a.batch, a.seq, H, KV, D, QKV};

  timed("cross_entropy", [&] {
    cpu::cross_entropy_backward(a.logits.data(), a.lse.data(), a.targets.data(), a.weights.data(), normalizer, N, V);
  });
  timed("linear", [&] {
    cpu::linear_backward(a.d_ln.data(), grad(*head_), a.logits.data(), a.lnf.data(), param(*head_), N, C, V, false);
  });
  std::fill(a.d_res.begin(), a.d_res.end(), 0.0f);
  timed("rmsnorm", [&] {
    cpu::rmsnorm_backward(a.d_res.data(), grad(*norm_), a.d_ln.data(), a.x_final.data(), param(*norm_), a.rstdf.data(),
                          N, C);
  });
  for (size_t li = layers_.size(); li-- > 0;) {
    const Layer& w = layers_[li];
    auto& s = a.layers[li];
    // MLP block: x_out = x_mid + down(swiglu(gate_up(norm2(x_mid)))).
    timed("linear", [&] {
      cpu::linear_backward(a.d_h.data(), grad(*w.down), a.d_res.data(), s.h.data(), param(*w.down), N, I, C, false);
    });
    timed("swiglu", [&] { cpu::swiglu_backward(a.d_gate_up.data(), a.d_h.data(), s.gate_up.data(), N, I); });
    timed("linear", [&] {
      cpu::linear_backward(a.d_ln.data(), grad(*w.gate_up), a.d_gate_up.data(), s.ln2.data(), param(*w.gate_up), N, C,
                           2 * I, false);
    });
    timed("rmsnorm", [&] {
      cpu::rmsnorm_backward(a.d_res.data(), grad(*w.ln2), a.d_ln.data(), s.x_mid.data(), param(*w.ln2), s.rstd2.data(),
                            N, C);
    });
    // Attention block: x_mid = x_in + o(attn(rope(qkv(norm1(x_in))))).
    timed("linear", [&] {
      cpu::linear_backward(a.d_attn.data(), grad(*w.o), a.d_res.data(), s.attn.data(), param(*w.o), N, H * D, C, false);
    });
    float* dq = a.d_qkv.data();
    timed("attention", [&] {
      cpu::attention_backward(dq, dq + H * D, dq + (H + KV) * D, a.d_scores.data(), a.d_attn.data(), s.attn.data(),
                              s.probs.data(), s.qkv.data(), s.qkv.data() + H * D, s.qkv.data() + (H + KV) * D, shape);
    });
    timed("rope", [&] { cpu::rope_backward(dq, QKV, N, H, D, a.pos.data(), a.rope_cos.data(), a.rope_sin.data()); });
    timed("rope",
          [&] { cpu::rope_backward(dq + H * D, QKV, N, KV, D, a.pos.data(), a.rope_cos.data(), a.rope_sin.data()); });
    timed("linear", [&] {
      cpu::linear_backward(a.d_ln.data(), grad(*w.qkv), dq, s.ln1.data(), param(*w.qkv), N, C, QKV, false);
    });
    timed("rmsnorm", [&] {
      cpu::rmsnorm_backward(a.d_res.data(), grad(*w.ln1), a.d_ln.data(), s.x_in.data(), param(*w.ln1), s.rstd1.data(),
                            N, C);
    });
  }
  timed("embedding", [&] { cpu::embedding_backward(grad(*embed_), a.d_res.data(), a.tokens.data(), N, C); });
}

size_t LlamaModel::memory_bytes() const {
  return (params_.size() + grads_.size()) * sizeof(float) + (acts_ ? acts_->bytes() : 0);
}

}  // namespace loong
