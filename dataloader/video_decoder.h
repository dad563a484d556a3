// Decoding of one video file into square RGB frames at a fixed frame rate, with FFmpeg
// (libavformat/libavcodec/libswscale): any container and codec the system FFmpeg reads.
#pragma once
#include <cstdint>
#include <filesystem>
#include <utility>
#include <vector>

#include "core/error.h"

namespace loong {

// A video rejected by a limit of DecodeOptions (frame size, duration): a policy decision about a
// readable file, told apart from damage so that ingest can count it separately.
class VideoLimitError : public InputError {
 public:
  using InputError::InputError;
};

struct DecodeOptions {
  int resolution = 64;           // output frames are resolution x resolution pixels
  double fps = 8;                // output frame rate (frames per second)
  int max_width = 8192;          // source videos wider than this are rejected (pixels)
  int max_height = 8192;         // source videos taller than this are rejected (pixels)
  double max_duration_s = 7200;  // source videos longer than this are rejected (seconds)
  int decoder_threads = 1;       // libavcodec threads per file (ingest parallelizes over files)
};

struct DecodedVideo {
  int source_width = 0, source_height = 0;
  double source_fps = 0;  // the stream's average frame rate (0 if unknown)
  // Frames at `fps`, each RGB uint8 row-major [resolution, resolution, 3].
  std::vector<std::vector<uint8_t>> frames;
};

// Size the source is scaled to before the center crop: the short side becomes `resolution`, the
// long side keeps the aspect ratio (rounded to the nearest pixel, at least `resolution`).
std::pair<int, int> scaled_size(int width, int height, int resolution);

// Decodes the best video stream of `path`. Frame-rate conversion follows FFmpeg's `fps` filter
// (round to nearest): output frame n shows the last source frame whose timestamp, measured from
// the first frame and rounded to the output rate, is <= n; the last source frame is repeated
// until its end time. Frames are scaled with swscale's area filter to scaled_size() and then
// center-cropped (offset (scaled - resolution) / 2, rounded down) to a square.
// InputError naming the file if it cannot be opened, has no video stream, cannot be decoded,
// or yields no frame; VideoLimitError (an InputError) if it exceeds a limit of `options`.
DecodedVideo decode_video(const std::filesystem::path& path, const DecodeOptions& options);

}  // namespace loong
