#include "core/png.h"

#include <zlib.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "core/fs.h"

namespace loong {
namespace {
void put32(std::string& s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void chunk(std::string& out, const char* type, const std::string& data) {
  put32(out, static_cast<uint32_t>(data.size()));
  std::string body(type, 4);
  body += data;
  out += body;
  put32(out,
        static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()))));
}
}  // namespace

void write_png_rgb(const std::filesystem::path& path, int64_t width, int64_t height, const uint8_t* rgb) {
  std::string raw;
  raw.reserve(static_cast<size_t>(height * (1 + width * 3)));
  for (int64_t y = 0; y < height; ++y) {
    raw.push_back('\0');  // filter: none
    raw.append(reinterpret_cast<const char*>(rgb + y * width * 3), static_cast<size_t>(width * 3));
  }
  uLongf len = compressBound(static_cast<uLong>(raw.size()));
  std::string z(len, '\0');
  if (compress2(reinterpret_cast<Bytef*>(z.data()), &len, reinterpret_cast<const Bytef*>(raw.data()),
                static_cast<uLong>(raw.size()), 6) != Z_OK)
    throw IoError("cannot compress PNG data for " + path.string());
  z.resize(len);
  std::string png("\x89PNG\r\n\x1a\n", 8), ihdr;
  put32(ihdr, static_cast<uint32_t>(width));
  put32(ihdr, static_cast<uint32_t>(height));
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit, RGB, deflate, no filter, no interlace
  chunk(png, "IHDR", ihdr);
  chunk(png, "IDAT", z);
  chunk(png, "IEND", "");
  write_file_atomic(path, png);
}

}  // namespace loong
