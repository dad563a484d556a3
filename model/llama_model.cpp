#include "model/llama_model.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "core/error.h"
#include "core/memory_budget.h"
#include "model/llama_block.h"
#include "ops/cpu/ops.h"

namespace loong {

namespace cpu = ops::cpu;

// Activations one micro-batch keeps from its forward until its backward.
struct LlamaModel::Slot {
  std::vector<int32_t> tokens_local, targets_local;  // ids relative to this vocab shard, -1 if elsewhere
  std::vector<float> weights;
  struct PerLayer {
    std::vector<float> x_in, ln1, rstd1, qkv, probs, attn, x_mid, ln2, rstd2, gate_up, h;
  };
  std::vector<PerLayer> layers;
  std::vector<float> x_out, lnf, rstdf, logits, lse, token_loss;
  bool have_forward = false;
};

// Buffers shared by all slots: tables, and gradient scratch reused layer after layer.
struct LlamaModel::Scratch {
  std::vector<int32_t> pos;
  std::vector<float> rope_cos, rope_sin;
  std::vector<float> d_res, d_ln, d_qkv, d_attn, d_gate_up, d_h, d_scores, picked;
};

namespace {
template <class... V>
size_t bytes_of(const V&... v) {
  return ((v.size() * sizeof(v[0])) + ...);
}

// Counter-based normal samples: element i of tensor `name` gets the same value whatever shard holds it.
uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
uint64_t hash_name(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}
float normal_at(uint64_t key, uint64_t index) {
  const uint64_t a = splitmix64(key ^ splitmix64(2 * index)), b = splitmix64(key ^ splitmix64(2 * index + 1));
  const double u1 = (static_cast<double>(a >> 11) + 1.0) / 9007199254740993.0;  // (0, 1]
  const double u2 = static_cast<double>(b >> 11) / 9007199254740992.0;
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
}
}  // namespace

ModelShard ModelShard::for_grid(const LlamaConfig& c, int tp_rank, int tp, int pp_rank, int pp) {
  auto need = [&](const char* what, int64_t value, int degree, const char* knob) {
    if (value % degree != 0)
      throw ConfigError(std::string(what) + " = " + std::to_string(value) + " is not divisible by " + knob + " = " +
                        std::to_string(degree) + "; choose " + knob + " dividing it or change the model");
  };
  need("num_attention_heads", c.num_attention_heads, tp, "parallel.tp");
  need("num_key_value_heads", c.num_key_value_heads, tp, "parallel.tp");
  need("intermediate_size", c.intermediate_size, tp, "parallel.tp");
  need("vocab_size", c.vocab_size, tp, "parallel.tp");
  need("num_hidden_layers", c.num_hidden_layers, pp, "parallel.pp");
  ModelShard s;
  s.tp_rank = tp_rank;
  s.tp_size = tp;
  const int64_t per = c.num_hidden_layers / pp;
  s.first_layer = pp_rank * per;
  s.last_layer = s.first_layer + per;
  s.has_embedding = pp_rank == 0;
  s.has_head = pp_rank == pp - 1;
  return s;
}

LlamaModel::LlamaModel(const LlamaConfig& config, const ModelShard& shard, Communicator* tp)
    : config_(config), shard_(shard), tp_(tp) {
  config_.validate("model config");
  if (shard_.last_layer < 0) shard_.last_layer = config_.num_hidden_layers;
  const int T = shard_.tp_size;
  if (T < 1 || shard_.tp_rank < 0 || shard_.tp_rank >= T)
    throw ConfigError("model shard: tp rank " + std::to_string(shard_.tp_rank) + " of " + std::to_string(T));
  if (shard_.first_layer < 0 || shard_.first_layer > shard_.last_layer || shard_.last_layer > config_.num_hidden_layers)
    throw ConfigError("model shard: layers [" + std::to_string(shard_.first_layer) + ", " +
                      std::to_string(shard_.last_layer) + ") outside the model's " +
                      std::to_string(config_.num_hidden_layers));
  if (T > 1) ModelShard::for_grid(config_, 0, T, 0, 1);  // divisibility checks with clear messages
  if (!tp_) {
    if (T > 1) throw ConfigError("model shard with tp_size " + std::to_string(T) + " needs a tensor-parallel group");
    own_tp_ = std::make_unique<LocalCommunicator>("tp group");
    tp_ = own_tp_.get();
  }
  if (tp_->size() != T)
    throw ConfigError("tensor-parallel group has " + std::to_string(tp_->size()) + " ranks, shard expects " +
                      std::to_string(T));
  const int64_t C = config_.hidden_size, D = config_.head_dim();
  heads_ = config_.num_attention_heads / T;
  kv_heads_ = config_.num_key_value_heads / T;
  inter_ = config_.intermediate_size / T;
  vocab_ = config_.vocab_size / T;
  vocab_begin_ = shard_.tp_rank * vocab_;

  {
    // The same count in floating point first, so that a huge config is refused with its figure
    // before any 64-bit size arithmetic could overflow.
    const double Cd = static_cast<double>(C), layers = static_cast<double>(shard_.last_layer - shard_.first_layer);
    const double per_layer = Cd * static_cast<double>(config_.qkv_rows() + config_.num_attention_heads * D) +
                             3.0 * Cd * static_cast<double>(config_.intermediate_size) + 2.0 * Cd;
    const double n = (layers * per_layer + 2.0 * Cd * static_cast<double>(config_.vocab_size)) / T;
    char count[48];
    std::snprintf(count, sizeof count, "%.3g", n);
    require_memory(n * 4 * 4,
                   std::string("model (") + count + " parameters on this rank: weights, gradients, AdamW moments)");
  }
  int64_t offset = 0;
  auto add = [&](std::string name, std::vector<int64_t> full, int shard_dim, bool decay) {
    std::vector<int64_t> local = full;
    if (shard_dim >= 0) local[shard_dim] /= T;
    int64_t n = 1;
    for (int64_t d : local) n *= d;
    tensors_.push_back({std::move(name), std::move(local), std::move(full), T > 1 ? shard_dim : -1, offset, n, decay});
    offset += n;
  };
  const int64_t H = config_.num_attention_heads, KV = config_.num_key_value_heads, I = config_.intermediate_size;
  const int64_t V = config_.vocab_size;
  if (shard_.has_embedding) add("model.embed_tokens.weight", {V, C}, 0, true);
  for (int64_t l = shard_.first_layer; l < shard_.last_layer; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {C}, -1, false);
    add(p + "self_attn.q_proj.weight", {H * D, C}, 0, true);  // q, k, v adjacent: one fused GEMM
    add(p + "self_attn.k_proj.weight", {KV * D, C}, 0, true);
    add(p + "self_attn.v_proj.weight", {KV * D, C}, 0, true);
    add(p + "self_attn.o_proj.weight", {C, H * D}, 1, true);
    add(p + "post_attention_layernorm.weight", {C}, -1, false);
    add(p + "mlp.gate_proj.weight", {I, C}, 0, true);  // gate, up adjacent: one fused GEMM
    add(p + "mlp.up_proj.weight", {I, C}, 0, true);
    add(p + "mlp.down_proj.weight", {C, I}, 1, true);
  }
  if (shard_.has_head) {
    add("model.norm.weight", {C}, -1, false);
    add("lm_head.weight", {V, C}, 0, true);
  }
  // Weights and gradients here, two AdamW moments in the optimizer: refuse a model that cannot
  // be trained on this machine before allocating any of it.
  require_memory(static_cast<double>(offset) * 4 * 4,
                 "model (" + std::to_string(offset) + " parameters on this rank: weights, gradients, AdamW moments)");
  params_.assign(offset, 0.0f);
  grads_.assign(offset, 0.0f);

