// The [tokenizer] table of `loong tokenizer train` jobs (tokenizer/tokenizer_config_toml.h), read
// for 64x64 clips as configs/tokenizer_mnist.toml is, then the unknown-key check the command runs
// with the tokenizer keys. (The [train] keys of that job are read by apps/cmd_tokenizer.cpp with
// the same TomlConfig getters the other TOML targets cover.)
#include "core/toml_config.h"
#include "fuzz/fuzz_common.h"
#include "tokenizer/tokenizer_config_toml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace loong;
  fuzz::expect_typed_errors([&] {
    const TomlConfig c = TomlConfig::parse_string(fuzz::as_text(data, size), "fuzz/tokenizer.toml");
    fuzz::expect_typed_errors([&] {
      const tok::TokenizerConfig t = tok::tokenizer_config_from_toml(c, 64);
      LOONG_FUZZ_REQUIRE(t.quantizer.codebook_size >= 2 && !t.net.channels.empty());
      for (int64_t ch : t.net.channels) LOONG_FUZZ_REQUIRE(ch >= 1);
    });
    c.reject_unknown_keys(tok::tokenizer_toml_keys());
  });
  return 0;
}
