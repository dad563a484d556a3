// The decode step of a LlamaModel: autoregressive decoding with a KV cache. Each new token costs
// one row through every layer plus attention over the cached keys and values, instead of
// recomputing the whole prefix. The layer math is the model's own (model/llama_block.h, the pieces
// LlamaModel::forward runs, on the same ops/cpu kernels); only attention reads the cache
// (ops::cpu::attention_decode). The logits equal LlamaModel::forward's at the same position up to
// float summation order (tests/model/test_llama_decoder.cpp: relative 1e-5).
//
// Batched: `batch` sequences advance in lockstep (one position per step for all of them), each with
// its own cache; their rows go through every linear layer as one GEMM, so the weights are read once
// per step for all of them. Classifier-free guidance decodes its conditional and unconditional
// branch this way (batch 2, one call per token).
//
// Ownership: the decoder borrows the model (weights are read through its named layer views at each
// step, so it must outlive the decoder and not change meanwhile) and owns the cache and every
// scratch buffer, allocated once in the constructor: 2 * layers * batch * capacity *
// kv_heads * head_dim floats of cache. The model must hold the whole network (tp = 1, one
// pipeline stage).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "model/llama_model.h"

namespace loong {

class LlamaDecoder {
 public:
  // `capacity` positions of cache per sequence (1..max_position_embeddings); `batch` sequences
  // (1..4096). InputError otherwise, or when the model is a shard.
  LlamaDecoder(const LlamaModel& model, int64_t capacity, int64_t batch = 1);

  // Drops the caches (position 0 next, for every sequence); keeps the memory.
  void reset() { pos_ = 0; }
  int64_t position() const { return pos_; }  // positions filled, the same for every sequence
  int64_t capacity() const { return capacity_; }
  int64_t batch() const { return batch_; }
  int64_t vocab() const { return V_; }
  // Appends tokens[b] to sequence b at the next position; returns the logits [batch, vocab]
  // (row-major, unnormalised) for the following position. `tokens` has `batch` ids. InputError when
  // the cache is full, the count is wrong, or an id is outside the vocabulary. The span is valid
  // until the next call.
  std::span<const float> step(std::span<const int32_t> tokens);
  // batch == 1 shorthand.
  std::span<const float> step(int32_t token) { return step(std::span<const int32_t>(&token, 1)); }
  // Appends `prompts` (row-major [batch, n]: every sequence gets the same n >= 1 tokens' count) and
  // returns the logits after the last one, [batch, vocab].
  std::span<const float> prefill(std::span<const int32_t> prompts);

 private:
  const LlamaModel& model_;
  int64_t capacity_, batch_, pos_ = 0;
  int64_t C_, D_, H_, KV_, I_, V_, QKV_;
  std::vector<float> k_cache_, v_cache_;  // [layer][batch][capacity][kv_heads * head_dim]
  std::vector<float> x_, ln_, qkv_, attn_, tmp_, gate_up_, h_, logits_, scores_, rope_cos_, rope_sin_;
  std::vector<float> rstd_;
  std::vector<int32_t> pos_rows_;
};

}  // namespace loong