  // Views by name (tensors_ is complete, so the pointers stay valid). The fused GEMMs read q/k/v
  // and gate/up as one weight each, which the order of add() above guarantees; checked here so a
  // change of that order fails loudly instead of computing with the wrong rows.
  embed_ = find_tensor("model.embed_tokens.weight");
  for (int64_t l = shard_.first_layer; l < shard_.last_layer; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    auto at = [&](const char* name) { return &tensor(p + name); };
    const LlamaLayer w{at("input_layernorm.weight"),  at("self_attn.q_proj.weight"),
                       at("self_attn.o_proj.weight"), at("post_attention_layernorm.weight"),
                       at("mlp.gate_proj.weight"),    at("mlp.down_proj.weight")};
    auto follows = [](const ParamTensor* a, const ParamTensor* b) { return b->offset == a->offset + a->numel; };
    const ParamTensor *k = at("self_attn.k_proj.weight"), *v = at("self_attn.v_proj.weight");
    if (!follows(w.qkv_proj, k) || !follows(k, v) || !follows(w.gate_up_proj, at("mlp.up_proj.weight")))
      throw std::logic_error("LlamaModel: layer " + std::to_string(l) + " does not keep q/k/v and gate/up adjacent");
    layers_.push_back(w);
  }
  norm_ = find_tensor("model.norm.weight");
  head_ = find_tensor("lm_head.weight");
}

