#include "eval/tokenizer_round_trip.h"

#include <algorithm>

#include "core/error.h"

namespace loong::eval {

std::vector<std::vector<uint8_t>> tokenizer_round_trip(tok::VideoTokenizer& tokenizer,
                                                       const std::vector<std::vector<uint8_t>>& frames, int64_t size,
                                                       int64_t clip_frames) {
  if (clip_frames < 1 || (clip_frames - 1) % 4 != 0)
    throw ConfigError("tokenizer round trip: clip_frames must be 1 + 4k, got " + std::to_string(clip_frames));
  const int64_t bytes = size * size * 3;
  std::vector<std::vector<uint8_t>> out;
  std::vector<uint8_t> clip;
  for (size_t begin = 0; begin < frames.size();) {
    // The longest 1 + 4k clip that fits (a tail of 1-4 frames becomes clips of 1 frame).
    const auto left = static_cast<int64_t>(frames.size() - begin);
    const int64_t n = std::min(clip_frames, (left - 1) / 4 * 4 + 1);
    clip.clear();
    for (int64_t f = 0; f < n; ++f) {
      if (static_cast<int64_t>(frames[begin + f].size()) != bytes)
        throw InputError("tokenizer round trip: frame " + std::to_string(begin + f) + " is not " +
                         std::to_string(size) + "x" + std::to_string(size) + " RGB");
      clip.insert(clip.end(), frames[begin + f].begin(), frames[begin + f].end());
    }
    const std::vector<uint8_t> rec = tokenizer.reconstruct(clip.data(), 1, n, size, size);
    for (int64_t f = 0; f < n; ++f) out.emplace_back(rec.begin() + f * bytes, rec.begin() + (f + 1) * bytes);
    begin += static_cast<size_t>(n);
  }
  return out;
}

}  // namespace loong::eval
