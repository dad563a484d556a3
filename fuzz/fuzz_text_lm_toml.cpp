// The job config of `loong train-lm` (configs/text_lm.toml). Its reader, read_job in
// apps/cmd_train_lm.cpp, is not a library function; this target makes the same library calls in
// the same order (TomlConfig getters with the same ranges, LlamaConfig::validate), so it covers
// what that reader relies on. Keep the two in step.
#include <algorithm>

#include "core/toml_config.h"
#include "fuzz/fuzz_common.h"
#include "model/llama_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace loong;
  fuzz::expect_typed_errors([&] {
    const TomlConfig c = TomlConfig::parse_string(fuzz::as_text(data, size), "fuzz/text_lm.toml");
    c.reject_unknown_keys({"data.text", "data.validation_fraction", "model.hidden_size", "model.num_hidden_layers",
                           "model.num_attention_heads", "model.num_key_value_heads", "model.intermediate_size",
                           "model.max_position_embeddings", "model.rope_theta", "model.rms_norm_eps", "train.steps",
                           "train.batch", "train.seq", "train.lr", "train.min_lr", "train.warmup_steps",
                           "train.weight_decay", "train.max_grad_norm", "train.seed", "train.eval_every",
                           "output.dir"});
    c.get_string("data.text", "/usr/share/common-licenses/GPL-3");
    c.get_double("data.validation_fraction", 0.1, 0.0, 0.9);
    LlamaConfig m;
    m.hidden_size = c.get_int("model.hidden_size", 192, 1);
    m.num_hidden_layers = c.get_int("model.num_hidden_layers", 4, 1);
    m.num_attention_heads = c.get_int("model.num_attention_heads", 6, 1);
    m.num_key_value_heads = c.get_int("model.num_key_value_heads", 2, 1);
    m.intermediate_size = c.get_int("model.intermediate_size", 512, 1);
    m.max_position_embeddings = c.get_int("model.max_position_embeddings", 256, 1);
    m.rope_theta = c.get_positive("model.rope_theta", 10000.0, 1e12);
    m.rms_norm_eps = c.get_positive("model.rms_norm_eps", 1e-5, 1.0);
    m.vocab_size = 256;
    m.validate(c.source() + " [model]");
    LOONG_FUZZ_REQUIRE(m.hidden_size % m.num_attention_heads == 0 && m.head_dim() % 2 == 0);
    c.get_int("train.steps", 300, 1);
    c.get_int("train.batch", 8, 1, 4096);
    c.get_int("train.seq", 128, 2, m.max_position_embeddings);
    const double lr = c.get_positive("train.lr", 2e-3, 10.0);
    c.get_double("train.min_lr", std::min(2e-4, lr), 0.0, lr);
    c.get_int("train.warmup_steps", 30, 0);
    c.get_double("train.weight_decay", 0.1, 0.0, 1e3);
    c.get_double("train.max_grad_norm", 1.0, -1e300, 1e30);
    c.get_int("train.seed", 1);
    c.get_int("train.eval_every", 50, 1);
    c.get_string("output.dir", "out/text_lm");
  });
  return 0;
}