const LlamaLayer& LlamaModel::layer(int64_t l) const {
  if (l < shard_.first_layer || l >= shard_.last_layer)
    throw InputError("model shard holds layers [" + std::to_string(shard_.first_layer) + ", " +
                     std::to_string(shard_.last_layer) + "), not layer " + std::to_string(l));
  return layers_[static_cast<size_t>(l - shard_.first_layer)];
}

LlamaModel::~LlamaModel() = default;

const ParamTensor* LlamaModel::find_tensor(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

const ParamTensor& LlamaModel::tensor(const std::string& name) const {
  if (const auto* t = find_tensor(name)) return *t;
  throw InputError("model shard has no tensor '" + name + "'");
}

void slice_for_shard(const ParamTensor& t, int tp_rank, const float* full, float* dst) {
  if (t.shard_dim < 0) {
    std::memcpy(dst, full, t.numel * sizeof(float));
  } else if (t.shard_dim == 0) {
    std::memcpy(dst, full + tp_rank * t.numel, t.numel * sizeof(float));
  } else {
    const int64_t rows = t.shape[0], cols = t.shape[1], full_cols = t.full_shape[1];
    for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * cols, full + r * full_cols + tp_rank * cols, cols * 4);
  }
}

void place_from_shard(const ParamTensor& t, int tp_rank, const float* src, float* full) {
  if (t.shard_dim < 0) {
    std::memcpy(full, src, t.numel * sizeof(float));
  } else if (t.shard_dim == 0) {
    std::memcpy(full + tp_rank * t.numel, src, t.numel * sizeof(float));
  } else {
    const int64_t rows = t.shape[0], cols = t.shape[1], full_cols = t.full_shape[1];
    for (int64_t r = 0; r < rows; ++r) std::memcpy(full + r * full_cols + tp_rank * cols, src + r * cols, cols * 4);
  }
}

void LlamaModel::init_random(uint64_t seed, float std) {
  const float out_std = std / std::sqrt(2.0f * static_cast<float>(config_.num_hidden_layers));
  std::vector<float> full;
  for (const auto& t : tensors_) {
    float* p = param(t);
    if (t.shape.size() == 1) {
      std::fill(p, p + t.numel, 1.0f);
      continue;
    }
    const bool residual_out = t.name.ends_with("o_proj.weight") || t.name.ends_with("down_proj.weight");
    const float s = residual_out ? out_std : std;
    const uint64_t key = splitmix64(seed) ^ hash_name(t.name);
    int64_t full_n = 1;
    for (int64_t d : t.full_shape) full_n *= d;
    full.resize(full_n);
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < full_n; ++k) full[k] = s * normal_at(key, static_cast<uint64_t>(k));
    slice_for_shard(t, shard_.tp_rank, full.data(), p);
  }
}

