#include "generate/kv_cache_decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "core/error.h"
#include "ops/cpu/ops.h"

namespace loong {

namespace cpu = ops::cpu;

KvCacheDecoder::KvCacheDecoder(const LlamaModel& model, int64_t capacity, int64_t batch)
    : model_(model), capacity_(capacity), batch_(batch) {
  const auto& c = model.config();
  const auto& s = model.shard();
  if (s.tp_size != 1 || !s.has_embedding || !s.has_head || s.first_layer != 0 || s.last_layer != c.num_hidden_layers)
    throw InputError("KV-cache decoding needs the whole model in one process (tp = 1, one pipeline stage)");
  if (capacity < 1 || capacity > c.max_position_embeddings)
    throw InputError("KV cache of " + std::to_string(capacity) + " positions; the model allows 1.." +
                     std::to_string(c.max_position_embeddings));
  if (batch < 1 || batch > 4096) throw InputError("KV-cache decoding of " + std::to_string(batch) + " sequences; 1..4096");
  C_ = c.hidden_size, D_ = c.head_dim(), H_ = c.num_attention_heads, KV_ = c.num_key_value_heads;
  I_ = c.intermediate_size, V_ = c.vocab_size, QKV_ = c.qkv_rows();
  auto w = [&](const std::string& name) { return model.param(model.tensor(name)); };
  embed_ = w("model.embed_tokens.weight");
  norm_ = w("model.norm.weight");
  head_ = w("lm_head.weight");
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    // q/k/v and gate/up are adjacent in the parameter buffer (LlamaModel): one fused GEMM each.
    layers_.push_back({w(p + "input_layernorm.weight"), w(p + "self_attn.q_proj.weight"),
                       w(p + "self_attn.o_proj.weight"), w(p + "post_attention_layernorm.weight"),
                       w(p + "mlp.gate_proj.weight"), w(p + "mlp.down_proj.weight")});
    if (w(p + "self_attn.k_proj.weight") != layers_.back().qkv + H_ * D_ * C_ ||
        w(p + "mlp.up_proj.weight") != layers_.back().gate_up + I_ * C_)
      throw InputError("KV-cache decoding: layer " + std::to_string(l) +
                       " does not keep q/k/v and gate/up adjacent as LlamaModel lays them out");
  }
  const int64_t B = batch_;
  k_cache_.assign(static_cast<size_t>(c.num_hidden_layers * B * capacity * KV_ * D_), 0.0f);
  v_cache_.assign(k_cache_.size(), 0.0f);
  x_.resize(B * C_), ln_.resize(B * C_), qkv_.resize(B * QKV_), attn_.resize(B * H_ * D_), tmp_.resize(B * C_);
  gate_up_.resize(B * 2 * I_), h_.resize(B * I_), logits_.resize(B * V_), scores_.resize(capacity), rstd_.resize(B);
  pos_rows_.resize(B);
  rope_cos_.resize(capacity * D_ / 2), rope_sin_.resize(capacity * D_ / 2);
  cpu::rope_tables(rope_cos_.data(), rope_sin_.data(), capacity, D_, c.rope_theta);
}

