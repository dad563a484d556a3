// Minimal PNG writer (8-bit RGB, zlib-compressed), for images a person looks at (reconstruction
// side-by-sides, contact sheets).
#pragma once
#include <cstdint>
#include <filesystem>

namespace loong {

// rgb: row-major [height, width, 3]. IoError naming the path on failure.
void write_png_rgb(const std::filesystem::path& path, int64_t width, int64_t height, const uint8_t* rgb);

}  // namespace loong
