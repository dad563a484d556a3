#include "generate/generation_stats.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"
#include "core/png.h"

namespace loong {

PixelStats pixel_stats(const uint8_t* rgb, int64_t pixels) {
  PixelStats s;
  if (pixels <= 0) return s;
  uint64_t sum = 0;
  int64_t bright = 0;
  for (int64_t i = 0; i < pixels; ++i) {
    const uint8_t r = rgb[3 * i], g = rgb[3 * i + 1], b = rgb[3 * i + 2];
    sum += static_cast<uint64_t>(r) + g + b;
    bright += 0.299 * r + 0.587 * g + 0.114 * b >= 128.0;
  }
  s.mean_intensity = static_cast<double>(sum) / (3.0 * 255.0 * static_cast<double>(pixels));
  s.bright_fraction = static_cast<double>(bright) / static_cast<double>(pixels);
  return s;
}

namespace {
PixelStats frame_stats(const GeneratedVideo& v, size_t f) { return pixel_stats(v.frames[f].data(), v.height * v.width); }
}  // namespace

void write_generation_stats(const std::filesystem::path& path, const GeneratedVideo& v, double fps) {
  std::string out;
  for (size_t f = 0; f < v.frames.size(); ++f) {
    const PixelStats s = frame_stats(v, f);
    const auto latent = static_cast<size_t>(v.latent_of_frame[f]);
    out += nlohmann::json({{"frame", f},
                           {"t", static_cast<double>(f) / fps},
                           {"segment", v.latent_segment[latent]},
                           {"latent_frame", latent},
                           {"nll", v.latent_nll[latent]},
                           {"mean_intensity", s.mean_intensity},
                           {"bright_fraction", s.bright_fraction}})
               .dump() +
           "\n";
  }
  write_file_atomic(path, out);
}

std::vector<WindowSummary> summarise_windows(const GeneratedVideo& v, double fps, double window_s) {
  std::vector<WindowSummary> out;
  const auto per = std::max<int64_t>(1, std::llround(window_s * fps));
  for (size_t f0 = 0; f0 < v.frames.size(); f0 += static_cast<size_t>(per)) {
    WindowSummary w;
    const size_t f1 = std::min(v.frames.size(), f0 + static_cast<size_t>(per));
    w.t0 = static_cast<double>(f0) / fps, w.t1 = static_cast<double>(f1) / fps;
    w.frames = static_cast<int64_t>(f1 - f0);
    for (size_t f = f0; f < f1; ++f) {
      const PixelStats s = frame_stats(v, f);
      w.nll += v.latent_nll[static_cast<size_t>(v.latent_of_frame[f])];
      w.mean_intensity += s.mean_intensity, w.bright_fraction += s.bright_fraction;
    }
    w.nll /= static_cast<double>(w.frames), w.mean_intensity /= static_cast<double>(w.frames);
    w.bright_fraction /= static_cast<double>(w.frames);
    out.push_back(w);
  }
  return out;
}

void write_contact_sheet(const std::filesystem::path& path, const GeneratedVideo& v, int64_t every, int64_t columns) {
  if (v.frames.empty()) throw InputError("contact sheet of a video without frames");
  every = std::max<int64_t>(1, every);
  const int64_t count = (static_cast<int64_t>(v.frames.size()) + every - 1) / every;
  const int64_t cols = std::clamp<int64_t>(columns, 1, count), rows = (count + cols - 1) / cols, gap = 2;
  const int64_t SW = cols * v.width + (cols + 1) * gap, SH = rows * v.height + (rows + 1) * gap;
  std::vector<uint8_t> sheet(static_cast<size_t>(SW * SH * 3), 64);  // dark grey gaps
  for (int64_t k = 0; k < count; ++k) {
    const auto& fr = v.frames[static_cast<size_t>(k * every)];
    const int64_t x0 = gap + (k % cols) * (v.width + gap), y0 = gap + (k / cols) * (v.height + gap);
    for (int64_t y = 0; y < v.height; ++y)
      std::copy(fr.begin() + y * v.width * 3, fr.begin() + (y + 1) * v.width * 3,
                sheet.begin() + ((y0 + y) * SW + x0) * 3);
  }
  write_png_rgb(path, SW, SH, sheet.data());
}

}  // namespace loong
