#include "eval/contact_sheet.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "core/error.h"
#include "core/png.h"

namespace loong::eval {
namespace {

constexpr int64_t kBar = 4, kGap = 2, kHeader = 16;  // pixels
constexpr std::array<uint8_t, 3> kBackground{32, 32, 32}, kGreen{40, 200, 70}, kRed{220, 40, 40};

// 3x5 bitmaps of 0..9, one row per 3 bits (MSB = left).
constexpr uint8_t kGlyphs[10][5] = {{7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7},
                                    {5, 5, 7, 1, 1}, {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1},
                                    {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7}};

}  // namespace

ContactSheet::ContactSheet(int64_t frame_size, double fps, int64_t max_rows, int64_t max_columns)
    : size_(frame_size), max_rows_(max_rows), max_columns_(max_columns), fps_(fps) {
  if (frame_size < 1 || !(fps > 0) || max_rows < 1 || max_columns < 1)
    throw InputError("contact sheet: frame size, fps, max rows and max columns must be positive");
}

void ContactSheet::add_row(const std::vector<std::vector<uint8_t>>& frames, const std::vector<int>& frame_digits,
                           int captioned_digit) {
  if (static_cast<int64_t>(rows_.size()) >= max_rows_) {
    ++left_out_;
    return;
  }
  if (frame_digits.size() != frames.size())
    throw InputError("contact sheet: " + std::to_string(frames.size()) + " frames but " +
                     std::to_string(frame_digits.size()) + " predictions");
  const auto n = static_cast<int64_t>(frames.size());
  int64_t every = std::max<int64_t>(1, std::llround(fps_));
  if (n > 0) every = std::max(every, (n + max_columns_ - 1) / max_columns_);
  Row row{captioned_digit, {}};
  for (int64_t f = 0; f < n; f += every) {
    if (static_cast<int64_t>(frames[f].size()) != size_ * size_ * 3)
      throw InputError("contact sheet: frame " + std::to_string(f) + " is not " + std::to_string(size_) + "x" +
                       std::to_string(size_) + " RGB");
    row.cells.push_back({frames[f], frame_digits[f] == captioned_digit});
  }
  rows_.push_back(std::move(row));
}

void ContactSheet::write(const std::filesystem::path& path) const {
  if (rows_.empty()) throw InputError("contact sheet " + path.string() + ": no video to draw");
  size_t columns = 0;
  for (const auto& r : rows_) columns = std::max(columns, r.cells.size());
  const int64_t cell_w = size_ + kGap, cell_h = size_ + kBar + kGap;
  const int64_t width = kHeader + kGap + static_cast<int64_t>(columns) * cell_w;
  const int64_t height = static_cast<int64_t>(rows_.size()) * cell_h + kGap;
  std::vector<uint8_t> img(static_cast<size_t>(width * height * 3));
  for (int64_t i = 0; i < width * height; ++i) std::copy(kBackground.begin(), kBackground.end(), img.begin() + 3 * i);
  auto put = [&](int64_t x, int64_t y, const uint8_t* rgb) {
    std::copy(rgb, rgb + 3, img.begin() + 3 * (y * width + x));
  };
  for (size_t r = 0; r < rows_.size(); ++r) {
    const int64_t y0 = static_cast<int64_t>(r) * cell_h + kGap;
    // The captioned digit, scaled 3x, centred in the header.
    const uint8_t white[3] = {255, 255, 255};
    const int64_t gx = (kHeader - 9) / 2, gy = y0 + std::max<int64_t>(0, size_ - 15) / 2;
    for (int64_t v = 0; v < 15; ++v)
      for (int64_t u = 0; u < 9; ++u)
        if (gy + v < height && (kGlyphs[rows_[r].digit][v / 3] >> (2 - u / 3) & 1)) put(gx + u, gy + v, white);
    for (size_t c = 0; c < rows_[r].cells.size(); ++c) {
      const Cell& cell = rows_[r].cells[c];
      const int64_t x0 = kHeader + kGap + static_cast<int64_t>(c) * cell_w;
      for (int64_t y = 0; y < size_; ++y)
        for (int64_t x = 0; x < size_; ++x) put(x0 + x, y0 + y, cell.rgb.data() + 3 * (y * size_ + x));
      const auto& bar = cell.captioned ? kGreen : kRed;
      for (int64_t y = size_; y < size_ + kBar; ++y)
        for (int64_t x = 0; x < size_; ++x) put(x0 + x, y0 + y, bar.data());
    }
  }
  write_png_rgb(path, width, height, img.data());
}

}  // namespace loong::eval
