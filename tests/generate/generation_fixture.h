// Small pieces the generation tests share: a tiny video tokenizer (16x16 pixels -> 2x2 codes per
// latent frame), a sequence manifest for it, and clips of moving bright dots.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "sequence/sequence_manifest.h"
#include "tokenizer/video_tokenizer.h"

namespace loong::testing {

inline tok::TokenizerConfig tiny_tokenizer_config(int64_t codebook = 32) {
  tok::TokenizerConfig c;
  c.resolution = 16;
  c.net.channels = {8, 8, 8};
  c.net.latent_channels = 4;
  c.net.groups = 4;
  c.quantizer.codebook_size = codebook;
  return c;
}

// What a checkpoint of a model trained on `latents` latent frames of the tiny tokenizer records.
inline SequenceManifest tiny_manifest(int64_t text_vocab, int64_t codebook, int64_t latents, int64_t text_budget) {
  SequenceManifest m;
  m.vocab = VocabLayout{text_vocab, codebook, 64};
  m.shape = SampleShape{text_budget, latents, 2, 2};
  m.max_latent_frames = latents;
  m.fps = 8;
  return m;
}

// `frames` RGB frames [frames, res, res, 3] of two 3x3 dots moving in opposite directions over a
// dark background (positions and speeds from `seed`).
inline std::vector<uint8_t> moving_dots(int64_t frames, int64_t res, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(static_cast<size_t>(frames * res * res * 3), 10);
  const int64_t y[2] = {static_cast<int64_t>(rng() % (res - 3)), static_cast<int64_t>(rng() % (res - 3))};
  const int64_t x0[2] = {static_cast<int64_t>(rng() % res), static_cast<int64_t>(rng() % res)};
  for (int64_t f = 0; f < frames; ++f)
    for (int d = 0; d < 2; ++d) {
      const int64_t x = ((x0[d] + (d ? -f : f)) % (res - 2) + (res - 2)) % (res - 2);
      for (int64_t dy = 0; dy < 3; ++dy)
        for (int64_t dx = 0; dx < 3; ++dx)
          for (int64_t c = 0; c < 3; ++c) v[static_cast<size_t>((((f * res) + y[d] + dy) * res + x + dx) * 3 + c)] = 230;
    }
  return v;
}

}  // namespace loong::testing
