// Videos as the video tokenizer gives them back (encode, quantize, decode): scoring those bounds
// what generation through that tokenizer can reach, since every generated frame is a decoding.
#pragma once
#include <cstdint>
#include <vector>

#include "tokenizer/video_tokenizer.h"

namespace loong::eval {

// Reconstructs `frames` (RGB uint8 [size, size, 3] each, size = the tokenizer's resolution) in
// consecutive clips of `clip_frames` (1 + 4k, the length the tokenizer was trained on; 65 in the
// demo), the tail in the longest 1 + 4k clips that fit: every frame comes back, in order.
// InputError from the tokenizer when the frame size does not match it.
std::vector<std::vector<uint8_t>> tokenizer_round_trip(tok::VideoTokenizer& tokenizer,
                                                       const std::vector<std::vector<uint8_t>>& frames, int64_t size,
                                                       int64_t clip_frames = 65);

}  // namespace loong::eval