void LlamaModel::zero_grad() { std::fill(grads_.begin(), grads_.end(), 0.0f); }

void LlamaModel::set_slots(int slots) {
  if (slots < 1) throw InputError("set_slots: need at least one slot, got " + std::to_string(slots));
  if (slots != slots_) {
    slots_ = slots;
    batch_ = seq_ = 0;  // re-plan at the next forward
  }
}

void LlamaModel::plan(int64_t batch, int64_t seq) {
  if (batch == batch_ && seq == seq_ && static_cast<int>(slot_acts_.size()) == slots_) return;
  const int64_t N = batch * seq, C = config_.hidden_size, D = config_.head_dim();
  const int64_t QKV = (heads_ + 2 * kv_heads_) * D;
  slot_acts_.clear();
  for (int s = 0; s < slots_; ++s) {
    auto a = std::make_unique<Slot>();
    a->tokens_local.resize(N), a->targets_local.resize(N), a->weights.resize(N);
    a->layers.resize(layers_.size());
    for (auto& l : a->layers) {
      l.x_in.resize(N * C), l.ln1.resize(N * C), l.rstd1.resize(N), l.qkv.resize(N * QKV);
      l.probs.resize(batch * heads_ * seq * seq), l.attn.resize(N * heads_ * D), l.x_mid.resize(N * C);
      l.ln2.resize(N * C), l.rstd2.resize(N), l.gate_up.resize(N * 2 * inter_), l.h.resize(N * inter_);
    }
    a->x_out.resize(N * C);
    if (shard_.has_head) {
      a->lnf.resize(N * C), a->rstdf.resize(N), a->logits.resize(N * vocab_);
      a->lse.resize(N), a->token_loss.resize(N);
    }
    slot_acts_.push_back(std::move(a));
  }
  auto s = std::make_unique<Scratch>();
  s->pos.resize(N);
  for (int64_t r = 0; r < N; ++r) s->pos[r] = static_cast<int32_t>(r % seq);
  s->rope_cos.resize(seq * D / 2), s->rope_sin.resize(seq * D / 2);
  cpu::rope_tables(s->rope_cos.data(), s->rope_sin.data(), seq, D, config_.rope_theta);
  s->d_res.resize(N * C), s->d_ln.resize(N * C), s->d_qkv.resize(N * QKV), s->d_attn.resize(N * heads_ * D);
  s->d_gate_up.resize(N * 2 * inter_), s->d_h.resize(N * inter_), s->picked.resize(N);
  s->d_scores.resize(cpu::attention_scratch_floats({batch, seq, heads_, kv_heads_, D, QKV}));
  scratch_ = std::move(s);
  batch_ = batch;
  seq_ = seq;
}

template <class F>
void LlamaModel::timed(const char* family, F&& f) {
  llama_block::timed(op_times_, family, std::forward<F>(f));
}

void LlamaModel::tp_all_reduce(float* data, int64_t n) {
  if (tp_->size() > 1) timed("tp_comm", [&] { tp_->all_reduce_sum(data, n); });
}