std::span<const float> KvCacheDecoder::step(std::span<const int32_t> tokens) {
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
  const float eps = static_cast<float>(c.rms_norm_eps);
  std::fill(pos_rows_.begin(), pos_rows_.end(), static_cast<int32_t>(pos_));
  const int64_t group = H_ / KV_, row = KV_ * D_;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D_));
  cpu::embedding_forward(x_.data(), tokens.data(), embed_, B, C_);
  for (size_t l = 0; l < layers_.size(); ++l) {
    const LayerWeights& w = layers_[l];
    cpu::rmsnorm_forward(ln_.data(), rstd_.data(), x_.data(), w.ln1, B, C_, eps);
    cpu::linear_forward(qkv_.data(), ln_.data(), w.qkv, B, C_, QKV_);
    cpu::rope_forward(qkv_.data(), QKV_, B, H_, D_, pos_rows_.data(), rope_cos_.data(), rope_sin_.data());
    cpu::rope_forward(qkv_.data() + H_ * D_, QKV_, B, KV_, D_, pos_rows_.data(), rope_cos_.data(), rope_sin_.data());
    const int64_t n = pos_ + 1;
    for (int64_t b = 0; b < B; ++b) {
      float* kc = k_cache_.data() + (static_cast<int64_t>(l) * B + b) * capacity_ * row;
      float* vc = v_cache_.data() + (static_cast<int64_t>(l) * B + b) * capacity_ * row;
      const float* qkv = qkv_.data() + b * QKV_;
      std::memcpy(kc + pos_ * row, qkv + H_ * D_, row * sizeof(float));
      std::memcpy(vc + pos_ * row, qkv + (H_ + KV_) * D_, row * sizeof(float));
      for (int64_t h = 0; h < H_; ++h) {
        const float* q = qkv + h * D_;
        const int64_t kvh = h / group;
        float mx = -INFINITY;
        for (int64_t j = 0; j < n; ++j) {
          const float* k = kc + j * row + kvh * D_;
          float s = 0;
          for (int64_t d = 0; d < D_; ++d) s += q[d] * k[d];
          scores_[j] = s * scale;
          mx = std::max(mx, scores_[j]);
        }
        float sum = 0;
        for (int64_t j = 0; j < n; ++j) sum += (scores_[j] = std::exp(scores_[j] - mx));
        float* o = attn_.data() + (b * H_ + h) * D_;
        std::fill(o, o + D_, 0.0f);
        for (int64_t j = 0; j < n; ++j) {
          const float p = scores_[j] / sum;
          const float* v = vc + j * row + kvh * D_;
          for (int64_t d = 0; d < D_; ++d) o[d] += p * v[d];
        }
      }
    }
    cpu::linear_forward(tmp_.data(), attn_.data(), w.o, B, H_ * D_, C_);
    for (int64_t i = 0; i < B * C_; ++i) x_[i] += tmp_[i];
    cpu::rmsnorm_forward(ln_.data(), rstd_.data(), x_.data(), w.ln2, B, C_, eps);
    cpu::linear_forward(gate_up_.data(), ln_.data(), w.gate_up, B, C_, 2 * I_);
    cpu::swiglu_forward(h_.data(), gate_up_.data(), B, I_);
    cpu::linear_forward(tmp_.data(), h_.data(), w.down, B, I_, C_);
    for (int64_t i = 0; i < B * C_; ++i) x_[i] += tmp_[i];
  }
  cpu::rmsnorm_forward(ln_.data(), rstd_.data(), x_.data(), norm_, B, C_, eps);
  cpu::linear_forward(logits_.data(), ln_.data(), head_, B, C_, V_);
  ++pos_;
  return logits_;
}

std::span<const float> KvCacheDecoder::prefill(std::span<const int32_t> prompts) {
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

void guided_logits(std::span<const float> cond, std::span<const float> uncond, float scale, int64_t begin,
                   int64_t end, std::span<float> out) {
  if (cond.size() != uncond.size() || out.size() != cond.size() || begin < 0 || end < begin ||
      end > static_cast<int64_t>(cond.size()))
    throw InputError("guided logits: rows of " + std::to_string(cond.size()) + ", " + std::to_string(uncond.size()) +
                     ", " + std::to_string(out.size()) + " for range [" + std::to_string(begin) + ", " +
                     std::to_string(end) + ")");
  for (int64_t i = begin; i < end; ++i) out[i] = uncond[i] + scale * (cond[i] - uncond[i]);
}

int32_t sample_top_k_in_range(std::span<const float> logits, int64_t begin, int64_t end, int64_t k, float temperature,
                              std::mt19937_64& rng) {
  if (begin < 0 || end > static_cast<int64_t>(logits.size()) || begin >= end)
    throw InputError("sampling range [" + std::to_string(begin) + ", " + std::to_string(end) + ") outside the logits");
  const int64_t n = end - begin;
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), begin);
  const int64_t keep = k <= 0 || k > n ? n : k;
  std::partial_sort(idx.begin(), idx.begin() + keep, idx.end(),
                    [&](int64_t a, int64_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  if (temperature <= 0) return static_cast<int32_t>(idx[0]);
  std::vector<double> p(keep);
  const double mx = logits[idx[0]];
  double sum = 0;
  for (int64_t i = 0; i < keep; ++i) sum += (p[i] = std::exp((logits[idx[i]] - mx) / temperature));
  // A uniform draw from the top 53 bits of the generator (the standard fixes mt19937_64's output).
  const double u = static_cast<double>(rng() >> 11) / 9007199254740992.0 * sum;
  double acc = 0;
  for (int64_t i = 0; i < keep; ++i) {
    acc += p[i];
    if (u < acc) return static_cast<int32_t>(idx[i]);
  }
  return static_cast<int32_t>(idx[keep - 1]);
}

int32_t sample_top_k(std::span<const float> logits, int64_t k, float temperature, std::mt19937_64& rng) {
  return sample_top_k_in_range(logits, 0, static_cast<int64_t>(logits.size()), k, temperature, rng);
}

}  // namespace loong
