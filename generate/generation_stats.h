// What a generated video is measured by (the re-encoding on/off comparison, docs/generation.md):
// per output frame, the model's own NLL of the codes of the latent frame it comes from, and pixel
// statistics: mean intensity and fraction of bright pixels.
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

#include "generate/video_generator.h"

namespace loong {

struct PixelStats {
  double mean_intensity = 0;   // mean of all R, G, B values, in [0, 1]
  double bright_fraction = 0;  // share of pixels whose luma (BT.601) is >= 128
};

// Of one RGB uint8 frame of `pixels` pixels.
PixelStats pixel_stats(const uint8_t* rgb, int64_t pixels);

// One JSON line per output frame: {"frame", "t" (seconds), "segment", "latent_frame", "nll" (mean
// nats per code of that latent frame), "mean_intensity", "bright_fraction"}. IoError naming the file.
void write_generation_stats(const std::filesystem::path& path, const GeneratedVideo& video, double fps);

// Averages over consecutive windows of `window_s` seconds (the last one may be shorter): NLL and
// pixel statistics averaged over the window's frames (each frame carries its latent frame's NLL).
struct WindowSummary {
  double t0 = 0, t1 = 0;  // seconds, [t0, t1)
  int64_t frames = 0;
  double nll = 0, mean_intensity = 0, bright_fraction = 0;
};
std::vector<WindowSummary> summarise_windows(const GeneratedVideo& video, double fps, double window_s);

// A PNG grid of every `every`-th frame (first included), `columns` frames per row, 2 px gaps.
void write_contact_sheet(const std::filesystem::path& path, const GeneratedVideo& video, int64_t every,
                         int64_t columns);

}  // namespace loong
