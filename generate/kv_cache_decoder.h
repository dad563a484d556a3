// Autoregressive decoding of a LlamaModel with a KV cache (CPU): each new token costs one row
// through every layer plus attention over the cached keys and values, instead of recomputing the
// whole prefix. Numerically the logits equal LlamaModel::forward's at the same position.
//
// Batched: `batch` sequences advance in lockstep (one position per step for all of them), each with
// its own cache; their rows go through every linear layer as one GEMM, so the weights are read once
// per step for all of them. Classifier-free guidance decodes its conditional and unconditional
// branch this way (batch 2, one call per token).
//
// The model must hold the whole network (tp = 1, one pipeline stage). The decoder borrows it
// (weights are read at each step, so it must outlive the decoder and not change meanwhile); weights
// are found by their Hugging Face names, not by registration order.
#pragma once
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "model/llama_model.h"

namespace loong {

class KvCacheDecoder {
 public:
  // `capacity` positions of cache per sequence (<= max_position_embeddings); `batch` sequences.
  KvCacheDecoder(const LlamaModel& model, int64_t capacity, int64_t batch = 1);

  // Drops the caches (position 0 next, for every sequence).
  void reset() { pos_ = 0; }
  int64_t position() const { return pos_; }
  int64_t capacity() const { return capacity_; }
  int64_t batch() const { return batch_; }
  int64_t vocab() const { return V_; }
  // Appends tokens[b] to sequence b at the next position; returns the logits [batch, vocab]
  // (row-major) for the following position. `tokens` has `batch` ids. InputError when the cache is
  // full, the count is wrong, or an id is outside the vocabulary. The span is valid until the next call.
  std::span<const float> step(std::span<const int32_t> tokens);
  // batch == 1 shorthand.
  std::span<const float> step(int32_t token) { return step(std::span<const int32_t>(&token, 1)); }
  // Appends `prompts` (row-major [batch, n]: every sequence gets n tokens) and returns the logits
  // after the last one, [batch, vocab].
  std::span<const float> prefill(std::span<const int32_t> prompts);

 private:
  struct LayerWeights {
    const float *ln1, *qkv, *o, *ln2, *gate_up, *down;
  };
  const LlamaModel& model_;
  int64_t capacity_, batch_, pos_ = 0;
  int64_t C_, D_, H_, KV_, I_, V_, QKV_;
  const float *embed_ = nullptr, *norm_ = nullptr, *head_ = nullptr;
  std::vector<LayerWeights> layers_;
  std::vector<float> k_cache_, v_cache_;  // [layer][batch][capacity][kv_heads * head_dim]
  std::vector<float> x_, ln_, qkv_, attn_, tmp_, gate_up_, h_, logits_, scores_, rope_cos_, rope_sin_;
  std::vector<float> rstd_;
  std::vector<int32_t> pos_rows_;
};

// Top-k sampling with temperature: keeps the k largest logits (k <= 0: all), softmax of
// logits / temperature, draws with `rng`. temperature <= 0 is greedy (argmax).
int32_t sample_top_k(std::span<const float> logits, int64_t k, float temperature, std::mt19937_64& rng);
// Restricts sampling to ids in [begin, end) (e.g. video codes): others get -infinity.
int32_t sample_top_k_in_range(std::span<const float> logits, int64_t begin, int64_t end, int64_t k, float temperature,
                              std::mt19937_64& rng);

// Classifier-free guidance: out[i] = uncond[i] + scale * (cond[i] - uncond[i]) over [begin, end)
// of the two logit rows (the rest of `out` is left as it is). All three have the same size.
void guided_logits(std::span<const float> cond, std::span<const float> uncond, float scale, int64_t begin,
                   int64_t end, std::span<float> out);

}  // namespace loong
