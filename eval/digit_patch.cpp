#include "eval/digit_patch.h"

#include <algorithm>
#include <cmath>

namespace loong::eval {

float GrayImage::bilinear(double x, double y) const {
  const double fx = std::floor(x), fy = std::floor(y);
  const auto x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy);
  const float ax = static_cast<float>(x - fx), ay = static_cast<float>(y - fy);
  const float top = at(x0, y0) * (1 - ax) + at(x0 + 1, y0) * ax;
  const float bottom = at(x0, y0 + 1) * (1 - ax) + at(x0 + 1, y0 + 1) * ax;
  return top * (1 - ay) + bottom * ay;
}

GrayImage gray_from_rgb(const uint8_t* rgb, int64_t width, int64_t height) {
  GrayImage g{width, height, std::vector<float>(static_cast<size_t>(width * height))};
  for (int64_t i = 0; i < width * height; ++i)
    g.pixels[static_cast<size_t>(i)] =
        (static_cast<float>(rgb[3 * i]) + rgb[3 * i + 1] + rgb[3 * i + 2]) / (3 * 255.0f);
  return g;
}

GrayImage gray_from_u8(const uint8_t* gray, int64_t width, int64_t height) {
  GrayImage g{width, height, std::vector<float>(static_cast<size_t>(width * height))};
  for (int64_t i = 0; i < width * height; ++i) g.pixels[static_cast<size_t>(i)] = gray[i] / 255.0f;
  return g;
}

DigitLocation locate_digit(const GrayImage& image, const InkOptions& ink) {
  DigitLocation loc;
  double mass = 0, mx = 0, my = 0;
  for (int64_t y = 0; y < image.height; ++y)
    for (int64_t x = 0; x < image.width; ++x) {
      const float v = image.pixels[static_cast<size_t>(y * image.width + x)];
      if (v <= ink.threshold) continue;  // dim pixels (background haze, codec noise) do not move the centre
      ++loc.ink_pixels;
      mass += v, mx += v * x, my += v * y;
    }
  if (mass > 0) loc.x = mx / mass, loc.y = my / mass;
  loc.found = loc.ink_pixels >= ink.min_pixels;
  return loc;
}

void centred_patch(const GrayImage& image, const DigitLocation& centre, const PatchJitter& j, float* patch) {
  constexpr double c = (kPatchSize - 1) / 2.0;  // 13.5: the patch centre
  // Patch pixel (u, v) samples the image at centre + R(-theta) / scale * ((u, v) - c - shift).
  const double cs = std::cos(j.rotation_rad) / j.scale, sn = std::sin(j.rotation_rad) / j.scale;
  float peak = 0;
  for (int64_t v = 0; v < kPatchSize; ++v)
    for (int64_t u = 0; u < kPatchSize; ++u) {
      const double du = u - c - j.shift_x, dv = v - c - j.shift_y;
      const double x = centre.x + cs * du + sn * dv, y = centre.y - sn * du + cs * dv;
      const float p = image.bilinear(x, y);
      patch[v * kPatchSize + u] = p;
      peak = std::max(peak, p);
    }
  if (peak > 1e-3f)
    for (int64_t i = 0; i < kPatchPixels; ++i) patch[i] /= peak;
}

}  // namespace loong::eval
