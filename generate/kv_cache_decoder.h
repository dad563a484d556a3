// Autoregressive decoding of a LlamaModel with a KV cache (CPU): each new token costs one row
// through every layer plus attention over the cached keys and values, instead of recomputing the
// whole prefix. Numerically the logits equal LlamaModel::forward's at the same position.
//
// The model must hold the whole network (tp = 1, one pipeline stage). The decoder borrows it
// (weights are read at each step, so it must outlive the decoder and not change meanwhile).
#pragma once
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "worker/llama_model.h"

namespace loong {

class KvCacheDecoder {
 public:
  // `capacity` positions of cache (<= max_position_embeddings).
  KvCacheDecoder(const LlamaModel& model, int64_t capacity);

  // Drops the cache (position 0 next).
  void reset() { pos_ = 0; }
  int64_t position() const { return pos_; }
  int64_t capacity() const { return capacity_; }
  // Appends `token` at the next position; returns the logits [vocab] for the following one.
  // InputError when the cache is full or the token is outside the vocabulary.
  std::span<const float> step(int32_t token);
  // Appends every token of `prompt`; returns the logits after the last one.
  std::span<const float> prefill(std::span<const int32_t> prompt);

 private:
  const LlamaModel& model_;
  int64_t capacity_, pos_ = 0;
  int64_t C_, D_, H_, KV_, I_, V_, QKV_;
  std::vector<float> k_cache_, v_cache_;  // [layer][capacity][kv_heads * head_dim]
  std::vector<float> x_, ln_, qkv_, attn_, tmp_, gate_up_, h_, logits_, scores_, rope_cos_, rope_sin_;
  std::vector<float> rstd_;
};

// Top-k sampling with temperature: keeps the k largest logits (k <= 0: all), softmax of
// logits / temperature, draws with `rng`. temperature <= 0 is greedy (argmax).
int32_t sample_top_k(std::span<const float> logits, int64_t k, float temperature, std::mt19937_64& rng);
// Restricts sampling to ids in [begin, end) (e.g. video codes): others get -infinity.
int32_t sample_top_k_in_range(std::span<const float> logits, int64_t begin, int64_t end, int64_t k, float temperature,
                              std::mt19937_64& rng);

}  // namespace loong
