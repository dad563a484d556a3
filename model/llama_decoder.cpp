#include "model/llama_decoder.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/error.h"
#include "model/llama_block.h"
#include "ops/cpu/ops.h"

namespace loong {

namespace cpu = ops::cpu;

LlamaDecoder::LlamaDecoder(const LlamaModel& model, int64_t capacity, int64_t batch)
    : model_(model), capacity_(capacity), batch_(batch) {
  const auto& c = model.config();
  const auto& s = model.shard();
  if (s.tp_size != 1 || !s.has_embedding || !s.has_head || s.first_layer != 0 || s.last_layer != c.num_hidden_layers)
    throw InputError("KV-cache decoding needs the whole model in one process (tp = 1, one pipeline stage)");
  if (capacity < 1 || capacity > c.max_position_embeddings)
    throw InputError("KV cache of " + std::to_string(capacity) + " positions; the model allows 1.." +
                     std::to_string(c.max_position_embeddings));
  if (batch < 1 || batch > 4096)
    throw InputError("KV-cache decoding of " + std::to_string(batch) + " sequences; 1..4096");
  C_ = c.hidden_size, D_ = c.head_dim(), H_ = c.num_attention_heads, KV_ = c.num_key_value_heads;
  I_ = c.intermediate_size, V_ = c.vocab_size, QKV_ = c.qkv_rows();
  const int64_t B = batch_;
  k_cache_.assign(static_cast<size_t>(c.num_hidden_layers * B * capacity * KV_ * D_), 0.0f);
  v_cache_.assign(k_cache_.size(), 0.0f);
  x_.resize(B * C_), ln_.resize(B * C_), qkv_.resize(B * QKV_), attn_.resize(B * H_ * D_), tmp_.resize(B * C_);
  gate_up_.resize(B * 2 * I_), h_.resize(B * I_), logits_.resize(B * V_), scores_.resize(capacity), rstd_.resize(B);
  pos_rows_.resize(B);
  rope_cos_.resize(capacity * D_ / 2), rope_sin_.resize(capacity * D_ / 2);
  cpu::rope_tables(rope_cos_.data(), rope_sin_.data(), capacity, D_, c.rope_theta);
}

std::span<const float> LlamaDecoder::step(std::span<const int32_t> tokens) {
  const int64_t B = batch_;
  if (static_cast<int64_t>(tokens.size()) != B)
    throw InputError("KV-cache step with " + std::to_string(tokens.size()) + " tokens for " + std::to_string(B) +
                     " sequences");
  if (pos_ >= capacity_)
    throw InputError("KV cache full at " + std::to_string(capacity_) + " positions (the model's trained length)");
  for (int32_t token : tokens)
    if (token < 0 || token >= V_)
      throw InputError("token id " + std::to_string(token) + " is outside the vocabulary [0, " + std::to_string(V_) +
                       ")");
  const auto& c = model_.config();
  const llama_block::Dims dims{C_, D_, H_, KV_, I_, static_cast<float>(c.rms_norm_eps)};
  std::fill(pos_rows_.begin(), pos_rows_.end(), static_cast<int32_t>(pos_));
  const int64_t row = KV_ * D_, per_seq = capacity_ * row;
  const cpu::DecodeAttentionShape shape{B, pos_ + 1, H_, KV_, D_, QKV_, per_seq};
  cpu::embedding_forward(x_.data(), tokens.data(), model_.param(*model_.embedding()), B, C_);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const LlamaLayer& w = model_.layer(l);
    llama_block::attention_input(model_, w, dims, B, x_.data(), ln_.data(), rstd_.data(), qkv_.data(), pos_rows_.data(),
                                 rope_cos_.data(), rope_sin_.data(), nullptr);
    // This position's k and v (after RoPE) join each sequence's cache, then attention reads it whole.
    float* kc = k_cache_.data() + l * B * per_seq;
    float* vc = v_cache_.data() + l * B * per_seq;
    for (int64_t b = 0; b < B; ++b) {
      const float* qkv = qkv_.data() + b * QKV_;
      std::memcpy(kc + b * per_seq + pos_ * row, qkv + H_ * D_, row * sizeof(float));
      std::memcpy(vc + b * per_seq + pos_ * row, qkv + (H_ + KV_) * D_, row * sizeof(float));
    }
    cpu::attention_decode(attn_.data(), scores_.data(), qkv_.data(), kc, vc, shape);
    llama_block::attention_output(model_, w, dims, B, attn_.data(), tmp_.data(), nullptr);
    llama_block::add_residual(x_.data(), tmp_.data(), B * C_);
    llama_block::mlp(model_, w, dims, B, x_.data(), ln_.data(), rstd_.data(), gate_up_.data(), h_.data(), tmp_.data(),
                     nullptr);
    llama_block::add_residual(x_.data(), tmp_.data(), B * C_);
  }
  llama_block::head(model_, dims, B, V_, x_.data(), ln_.data(), rstd_.data(), logits_.data(), nullptr);
  ++pos_;
  return logits_;
}

std::span<const float> LlamaDecoder::prefill(std::span<const int32_t> prompts) {
  if (prompts.empty() || prompts.size() % static_cast<size_t>(batch_) != 0)
    throw InputError("prefill with " + std::to_string(prompts.size()) + " tokens for " + std::to_string(batch_) +
                     " sequences (need the same positive count per sequence)");
  const size_t n = prompts.size() / static_cast<size_t>(batch_);
  std::vector<int32_t> column(static_cast<size_t>(batch_));
  std::span<const float> out;
  for (size_t t = 0; t < n; ++t) {
    for (int64_t b = 0; b < batch_; ++b) column[static_cast<size_t>(b)] = prompts[static_cast<size_t>(b) * n + t];
    out = step(column);
  }
  return out;
}

}  // namespace loong