ForwardLoss LlamaModel::forward_slot(int slot, const int32_t* tokens, const float* input, const int32_t* targets,
                                     const float* weights, int64_t batch, int64_t seq) {
  if (batch <= 0 || seq <= 0) throw InputError("forward: batch and seq must be positive");
  if (slot < 0 || slot >= slots_)
    throw InputError("forward: slot " + std::to_string(slot) + " of " + std::to_string(slots_));
  if (seq > config_.max_position_embeddings)
    throw InputError("sequence length " + std::to_string(seq) + " exceeds max_position_embeddings " +
                     std::to_string(config_.max_position_embeddings));
  const int64_t N = batch * seq, V = config_.vocab_size;
  auto check_ids = [&](const int32_t* ids, const char* what) {
    for (int64_t r = 0; r < N; ++r)
      if (ids[r] < 0 || ids[r] >= V)
        throw InputError(std::string(what) + " id " + std::to_string(ids[r]) + " at position " + std::to_string(r) +
                         " is outside the vocabulary [0, " + std::to_string(V) + ")");
  };
  if (shard_.has_embedding) check_ids(tokens, "token");
  if (shard_.has_head) {
    check_ids(targets, "target");
    for (int64_t r = 0; r < N; ++r)
      if (!std::isfinite(weights[r]) || weights[r] < 0)
        throw InputError("loss weight " + std::to_string(weights[r]) + " at position " + std::to_string(r) +
                         " is not a finite non-negative number");
  }
  plan(batch, seq);
  Slot& a = *slot_acts_[slot];
  Scratch& sc = *scratch_;
  const int64_t C = config_.hidden_size, D = config_.head_dim(), H = heads_, KV = kv_heads_, I = inter_;
  const int64_t QKV = (H + 2 * KV) * D;
  const float eps = static_cast<float>(config_.rms_norm_eps);
  const cpu::AttentionShape shape{batch, seq, H, KV, D, QKV};
  auto local_id = [&](int32_t id) {
    return id >= vocab_begin_ && id < vocab_begin_ + vocab_ ? static_cast<int32_t>(id - vocab_begin_) : -1;
  };

  float* x0 = layers_.empty() ? a.x_out.data() : a.layers[0].x_in.data();
  if (shard_.has_embedding) {
    for (int64_t r = 0; r < N; ++r) a.tokens_local[r] = local_id(tokens[r]);
    timed("embedding", [&] { cpu::embedding_forward(x0, a.tokens_local.data(), param(*embed_), N, C); });
    tp_all_reduce(x0, N * C);
  } else {
    if (!input) throw InputError("forward: a stage without the embedding needs input activations");
    std::memcpy(x0, input, N * C * sizeof(float));
  }
  const llama_block::Dims dims{C, D, H, KV, I, eps};
  for (size_t l = 0; l < layers_.size(); ++l) {
    const LlamaLayer& w = layer(shard_.first_layer + static_cast<int64_t>(l));
    auto& s = a.layers[l];
    float* x_out = l + 1 < layers_.size() ? a.layers[l + 1].x_in.data() : a.x_out.data();
    llama_block::attention_input(*this, w, dims, N, s.x_in.data(), s.ln1.data(), s.rstd1.data(), s.qkv.data(),
                                 sc.pos.data(), sc.rope_cos.data(), sc.rope_sin.data(), op_times_);
    timed("attention", [&] {
      cpu::attention_forward(s.attn.data(), s.probs.data(), s.qkv.data(), s.qkv.data() + H * D,
                             s.qkv.data() + (H + KV) * D, shape);
    });
    llama_block::attention_output(*this, w, dims, N, s.attn.data(), s.x_mid.data(), op_times_);
    tp_all_reduce(s.x_mid.data(), N * C);  // row-parallel o_proj: sum the partial products
    timed("residual", [&] { llama_block::add_residual(s.x_mid.data(), s.x_in.data(), N * C); });
    llama_block::mlp(*this, w, dims, N, s.x_mid.data(), s.ln2.data(), s.rstd2.data(), s.gate_up.data(), s.h.data(),
                     x_out, op_times_);
    tp_all_reduce(x_out, N * C);  // row-parallel down_proj
    timed("residual", [&] { llama_block::add_residual(x_out, s.x_mid.data(), N * C); });
  }
  a.have_forward = true;
  ForwardLoss loss;
  if (!shard_.has_head) return loss;

  std::copy(weights, weights + N, a.weights.begin());
  for (int64_t r = 0; r < N; ++r) a.targets_local[r] = local_id(targets[r]);
  llama_block::head(*this, dims, N, vocab_, a.x_out.data(), a.lnf.data(), a.rstdf.data(), a.logits.data(), op_times_);
  if (tp_->size() == 1) {
    timed("cross_entropy", [&] {
      cpu::cross_entropy_forward(a.token_loss.data(), a.lse.data(), a.logits.data(), a.targets_local.data(), N, vocab_);
    });
  } else {
    // Vocab-parallel cross-entropy: combine max, sum of exponentials and the target logit over tp.
    timed("cross_entropy", [&] { cpu::logits_row_max(a.lse.data(), a.logits.data(), N, vocab_); });
    if (tp_->size() > 1) timed("tp_comm", [&] { tp_->all_reduce_max(a.lse.data(), N); });
    timed("cross_entropy",
          [&] { cpu::logits_row_sumexp(a.token_loss.data(), a.logits.data(), a.lse.data(), N, vocab_); });
    tp_all_reduce(a.token_loss.data(), N);
    timed("cross_entropy",
          [&] { cpu::logits_pick(sc.picked.data(), a.logits.data(), a.targets_local.data(), N, vocab_); });
    tp_all_reduce(sc.picked.data(), N);
    for (int64_t r = 0; r < N; ++r) {
      a.lse[r] += std::log(a.token_loss[r]);
      a.token_loss[r] = a.lse[r] - sc.picked[r];
    }
  }
  for (int64_t r = 0; r < N; ++r) {
    loss.weighted_sum += static_cast<double>(a.weights[r]) * a.token_loss[r];
    loss.weight_sum += a.weights[r];
  }
  return loss;
}

