// Training-time augmentation of MNIST digits for the caption-fidelity classifier. The classifier
// scores frames of generated videos: digits that a VQ tokenizer decoded (softer strokes, lower
// contrast, a faint haze around them) and that are centred from a centre of mass that moves a
// little from frame to frame. Each training digit is therefore degraded at random within that
// range before it goes through the same centring as at scoring time (eval/digit_patch.h).
#pragma once
#include <cstdint>
#include <random>

#include "eval/digit_patch.h"

namespace loong::eval {

struct AugmentOptions {
  double max_rotation_deg = 10;  // uniform in +-this
  double min_scale = 0.9, max_scale = 1.1;
  double max_shift_px = 1.5;                // centring error, uniform in +-this per axis (patch pixels)
  double blur_probability = 0.5;            // else sharp
  double max_blur_sigma = 1.0;              // Gaussian blur, sigma uniform in (0, this] pixels
  double min_gamma = 0.7, max_gamma = 1.5;  // stroke profile: intensity^gamma
  double min_contrast = 0.5;                // peak brightness uniform in [this, 1] (before contrast stretch)
  double max_noise = 0.05;                  // additive Gaussian noise, sigma uniform in [0, this]
};

// The patch (kPatchPixels floats) of MNIST digit `digit` (28x28 uint8), randomly degraded and
// then centred by its centre of mass.
void augmented_patch(const uint8_t* digit, const AugmentOptions& options, const InkOptions& ink, std::mt19937_64& rng,
                     float* patch);

// The patch of an MNIST digit without augmentation (how the test digits are measured).
void clean_patch(const uint8_t* digit, const InkOptions& ink, float* patch);

}  // namespace loong::eval
