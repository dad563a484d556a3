// The [tokenizer] table of a TOML job file (configs/tokenizer_mnist.toml) -> TokenizerConfig.
// Shared by `loong tokenizer train` and `bench/run tokenizer`.
#pragma once
#include <cstdint>
#include <string>
#include <set>

#include "core/toml_config.h"
#include "tokenizer/video_tokenizer.h"

namespace loong::tok {

// The keys tokenizer_config_from_toml reads ("tokenizer.patch", ...), for reject_unknown_keys.
std::set<std::string> tokenizer_toml_keys();
// Reads [tokenizer] (absent keys keep the library defaults, K = 1024) for clips of
// `resolution` x `resolution` pixels. ConfigError naming the file and key.
TokenizerConfig tokenizer_config_from_toml(const TomlConfig& c, int64_t resolution);

}  // namespace loong::tok
