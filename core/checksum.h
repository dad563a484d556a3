// 64-bit FNV-1a checksums of files and buffers: detects truncated or corrupted checkpoint files
// and records (not an adversarial hash).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string_view>

namespace loong {

uint64_t fnv1a64(std::string_view bytes, uint64_t seed = 14695981039346656037ull);
// IoError naming the file when it cannot be read.
uint64_t file_checksum(const std::filesystem::path& path);

}  // namespace loong
