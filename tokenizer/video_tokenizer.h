// The video tokenizer (docs/architecture.md): causal 3D-CNN encoder -> vector quantizer -> decoder.
// `1 + 4k` RGB frames of H x W become `1 + k` latent frames of (H/8) x (W/8) codes in [0, K);
// latent frame 0 depends on pixel frame 0 alone, latent frame j on pixel frames <= 4j.
//
// Pixels cross the API as uint8 [N, T, H, W, 3] (the corpus layout); inside they are float
// [N, 3, T, H, W] scaled to [-1, 1]. Codes are int32 [N, 1 + k, h, w].
// Training loss: w1 * L1 + w2 * L2 pixel reconstruction (means; weights in TokenizerOptim, default
// 1 and 1) + codebook + beta * commitment.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/conv_net.h"
#include "tokenizer/vector_quantizer.h"

namespace loong::tok {

struct TokenizerConfig {
  ConvNetConfig net;
  QuantizerConfig quantizer;
  int64_t resolution = 64;  // H = W of the clips it is trained for

  nlohmann::json to_json() const;
  // The network's ranges (ConvNetConfig::validate) and the sequence contract of docs/architecture.md: x8
  // spatial and x4 temporal compression (1 + 4k frames -> 1 + k latent frames of H/8 x W/8).
  // ConfigError naming `source`.
  void validate(const std::string& source) const;
  // ConfigError naming `source` and the key.
  static TokenizerConfig from_json(const nlohmann::json& j, const std::string& source);
};

struct TokenizerLosses {
  double l1 = 0, l2 = 0, codebook = 0, commitment = 0;
  double total() const { return l1 + l2 + codebook + commitment; }  // unweighted
  double perplexity = 0;
  int64_t codes_in_use = 0;
  int64_t revived = 0;
};

struct TokenizerOptim {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.99f, eps = 1e-8f, weight_decay = 0.0f, max_grad_norm = 1.0f;
  int64_t revive_every = 10;  // steps between dead-code revivals (0: never)
  bool seed_codebook = true;  // the first step seeds the codebook from its batch (k-means++)
  // Weights of the pixel losses. On mostly-black frames (Moving-MNIST) the L1 gradient, sign(error)
  // per pixel at full strength even for tiny errors, is dominated by the background and slows
  // learning the strokes; the demo config weights it down.
  float l1_weight = 1.0f, l2_weight = 1.0f;
};

class VideoTokenizer {
 public:
  explicit VideoTokenizer(const TokenizerConfig& config, uint64_t seed = 1);
  // Reads a saved tokenizer (see load()).
  explicit VideoTokenizer(const std::filesystem::path& dir);
  // Neither copyable nor movable: the layers hold references into the parameter store, so a moved
  // tokenizer would compute with the moved-from one's (dangling) weights.
  VideoTokenizer(const VideoTokenizer&) = delete;
  VideoTokenizer& operator=(const VideoTokenizer&) = delete;

  const TokenizerConfig& config() const { return config_; }
  ParamStore& params() { return store_; }
  // Shape checks: InputError naming the clip shape when frames != 1 + 4k or H, W differ from the
  // configured resolution.
  Shape5 latent_shape(int64_t n, int64_t frames, int64_t h, int64_t w) const;

  // codes [n, 1+k, h/8, w/8] of clips [n, frames, h, w, 3].
  std::vector<int32_t> encode(const uint8_t* clips, int64_t n, int64_t frames, int64_t h, int64_t w);
  // pixels [n, frames, 8h', 8w', 3] of codes [n, latent_frames, h', w'] (frames = 1 + 4(latent_frames-1)).
  std::vector<uint8_t> decode(const int32_t* codes, int64_t n, int64_t latent_frames, int64_t h, int64_t w);
  // Reconstruction (encode + quantize + decode) of clips, for evaluation.
  std::vector<uint8_t> reconstruct(const uint8_t* clips, int64_t n, int64_t frames, int64_t h, int64_t w);

  // One AdamW step on a batch of clips; returns the losses before the update.
  TokenizerLosses train_step(const uint8_t* clips, int64_t n, int64_t frames, int64_t h, int64_t w,
                             const TokenizerOptim& opt, float lr);
  int64_t steps_taken() const { return step_; }
  // Identity of the weights: FNV-1a 64 of every parameter's bytes, 16 hex digits. Two tokenizers
  // with the same fingerprint encode and decode identically; recorded by `loong tokenizer encode`
  // in the corpus and from there in training checkpoints, checked by `loong generate`.
  std::string fingerprint() const;

  // <dir>/tokenizer.safetensors (+ optimizer moments) and <dir>/tokenizer.json (config, steps).
  // Atomic as a set: the files are staged in `dir/.save`, committed by one rename, then moved into
  // place; an interrupted save is finished (rolled forward) by the next save or load, so `dir`
  // never mixes two steps. checksums.json covers the three files; load verifies it.
  void save(const std::filesystem::path& dir) const;
  static void finish_interrupted_save(const std::filesystem::path& dir);
  static constexpr const char* kStagingDir = ".save";
  static constexpr const char* kSavedFiles[] = {"tokenizer.safetensors", "tokenizer_optimizer.safetensors",
                                                "tokenizer.json"};
  // Reads a saved tokenizer; FormatError/ConfigError naming the file when shapes do not match.
  static VideoTokenizer load(const std::filesystem::path& dir) { return VideoTokenizer(dir); }

 private:
  VideoTokenizer(const nlohmann::json& saved, const std::filesystem::path& dir);
  void to_float(const uint8_t* clips, const Shape5& s);
  TokenizerConfig config_;
  ParamStore store_;
  Encoder encoder_;
  VectorQuantizer quantizer_;
  Decoder decoder_;
  std::vector<float> x_, dx_, m_, v_;
  int64_t step_ = 0;
};

// Image quality, per clip pair over all frames and channels (uint8 [.., 3] same shape).
double psnr(const uint8_t* a, const uint8_t* b, int64_t n);
// Mean SSIM over frames of luma (BT.601), 8x8 windows with stride 4, standard constants.
double ssim(const uint8_t* a, const uint8_t* b, int64_t frames, int64_t h, int64_t w);

}  // namespace loong::tok
