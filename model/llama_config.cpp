#include "model/llama_config.h"

#include <cmath>

#include "core/error.h"

namespace loong {

void LlamaConfig::validate(const std::string& source) const {
  auto bad = [&](const std::string& field, const std::string& value, const std::string& why) {
    return ConfigError(source + ": " + field + " = " + value + ": " + why);
  };
  const std::pair<const char*, int64_t> sizes[] = {{"hidden_size", hidden_size},
                                                   {"num_hidden_layers", num_hidden_layers},
                                                   {"num_attention_heads", num_attention_heads},
                                                   {"num_key_value_heads", num_key_value_heads},
                                                   {"intermediate_size", intermediate_size},
                                                   {"vocab_size", vocab_size},
                                                   {"max_position_embeddings", max_position_embeddings}};
  // The upper bound is far beyond any trainable model, so that the shape arithmetic below and in
  // the model cannot overflow; whether a model fits the machine is checked where it is allocated.
  constexpr int64_t kBound = int64_t{1} << 24;
  for (const auto& [name, v] : sizes) {
    if (v <= 0) throw bad(name, std::to_string(v), "must be positive");
    if (v > kBound) throw bad(name, std::to_string(v), "is above 16777216");
  }
  if (hidden_size % num_attention_heads != 0)
    throw bad("num_attention_heads", std::to_string(num_attention_heads),
              "must divide hidden_size (" + std::to_string(hidden_size) + ")");
  if (head_dim() % 2 != 0)
    throw bad("num_attention_heads", std::to_string(num_attention_heads),
              "gives head_dim " + std::to_string(head_dim()) + "; rotary embedding needs an even head_dim");
  if (num_attention_heads % num_key_value_heads != 0)
    throw bad("num_key_value_heads", std::to_string(num_key_value_heads),
              "must divide num_attention_heads (" + std::to_string(num_attention_heads) + ")");
  if (!(rope_theta > 0) || !std::isfinite(rope_theta))
    throw bad("rope_theta", std::to_string(rope_theta), "must be positive and finite");
  if (!(rms_norm_eps > 0) || !(rms_norm_eps < 1))
    throw bad("rms_norm_eps", std::to_string(rms_norm_eps), "must be in (0, 1)");
}

nlohmann::json LlamaConfig::to_hf_json() const {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"hidden_size", hidden_size},
          {"num_hidden_layers", num_hidden_layers},
          {"num_attention_heads", num_attention_heads},
          {"num_key_value_heads", num_key_value_heads},
          {"intermediate_size", intermediate_size},
          {"vocab_size", vocab_size},
          {"max_position_embeddings", max_position_embeddings},
          {"rope_theta", rope_theta},
          {"rms_norm_eps", rms_norm_eps},
          {"hidden_act", "silu"},
          {"tie_word_embeddings", false},
          {"attention_bias", false},
          {"mlp_bias", false},
          {"torch_dtype", "float32"}};
}

LlamaConfig LlamaConfig::from_hf_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw ConfigError(source + ": not a JSON object");
  LlamaConfig c;
  auto get_int = [&](const char* key, int64_t& dst, bool required) {
    if (!j.contains(key)) {
      if (required) throw ConfigError(source + ": missing key '" + key + "'");
      return;
    }
    if (!j[key].is_number_integer())
      throw ConfigError(source + ": key '" + key + "' must be an integer, got " + j[key].dump());
    dst = j[key].get<int64_t>();
  };
  auto get_real = [&](const char* key, double& dst) {
    if (!j.contains(key)) return;
    if (!j[key].is_number()) throw ConfigError(source + ": key '" + key + "' must be a number, got " + j[key].dump());
    dst = j[key].get<double>();
  };
  get_int("hidden_size", c.hidden_size, true);
  get_int("num_hidden_layers", c.num_hidden_layers, true);
  get_int("num_attention_heads", c.num_attention_heads, true);
  c.num_key_value_heads = c.num_attention_heads;  // HF default when absent
  get_int("num_key_value_heads", c.num_key_value_heads, false);
  get_int("intermediate_size", c.intermediate_size, true);
  get_int("vocab_size", c.vocab_size, true);
  get_int("max_position_embeddings", c.max_position_embeddings, false);
  get_real("rope_theta", c.rope_theta);
  get_real("rms_norm_eps", c.rms_norm_eps);
  if (j.contains("tie_word_embeddings") && j["tie_word_embeddings"] == true)
    throw ConfigError(source + ": tie_word_embeddings = true is not supported (the model has an untied lm_head)");
  if (j.contains("hidden_act") && j["hidden_act"] != "silu")
    throw ConfigError(source + ": hidden_act = " + j["hidden_act"].dump() + " is not supported (only silu)");
  c.validate(source);
  return c;
}

int64_t matmul_parameter_count(const LlamaConfig& c) {
  const int64_t C = c.hidden_size, D = c.head_dim();
  const int64_t attn = C * c.qkv_rows() + c.num_attention_heads * D * C;
  const int64_t mlp = 3 * C * c.intermediate_size;
  return c.num_hidden_layers * (attn + mlp) + c.vocab_size * C;
}

double training_flops_per_token(const LlamaConfig& c, int64_t seq_len) {
  const double attn = 6.0 * c.num_hidden_layers * seq_len * c.num_attention_heads * c.head_dim();
  return 6.0 * static_cast<double>(matmul_parameter_count(c)) + attn;
}

}  // namespace loong
