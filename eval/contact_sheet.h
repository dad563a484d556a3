// A contact sheet of scored videos for a person to look at: one row per video, one frame per
// second of video (fewer when a row would exceed max_columns), each frame with a thin bar under
// it, green when the classifier reads the captioned digit there, red otherwise (another digit or
// none). The row starts with the captioned digit drawn in white.
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

namespace loong::eval {

class ContactSheet {
 public:
  // Frames are RGB uint8 [frame_size, frame_size, 3]; fps sets the sampling (one per second).
  ContactSheet(int64_t frame_size, double fps, int64_t max_rows = 64, int64_t max_columns = 64);
  // frame_digits: the classifier's digit per frame (-1 = none), as VideoScore::frame_digits.
  // Rows past max_rows are counted but not drawn.
  void add_row(const std::vector<std::vector<uint8_t>>& frames, const std::vector<int>& frame_digits,
               int captioned_digit);
  int64_t rows() const { return static_cast<int64_t>(rows_.size()); }
  int64_t rows_left_out() const { return left_out_; }
  // IoError naming the path on failure; InputError when no row was added.
  void write(const std::filesystem::path& path) const;

 private:
  struct Cell {
    std::vector<uint8_t> rgb;
    bool captioned;
  };
  struct Row {
    int digit;
    std::vector<Cell> cells;
  };
  int64_t size_, max_rows_, max_columns_;
  double fps_;
  std::vector<Row> rows_;
  int64_t left_out_ = 0;
};

}  // namespace loong::eval
