#include "eval/digit_augment.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

namespace loong::eval {
namespace {

// Separable Gaussian blur with a kernel of radius ceil(3 sigma), zero outside the image.
void gaussian_blur(GrayImage& g, double sigma) {
  const int r = static_cast<int>(std::ceil(3 * sigma));
  std::vector<float> k(static_cast<size_t>(2 * r + 1));
  float sum = 0;
  for (int i = -r; i <= r; ++i)
    sum += k[static_cast<size_t>(i + r)] = static_cast<float>(std::exp(-0.5 * i * i / (sigma * sigma)));
  for (auto& v : k) v /= sum;
  GrayImage tmp = g;
  for (int64_t y = 0; y < g.height; ++y)
    for (int64_t x = 0; x < g.width; ++x) {
      float acc = 0;
      for (int i = -r; i <= r; ++i) acc += k[static_cast<size_t>(i + r)] * g.at(x + i, y);
      tmp.pixels[static_cast<size_t>(y * g.width + x)] = acc;
    }
  for (int64_t y = 0; y < g.height; ++y)
    for (int64_t x = 0; x < g.width; ++x) {
      float acc = 0;
      for (int i = -r; i <= r; ++i) acc += k[static_cast<size_t>(i + r)] * tmp.at(x, y + i);
      g.pixels[static_cast<size_t>(y * g.width + x)] = acc;
    }
}

// Where the digit is; a digit whose ink fell below the threshold (a faint, blurred "1") is
// centred on its box instead, as scoring never classifies such a frame anyway.
DigitLocation centre_of(const GrayImage& g, const InkOptions& ink) {
  DigitLocation loc = locate_digit(g, ink);
  if (loc.ink_pixels == 0) loc.x = loc.y = (kPatchSize - 1) / 2.0;
  return loc;
}

}  // namespace

void augmented_patch(const uint8_t* digit, const AugmentOptions& o, const InkOptions& ink, std::mt19937_64& rng,
                     float* patch) {
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  auto uniform = [&](double a, double b) { return a + (b - a) * u01(rng); };
  GrayImage g = gray_from_u8(digit, kPatchSize, kPatchSize);
  if (u01(rng) < o.blur_probability) gaussian_blur(g, uniform(1e-3, o.max_blur_sigma));
  const double gamma = uniform(o.min_gamma, o.max_gamma), contrast = uniform(o.min_contrast, 1.0);
  const double noise = uniform(0.0, o.max_noise);
  std::normal_distribution<float> n01(0.0f, 1.0f);
  for (auto& p : g.pixels)
    p = std::clamp(static_cast<float>(contrast * std::pow(p, gamma)) + static_cast<float>(noise) * n01(rng), 0.0f,
                   1.0f);
  PatchJitter j;
  j.rotation_rad = uniform(-o.max_rotation_deg, o.max_rotation_deg) * std::numbers::pi / 180;
  j.scale = uniform(o.min_scale, o.max_scale);
  j.shift_x = uniform(-o.max_shift_px, o.max_shift_px);
  j.shift_y = uniform(-o.max_shift_px, o.max_shift_px);
  centred_patch(g, centre_of(g, ink), j, patch);
}

void clean_patch(const uint8_t* digit, const InkOptions& ink, float* patch) {
  const GrayImage g = gray_from_u8(digit, kPatchSize, kPatchSize);
  centred_patch(g, centre_of(g, ink), PatchJitter{}, patch);
}

}  // namespace loong::eval
