#include "core/checksum.h"

#include <fstream>
#include <vector>

#include "core/error.h"

namespace loong {

uint64_t fnv1a64(std::string_view bytes, uint64_t h) {
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  return h;
}

uint64_t file_checksum(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot open " + path.string() + " to checksum it");
  std::vector<char> buf(1 << 20);
  uint64_t h = 14695981039346656037ull;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h = fnv1a64(std::string_view(buf.data(), static_cast<size_t>(in.gcount())), h);
  }
  if (in.bad()) throw IoError("cannot read " + path.string());
  return h;
}

}  // namespace loong
