// Writing RGB frames as an mp4 file with libavcodec/libavformat: libx264 when the system FFmpeg
// has it (CRF 12, near-lossless), else the built-in mpeg4 encoder; yuv420p.
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

namespace loong {

// Writes `frames` (each RGB uint8 row-major [height, width, 3]; width and height even) at `fps`
// to `path`. IoError naming the file on failure; InputError for inconsistent frame sizes.
void write_mp4(const std::filesystem::path& path, const std::vector<std::vector<uint8_t>>& frames, int width,
               int height, int fps);

}  // namespace loong
