// The vector quantizer between the tokenizer's encoder and decoder.
//
// Input: encoder output z [N, D, T, H, W] (float32; D = code dimension). Every (n, t, h, w) vector
// is replaced by its nearest codebook entry (K x D, a "quantizer.codebook" tensor in the model's
// ParamStore, so it is saved and trained with the rest):
//   - distance L2, or cosine (vectors and codes are l2-normalised, nearest = largest dot product,
//     and the losses below are taken on the normalised vectors);
//   - straight-through: d(loss)/dz gets d(loss)/dz_q unchanged;
//   - losses (means over all N*T*H*W*D elements, like torch's mse_loss):
//       codebook   = mean (e - sg(z))^2   -> gradient to the codebook only
//       commitment = beta * mean (z - sg(e))^2 -> gradient to the encoder only;
//   - dead-code revival: a running usage per code (exponential moving average of its share of the
//     batch's vectors); after a training step, codes whose usage fell below `dead_fraction / K`
//     are moved onto encoder outputs of the last batch chosen by k-means++ (D^2) sampling: an
//     output is picked with probability proportional to its squared distance to the nearest code
//     (updated as codes are placed), so revived codes go where the codebook fits the data worst
//     (digit strokes rather than the background most vectors share);
//   - the same sampling seeds the whole codebook from the first training batch
//     (`seed_all_codes`), a data-dependent start instead of random codes far from the encoder's
//     outputs.
// Codes are int32 in [0, K), laid out [N, T, H, W] (row-major), which is the order of video tokens
// in a sample (a latent frame is a row-major h x w grid).
#pragma once
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "tokenizer/conv_net.h"

namespace loong::tok {

struct QuantizerConfig {
  int64_t codebook_size = 1024;  // K
  int64_t dim = 16;              // D
  bool cosine = false;           // false: L2
  float beta = 0.25f;            // commitment weight
  // EMA factor of the per-code usage: a code unused for ln(dead_fraction) / ln(usage_decay)
  // steps after being fresh (usage 1/K) is dead: 68 steps with the defaults.
  float usage_decay = 0.95f;
  float dead_fraction = 0.03f;   // a code is dead when its usage < dead_fraction / K
};

class VectorQuantizer {
 public:
  // Registers "quantizer.codebook" [K, D] (initialised uniform +-1/K... by ParamStore::init_random
  // as a conv weight with fan_in K; revival then seeds unused codes from data).
  VectorQuantizer(ParamStore& store, const QuantizerConfig& config);

  const QuantizerConfig& config() const { return config_; }
  // Quantises z. Returns z_q [same shape] (owned, valid until the next forward). When `training`,
  // usage statistics are updated.
  const float* forward(const float* z, const Shape5& shape, bool training);
  std::span<const int32_t> codes() const { return codes_; }
  double codebook_loss() const { return codebook_loss_; }
  double commitment_loss() const { return commitment_loss_; }  // already multiplied by beta
  // Given d(loss)/d(z_q), returns d(loss)/dz (straight-through plus `loss_scale` times the
  // commitment gradient) and accumulates `loss_scale` times the codebook-loss gradient.
  const float* backward(const float* dz_q, float loss_scale = 1.0f);
  // Re-seeds dead codes from the last forward's encoder outputs; returns how many.
  int64_t revive_dead_codes();
  // Re-seeds every code from the last forward's encoder outputs (k-means++ seeding) and resets
  // the usage to uniform. Call after a forward; the next forward quantises with the new codes.
  void seed_all_codes();

  // z_q for given codes (decoding a token grid): out [N, D, T, H, W] for codes [N, T, H, W].
  void lookup(const int32_t* codes, const Shape5& shape, float* out) const;
  // Codes with usage above the dead threshold, and exp(entropy) of the last batch's code counts.
  int64_t codes_in_use() const;
  double batch_perplexity() const { return perplexity_; }
  const std::vector<float>& usage() const { return usage_; }
  // The state a resumed training run needs to revive codes as the uninterrupted run does: the
  // usage average (K values) and the revival random engine, as text (std::mt19937_64's << form).
  std::string rng_state() const;
  // FormatError naming `where` when `usage` is not K values or `rng` is not an engine state.
  void restore(std::vector<float> usage, const std::string& rng, const std::string& where);

 private:
  void codebook_rows(std::vector<float>& rows) const;  // normalised for cosine
  // Places codes `which` on last-forward vectors by D^2 sampling; d2[m] is vector m's squared
  // distance to its nearest code so far (negative: no code yet, pick uniformly).
  void seed_codes(const std::vector<int64_t>& which, std::vector<double> d2);
  QuantizerConfig config_;
  ParamStore& store_;
  int64_t codebook_ = -1;
  Shape5 shape_;
  const float* z_ = nullptr;
  std::vector<float> rows_, rows_n_, norms_, cb_, cb_norms_, scores_, zq_, dz_;
  std::vector<int32_t> codes_;
  std::vector<float> usage_;
  double codebook_loss_ = 0, commitment_loss_ = 0, perplexity_ = 0;
  std::mt19937_64 rng_{12345};
};

}  // namespace loong::tok
