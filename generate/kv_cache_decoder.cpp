#include "generate/kv_cache_decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "core/error.h"
#include "ops/cpu/ops.h"

namespace loong {

namespace cpu = ops::cpu;

KvCacheDecoder::KvCacheDecoder(const LlamaModel& model, int64_t capacity) : model_(model), capacity_(capacity) {
  const auto& c = model.config();
  const auto& s = model.shard();
  if (s.tp_size != 1 || !s.has_embedding || !s.has_head || s.first_layer != 0 || s.last_layer != c.num_hidden_layers)
    throw InputError("KV-cache decoding needs the whole model in one process (tp = 1, one pipeline stage)");
  if (capacity < 1 || capacity > c.max_position_embeddings)
    throw InputError("KV cache of " + std::to_string(capacity) + " positions; the model allows 1.." +
                     std::to_string(c.max_position_embeddings));
  C_ = c.hidden_size, D_ = c.head_dim(), H_ = c.num_attention_heads, KV_ = c.num_key_value_heads;
  I_ = c.intermediate_size, V_ = c.vocab_size, QKV_ = c.qkv_rows();
  k_cache_.assign(c.num_hidden_layers * capacity * KV_ * D_, 0.0f);
  v_cache_.assign(k_cache_.size(), 0.0f);
  x_.resize(C_), ln_.resize(C_), qkv_.resize(QKV_), attn_.resize(H_ * D_), tmp_.resize(C_);
  gate_up_.resize(2 * I_), h_.resize(I_), logits_.resize(V_), scores_.resize(capacity), rstd_.resize(1);
  rope_cos_.resize(capacity * D_ / 2), rope_sin_.resize(capacity * D_ / 2);
  cpu::rope_tables(rope_cos_.data(), rope_sin_.data(), capacity, D_, c.rope_theta);
}

std::span<const float> KvCacheDecoder::step(int32_t token) {
  if (pos_ >= capacity_)
    throw InputError("KV cache full at " + std::to_string(capacity_) + " positions (the model's trained length)");
  if (token < 0 || token >= V_)
    throw InputError("token id " + std::to_string(token) + " is outside the vocabulary [0, " + std::to_string(V_) +
                     ")");
  const auto& c = model_.config();
  const float eps = static_cast<float>(c.rms_norm_eps);
  const auto& T = model_.tensors();
  const float* W = model_.params().data();
  auto w = [&](size_t i) { return W + T[i].offset; };
  const int32_t pos = static_cast<int32_t>(pos_);
  const int64_t group = H_ / KV_;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D_));
  cpu::embedding_forward(x_.data(), &token, w(0), 1, C_);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const size_t b = 1 + 9 * static_cast<size_t>(l);  // tensor order: see LlamaModel's constructor
    cpu::rmsnorm_forward(ln_.data(), rstd_.data(), x_.data(), w(b), 1, C_, eps);
    cpu::linear_forward(qkv_.data(), ln_.data(), w(b + 1), 1, C_, QKV_);
    cpu::rope_forward(qkv_.data(), QKV_, 1, H_, D_, &pos, rope_cos_.data(), rope_sin_.data());
    cpu::rope_forward(qkv_.data() + H_ * D_, QKV_, 1, KV_, D_, &pos, rope_cos_.data(), rope_sin_.data());
    float* kc = k_cache_.data() + l * capacity_ * KV_ * D_;
    float* vc = v_cache_.data() + l * capacity_ * KV_ * D_;
    std::memcpy(kc + pos_ * KV_ * D_, qkv_.data() + H_ * D_, KV_ * D_ * sizeof(float));
    std::memcpy(vc + pos_ * KV_ * D_, qkv_.data() + (H_ + KV_) * D_, KV_ * D_ * sizeof(float));
    const int64_t n = pos_ + 1;
    for (int64_t h = 0; h < H_; ++h) {
      const float* q = qkv_.data() + h * D_;
      const int64_t kvh = h / group;
      float mx = -INFINITY;
      for (int64_t j = 0; j < n; ++j) {
        const float* k = kc + (j * KV_ + kvh) * D_;
        float s = 0;
        for (int64_t d = 0; d < D_; ++d) s += q[d] * k[d];
        scores_[j] = s * scale;
        mx = std::max(mx, scores_[j]);
      }
      float sum = 0;
      for (int64_t j = 0; j < n; ++j) sum += (scores_[j] = std::exp(scores_[j] - mx));
      float* o = attn_.data() + h * D_;
      std::fill(o, o + D_, 0.0f);
      for (int64_t j = 0; j < n; ++j) {
        const float p = scores_[j] / sum;
        const float* v = vc + (j * KV_ + kvh) * D_;
        for (int64_t d = 0; d < D_; ++d) o[d] += p * v[d];
      }
    }
    cpu::linear_forward(tmp_.data(), attn_.data(), w(b + 4), 1, H_ * D_, C_);
    for (int64_t i = 0; i < C_; ++i) x_[i] += tmp_[i];
    cpu::rmsnorm_forward(ln_.data(), rstd_.data(), x_.data(), w(b + 5), 1, C_, eps);
    cpu::linear_forward(gate_up_.data(), ln_.data(), w(b + 6), 1, C_, 2 * I_);
    cpu::swiglu_forward(h_.data(), gate_up_.data(), 1, I_);
    cpu::linear_forward(tmp_.data(), h_.data(), w(b + 8), 1, I_, C_);
    for (int64_t i = 0; i < C_; ++i) x_[i] += tmp_[i];
  }
  const size_t last = T.size();
  cpu::rmsnorm_forward(ln_.data(), rstd_.data(), x_.data(), w(last - 2), 1, C_, eps);
  cpu::linear_forward(logits_.data(), ln_.data(), w(last - 1), 1, C_, V_);
  ++pos_;
  return logits_;
}

std::span<const float> KvCacheDecoder::prefill(std::span<const int32_t> prompt) {
  if (prompt.empty()) throw InputError("prefill with an empty prompt");
  std::span<const float> out;
  for (int32_t t : prompt) out = step(t);
  return out;
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
