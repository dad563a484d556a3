// What a Moving-MNIST caption promises (dataloader/moving_mnist.cpp writes them):
//   "the digit 3 moves down and right"
//   "the digit 7 moves left, bouncing off the edges"
// i.e. "the digit D moves DIRECTION[, bouncing off the edges]", DIRECTION one of up, down, left,
// right or "<up|down> and <left|right>": the digit's initial motion. Two-digit captions ("the
// digit 3 moves up and the digit 5 moves left") are recognised and rejected as unsupported.
#pragma once
#include <string>

#include "core/error.h"

namespace loong::eval {

// Direction of motion in image axes: horizontal -1 left, +1 right; vertical -1 up, +1 down
// (rows grow downwards); 0 = no motion along that axis.
struct Direction {
  int horizontal = 0, vertical = 0;
  bool operator==(const Direction&) const = default;
  // As captions say it: "up and left", "right", ... and "none" for no motion.
  std::string str() const;
  // Same axes in motion (signs ignored): what stays true of a bouncing digit.
  bool same_axes(const Direction& o) const {
    return (horizontal != 0) == (o.horizontal != 0) && (vertical != 0) == (o.vertical != 0);
  }
};

struct Caption {
  int digit = 0;  // 0..9
  Direction direction;
  bool bouncing = false;  // ", bouncing off the edges"
};

// A caption this evaluator does not score: a valid Moving-MNIST caption with two digits.
class UnsupportedCaptionError : public InputError {
 public:
  using InputError::InputError;
};

// Case and surrounding white space are ignored, as is a final period. InputError quoting the
// caption and saying what was expected when it does not parse; UnsupportedCaptionError for a
// two-digit caption.
Caption parse_caption(const std::string& caption);

}  // namespace loong::eval