const float* LlamaModel::stage_output(int slot) const { return slot_acts_.at(slot)->x_out.data(); }

std::span<const float> LlamaModel::logits(int slot) const {
  if (slot >= static_cast<int>(slot_acts_.size())) return {};
  return slot_acts_[slot]->logits;
}
std::span<const float> LlamaModel::token_losses(int slot) const {
  if (slot >= static_cast<int>(slot_acts_.size())) return {};
  return slot_acts_[slot]->token_loss;
}

const float* LlamaModel::backward_slot(int slot, const float* d_output, float normalizer) {
  if (slot < 0 || slot >= static_cast<int>(slot_acts_.size()) || !slot_acts_[slot]->have_forward)
    throw InputError("backward of slot " + std::to_string(slot) + " without a preceding forward");
  Slot& a = *slot_acts_[slot];
  Scratch& sc = *scratch_;
  a.have_forward = false;  // the logits become gradients below
  const int64_t N = batch_ * seq_, C = config_.hidden_size, D = config_.head_dim();
  const int64_t H = heads_, KV = kv_heads_, I = inter_, QKV = (H + 2 * KV) * D;
  const cpu::AttentionShape shape{batch_, seq_, H, KV, D, QKV};

  if (shard_.has_head) {
    if (!(normalizer > 0))
      throw InputError("backward: loss normalizer must be positive, got " + std::to_string(normalizer));
    timed("cross_entropy", [&] {
      cpu::cross_entropy_backward(a.logits.data(), a.lse.data(), a.targets_local.data(), a.weights.data(), normalizer,
                                  N, vocab_);
    });
    timed("linear", [&] {
      cpu::linear_backward(sc.d_ln.data(), grad(*head_), a.logits.data(), a.lnf.data(), param(*head_), N, C, vocab_,
                           false);
    });
    tp_all_reduce(sc.d_ln.data(), N * C);  // vocab-parallel head: input gradient is a partial sum
    std::fill(sc.d_res.begin(), sc.d_res.end(), 0.0f);
    timed("rmsnorm", [&] {
      cpu::rmsnorm_backward(sc.d_res.data(), grad(*norm_), sc.d_ln.data(), a.x_out.data(), param(*norm_),
                            a.rstdf.data(), N, C);
    });
  } else {
    if (!d_output) throw InputError("backward: a stage without the head needs the output gradient");
    std::memcpy(sc.d_res.data(), d_output, N * C * sizeof(float));
  }
  for (size_t li = layers_.size(); li-- > 0;) {
    const LlamaLayer& w = layers_[li];
    auto& s = a.layers[li];
    // MLP block: x_out = x_mid + down(swiglu(gate_up(norm2(x_mid)))).
    timed("linear", [&] {
      cpu::linear_backward(sc.d_h.data(), grad(*w.down_proj), sc.d_res.data(), s.h.data(), param(*w.down_proj), N, I, C,
                           false);
    });
    timed("swiglu", [&] { cpu::swiglu_backward(sc.d_gate_up.data(), sc.d_h.data(), s.gate_up.data(), N, I); });
    timed("linear", [&] {
      cpu::linear_backward(sc.d_ln.data(), grad(*w.gate_up_proj), sc.d_gate_up.data(), s.ln2.data(),
                           param(*w.gate_up_proj), N, C, 2 * I, false);
    });
    tp_all_reduce(sc.d_ln.data(), N * C);  // column-parallel gate/up: input gradient is a partial sum
    timed("rmsnorm", [&] {
      cpu::rmsnorm_backward(sc.d_res.data(), grad(*w.post_attention_layernorm), sc.d_ln.data(), s.x_mid.data(),
                            param(*w.post_attention_layernorm), s.rstd2.data(), N, C);
    });
    // Attention block: x_mid = x_in + o(attn(rope(qkv(norm1(x_in))))).
    timed("linear", [&] {
      cpu::linear_backward(sc.d_attn.data(), grad(*w.o_proj), sc.d_res.data(), s.attn.data(), param(*w.o_proj), N,
                           H * D, C, false);
    });
    float* dq = sc.d_qkv.data();
    timed("attention", [&] {
      cpu::attention_backward(dq, dq + H * D, dq + (H + KV) * D, sc.d_scores.data(), sc.d_attn.data(), s.attn.data(),
                              s.probs.data(), s.qkv.data(), s.qkv.data() + H * D, s.qkv.data() + (H + KV) * D, shape);
    });
    timed("rope", [&] {
      cpu::rope_backward(dq, QKV, N, H, D, sc.pos.data(), sc.rope_cos.data(), sc.rope_sin.data());
      cpu::rope_backward(dq + H * D, QKV, N, KV, D, sc.pos.data(), sc.rope_cos.data(), sc.rope_sin.data());
    });
    timed("linear", [&] {
      cpu::linear_backward(sc.d_ln.data(), grad(*w.qkv_proj), dq, s.ln1.data(), param(*w.qkv_proj), N, C, QKV, false);
    });
    tp_all_reduce(sc.d_ln.data(), N * C);  // column-parallel q/k/v
    timed("rmsnorm", [&] {
      cpu::rmsnorm_backward(sc.d_res.data(), grad(*w.input_layernorm), sc.d_ln.data(), s.x_in.data(),
                            param(*w.input_layernorm), s.rstd1.data(), N, C);
    });
  }
  if (shard_.has_embedding) {
    timed("embedding", [&] { cpu::embedding_backward(grad(*embed_), sc.d_res.data(), a.tokens_local.data(), N, C); });
    return nullptr;
  }
  return sc.d_res.data();
}

size_t LlamaModel::memory_bytes() const {
  size_t n = (params_.size() + grads_.size()) * sizeof(float);
  for (const auto& a : slot_acts_) {
    for (const auto& l : a->layers)
      n += bytes_of(l.x_in, l.ln1, l.rstd1, l.qkv, l.probs, l.attn, l.x_mid, l.ln2, l.rstd2, l.gate_up, l.h);
    n += bytes_of(a->tokens_local, a->targets_local, a->weights, a->x_out, a->lnf, a->rstdf, a->logits, a->lse,
                  a->token_loss);
  }
  if (scratch_) {
    const auto& s = *scratch_;
    n += bytes_of(s.pos, s.rope_cos, s.rope_sin, s.d_res, s.d_ln, s.d_qkv, s.d_attn, s.d_gate_up, s.d_h, s.d_scores,
                  s.picked);
  }
  return n;
}

}  // namespace loong
