#include "tokenizer/tokenizer_config_toml.h"

#include "core/error.h"

namespace loong::tok {

std::set<std::string> tokenizer_toml_keys() {
  return {"tokenizer.patch",         "tokenizer.block_temporal_kernel", "tokenizer.channels",
          "tokenizer.latent_channels", "tokenizer.res_blocks",          "tokenizer.groups",
          "tokenizer.mid_blocks",      "tokenizer.encoder_norm",          "tokenizer.encoder_field",
          "tokenizer.codebook_size", "tokenizer.distance",              "tokenizer.beta",
          "tokenizer.dead_fraction", "tokenizer.usage_decay"};
}

TokenizerConfig tokenizer_config_from_toml(const TomlConfig& c, int64_t resolution) {
  TokenizerConfig t;
  t.resolution = resolution;
  if (auto a = c.raw().at_path("tokenizer.channels"); a) {
    const toml::array* arr = a.as_array();
    if (!arr) throw ConfigError(c.source() + ": key 'tokenizer.channels' must be an array of integers");
    t.net.channels.clear();
    for (size_t i = 0; i < arr->size(); ++i) {
      // is_integer() before value<int64_t>(): see TomlConfig::get_int (float -> int64 cast).
      const auto v = (*arr)[i].is_integer() ? (*arr)[i].value<int64_t>() : std::nullopt;
      if (!v)
        throw ConfigError(c.source() + ": key 'tokenizer.channels' element " + std::to_string(i) +
                          " must be an integer (a channel width)");
      t.net.channels.push_back(*v);
    }
    // Time halves in the first two levels: 1 + 4k frames -> 1 + k latent frames.
    t.net.temporal_down.assign(t.net.channels.size(), false);
    for (size_t i = 0; i < t.net.channels.size() && i < 2; ++i) t.net.temporal_down[i] = true;
  }
  t.net.patch = c.get_int("tokenizer.patch", 1, 1);
  t.net.block_temporal_kernel = c.get_int("tokenizer.block_temporal_kernel", 3, 1);
  t.net.latent_channels = c.get_int("tokenizer.latent_channels", t.net.latent_channels, 1);
  t.net.res_blocks = c.get_int("tokenizer.res_blocks", t.net.res_blocks, 0);
  t.net.mid_blocks = c.get_int("tokenizer.mid_blocks", t.net.mid_blocks, 0);
  t.net.groups = c.get_int("tokenizer.groups", t.net.groups, 1);
  const std::string norm = c.get_string("tokenizer.encoder_norm", "group");
  if (norm != "group" && norm != "position")
    throw ConfigError(c.source() + ": key 'tokenizer.encoder_norm' must be \"group\" (GroupNorm over each frame) or "
                      "\"position\" (LayerNorm over channels at each position), got \"" + norm + "\"");
  t.net.encoder_norm = norm == "position" ? ConvNetConfig::Norm::Position : ConvNetConfig::Norm::Group;
  const std::string field = c.get_string("tokenizer.encoder_field", "wide");
  if (field != "wide" && field != "cell")
    throw ConfigError(c.source() + ": key 'tokenizer.encoder_field' must be \"wide\" (3x3 convolutions) or \"cell\" "
                      "(each code sees its own cell only), got \"" + field + "\"");
  t.net.encoder_field = field == "cell" ? ConvNetConfig::Field::Cell : ConvNetConfig::Field::Wide;
  t.quantizer.codebook_size = c.get_int("tokenizer.codebook_size", 1024, 2);
  const std::string dist = c.get_string("tokenizer.distance", "l2");
  if (dist != "l2" && dist != "cosine")
    throw ConfigError(c.source() + ": key 'tokenizer.distance' must be \"l2\" or \"cosine\"");
  t.quantizer.cosine = dist == "cosine";
  t.quantizer.beta = static_cast<float>(c.get_positive("tokenizer.beta", 0.25, 1e3));
  t.quantizer.dead_fraction = static_cast<float>(c.get_positive("tokenizer.dead_fraction", 0.03, 1.0));
  t.quantizer.usage_decay = static_cast<float>(c.get_double("tokenizer.usage_decay", 0.95, 0.0, 1.0, true));
  if (!(t.quantizer.usage_decay > 0 && t.quantizer.usage_decay < 1))
    throw ConfigError(c.source() + ": key 'tokenizer.usage_decay' must be in (0, 1)");
  t.quantizer.dim = t.net.latent_channels;
  t.validate(c.source());
  return t;
}

}  // namespace loong::tok
