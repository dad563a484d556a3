// The small grouped-query Llama shape the model tests share (2 layers, 4 heads over 2 kv heads).
#pragma once
#include "model/llama_config.h"

namespace loong::testing {

inline LlamaConfig tiny_llama(int64_t vocab, int64_t max_positions) {
  LlamaConfig c;
  c.hidden_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.intermediate_size = 48;
  c.vocab_size = vocab;
  c.max_position_embeddings = max_positions;
  return c;
}

}  // namespace loong::testing
