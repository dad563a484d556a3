// Shape of a Llama decoder, in Hugging Face LlamaConfig terms (the names are the config.json keys).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace loong {

struct LlamaConfig {
  int64_t hidden_size = 512;
  int64_t num_hidden_layers = 8;
  int64_t num_attention_heads = 8;
  int64_t num_key_value_heads = 8;
  int64_t intermediate_size = 1408;
  int64_t vocab_size = 9000;
  int64_t max_position_embeddings = 2048;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-5;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  // Rows of the fused q|k|v projection: (heads + 2 * kv_heads) * head_dim.
  int64_t qkv_rows() const { return (num_attention_heads + 2 * num_key_value_heads) * head_dim(); }

  // ConfigError naming the field and value when the shapes are inconsistent (heads not dividing
  // the hidden size, odd head dim for RoPE, kv heads not dividing heads, non-positive sizes...).
  // `source` names where the config came from (a file path or "job config [model]").
  void validate(const std::string& source) const;

  // config.json in Hugging Face LlamaConfig form (LlamaForCausalLM, untied lm_head, silu, fp32).
  nlohmann::json to_hf_json() const;
  // Reads the keys above from a Hugging Face config.json; ConfigError naming `source` and the key
  // when one is missing or of the wrong type. Validates.
  static LlamaConfig from_hf_json(const nlohmann::json& j, const std::string& source);
};

// Parameters that do a matmul per token (all but the embedding lookup and the norms); this is
// the N of the 6*N*T training-FLOP estimate.
int64_t matmul_parameter_count(const LlamaConfig& c);
// Training FLOPs per token: 6*N plus attention 6*L*T*H*D (causal: the masked half is not
// counted; a forward is 2*2*L*T*C/2 for QK^T and PV, backward twice that).
double training_flops_per_token(const LlamaConfig& c, int64_t seq_len);

}  // namespace loong
