// Finding the digit in a frame and cutting out the 28x28 patch the classifier sees.
//
// Units: pixel coordinates with pixel centres at integers, x to the right (columns), y downwards
// (rows); intensities in [0, 1] (uint8 / 255; RGB frames are averaged over the channels).
//
// MNIST digits are centred by their centre of mass in a 28x28 box. The same happens here, to a
// digit anywhere in a frame of any size: the ink (pixels brighter than InkOptions::threshold)
// gives the centre of mass, and the patch is resampled (bilinearly) so that this point lands at
// the patch centre (13.5, 13.5). The classifier is trained on MNIST digits passed through this
// very function, so training and scoring see digits centred the same way.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace loong::eval {

inline constexpr int64_t kPatchSize = 28;  // patches are kPatchSize x kPatchSize
inline constexpr int64_t kPatchPixels = kPatchSize * kPatchSize;

// A gray image, row-major [height, width], values in [0, 1]; reads outside it are 0 (black).
struct GrayImage {
  int64_t width = 0, height = 0;
  std::vector<float> pixels;
  float at(int64_t x, int64_t y) const {
    return x < 0 || y < 0 || x >= width || y >= height ? 0.0f : pixels[static_cast<size_t>(y * width + x)];
  }
  float bilinear(double x, double y) const;
};

// rgb: row-major [height, width, 3] uint8 (a decoded video frame).
GrayImage gray_from_rgb(const uint8_t* rgb, int64_t width, int64_t height);
// gray: row-major [height, width] uint8 (an MNIST image).
GrayImage gray_from_u8(const uint8_t* gray, int64_t width, int64_t height);

struct InkOptions {
  float threshold = 0.3f;   // a pixel is ink when brighter than this
  int64_t min_pixels = 12;  // fewer ink pixels than this: the frame shows no digit
};

struct DigitLocation {
  bool found = false;  // at least min_pixels of ink
  int64_t ink_pixels = 0;
  double x = 0, y = 0;  // centre of mass of the ink (weighted by intensity), pixels
};

DigitLocation locate_digit(const GrayImage& image, const InkOptions& ink);

// A small similarity transform of the sampling grid about the centre of mass; the identity at
// scoring time, random in training (eval/digit_augment.h).
struct PatchJitter {
  double rotation_rad = 0;          // counter-clockwise rotation of the digit
  double scale = 1;                 // > 1 makes the digit larger
  double shift_x = 0, shift_y = 0;  // digit moved by this many patch pixels
};

// Writes the kPatchSize x kPatchSize patch centred on `centre` (row-major, [0, 1]) to `patch`,
// then stretches its contrast so that its brightest pixel is 1 (unless it is all black): a
// faint or washed-out digit looks like a full-contrast MNIST digit.
void centred_patch(const GrayImage& image, const DigitLocation& centre, const PatchJitter& jitter, float* patch);

}  // namespace loong::eval
