#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"

namespace loong {
namespace {

struct DTypeRow {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeRow kDTypes[] = {
    {DType::BOOL, "BOOL", 1}, {DType::U8, "U8", 1},           {DType::I8, "I8", 1},           {DType::I16, "I16", 2},
    {DType::U16, "U16", 2},   {DType::F16, "F16", 2},         {DType::BF16, "BF16", 2},       {DType::I32, "I32", 4},
    {DType::U32, "U32", 4},   {DType::F32, "F32", 4},         {DType::F64, "F64", 8},         {DType::I64, "I64", 8},
    {DType::U64, "U64", 8},   {DType::F8_E5M2, "F8_E5M2", 1}, {DType::F8_E4M3, "F8_E4M3", 1},
};

// Header larger than this is certainly not a tensor index (the reference implementation uses
// 100 MB); refusing it early keeps a corrupt length from triggering a huge allocation.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

float half_to_float(uint16_t h) {
  uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign << 31;
    } else {  // subnormal: renormalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      bits = (sign << 31) | ((127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    bits = (sign << 31) | 0x7f800000u | (mant << 13);
  } else {
    bits = (sign << 31) | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

const char* dtype_name(DType d) {
  for (const auto& r : kDTypes)
    if (r.dtype == d) return r.name;
  return "?";
}
size_t dtype_size(DType d) {
  for (const auto& r : kDTypes)
    if (r.dtype == d) return r.size;
  return 0;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& o) noexcept { *this = std::move(o); }
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& o) noexcept {
  if (this != &o) {
    if (map_) ::munmap(const_cast<uint8_t*>(map_), map_size_);
    path_ = std::move(o.path_);
    map_ = std::exchange(o.map_, nullptr);
    map_size_ = std::exchange(o.map_size_, 0);
    data_ = std::exchange(o.data_, nullptr);
    tensors_ = std::move(o.tensors_);
    metadata_ = std::move(o.metadata_);
  }
  return *this;
}
SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(const_cast<uint8_t*>(map_), map_size_);
}

SafetensorsHeader parse_safetensors_header(std::span<const uint8_t> file, const std::string& where) {
  auto fail = [&](const std::string& why) -> FormatError {
    return FormatError("safetensors file " + where + ": " + why);
  };
  const uint64_t file_size = file.size();
  if (file_size < 8)
    throw fail("file is " + std::to_string(file_size) + " bytes, shorter than the 8-byte header length");
  const uint8_t* bytes = file.data();
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > kMaxHeaderBytes) throw fail("header length " + std::to_string(header_len) + " exceeds 100 MB");
  if (header_len > file_size - 8)
    throw fail("header length " + std::to_string(header_len) + " runs past the end of the file (" +
               std::to_string(file_size) + " bytes; truncated?)");
  if (header_len < 2 || bytes[8] != '{') throw fail("header does not start with '{'");

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + 8, bytes + 8 + header_len);
  } catch (const nlohmann::json::exception& e) {
    throw fail(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) throw fail("header is not a JSON object");

  SafetensorsHeader h;
  h.data_start = 8 + header_len;
  const uint64_t data_size = file_size - 8 - header_len;
  std::vector<std::pair<uint64_t, uint64_t>> spans;

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) throw fail("__metadata__ is not an object");
      for (auto m2 = v.begin(); m2 != v.end(); ++m2) {
        if (!m2.value().is_string()) throw fail("__metadata__ value for key '" + m2.key() + "' is not a string");
        h.metadata[m2.key()] = m2.value().get<std::string>();
      }
      continue;
    }
    auto tfail = [&](const std::string& why) { return fail("tensor '" + name + "': " + why); };
    if (!v.is_object()) throw tfail("entry is not an object");
    for (auto k = v.begin(); k != v.end(); ++k)
      if (k.key() != "dtype" && k.key() != "shape" && k.key() != "data_offsets")
        throw tfail("unknown field '" + k.key() + "'");
    if (!v.contains("dtype") || !v["dtype"].is_string()) throw tfail("field 'dtype' missing or not a string");
    if (!v.contains("shape") || !v["shape"].is_array()) throw tfail("field 'shape' missing or not an array");
    if (!v.contains("data_offsets") || !v["data_offsets"].is_array() || v["data_offsets"].size() != 2)
      throw tfail("field 'data_offsets' missing or not a pair");

    TensorInfo info;
    info.name = name;
    const std::string dt = v["dtype"].get<std::string>();
    bool known = false;
    for (const auto& r : kDTypes)
      if (dt == r.name) info.dtype = r.dtype, known = true;
    if (!known) throw tfail("unknown dtype '" + dt + "'");
    // Every dimension and the element count stay <= 2^62, so a shape is a valid int64 vector
    // (also after a 0 dimension, which keeps the count 0), and the byte count must not wrap
    // around 2^64 (2^62 F32 elements would be "0 bytes").
    constexpr uint64_t kMaxCount = 1ull << 62;
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) throw tfail("shape entry " + d.dump() + " is not a non-negative integer");
      uint64_t dim = d.get<uint64_t>();
      if (dim > kMaxCount) throw tfail("shape entry " + std::to_string(dim) + " exceeds 2^62");
      if (dim != 0 && numel > kMaxCount / dim) throw tfail("shape overflows");
      numel *= dim;
      info.shape.push_back(static_cast<int64_t>(dim));
    }
    const uint64_t elem = dtype_size(info.dtype);
    if (numel > UINT64_MAX / elem) throw tfail("shape " + shape_text(info.shape) + " of " + dt + " overflows 2^64 bytes");
    for (const auto& o : v["data_offsets"])
      if (!o.is_number_unsigned()) throw tfail("data_offsets entry " + o.dump() + " is not a non-negative integer");
    info.begin = v["data_offsets"][0].get<uint64_t>();
    info.end = v["data_offsets"][1].get<uint64_t>();
    if (info.end < info.begin) throw tfail("data_offsets end before begin");
    if (info.end > data_size)
      throw tfail("data_offsets end " + std::to_string(info.end) + " beyond the data buffer of " +
                  std::to_string(data_size) + " bytes (truncated file?)");
    if (info.end - info.begin != numel * elem)
      throw tfail("data_offsets span " + std::to_string(info.end - info.begin) + " bytes but shape " +
                  shape_text(info.shape) + " of " + dt + " needs " + std::to_string(numel * elem));
    spans.emplace_back(info.begin, info.end);
    h.tensors.emplace(name, std::move(info));
  }
  // The format requires the buffer to be covered exactly: no overlap and no holes.
  std::sort(spans.begin(), spans.end());
  uint64_t cursor = 0;
  for (const auto& [b, e] : spans) {
    if (b != cursor)
      throw fail(b < cursor ? "tensors overlap at byte " + std::to_string(b)
                            : "hole in the data buffer at byte " + std::to_string(cursor));
    cursor = e;
  }
  if (cursor != data_size)
    throw fail("data buffer has " + std::to_string(data_size - cursor) + " trailing bytes not owned by any tensor");
  return h;
}

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  const std::string where = path.string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError("cannot open safetensors file " + where + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw IoError("cannot stat " + where + ": " + std::strerror(errno));
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    throw FormatError("safetensors file " + where + ": file is " + std::to_string(file_size) +
                      " bytes, shorter than the 8-byte header length");
  }
  void* m = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) throw IoError("cannot map " + where + ": " + std::strerror(errno));

  SafetensorsFile f;  // owns the mapping from here on, also when the header is rejected
  f.path_ = path;
  f.map_ = static_cast<const uint8_t*>(m);
  f.map_size_ = file_size;
  SafetensorsHeader h = parse_safetensors_header({f.map_, f.map_size_}, where);
  f.data_ = f.map_ + h.data_start;
  f.tensors_ = std::move(h.tensors);
  f.metadata_ = std::move(h.metadata);
  return f;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw FormatError("safetensors file " + path_.string() + ": no tensor '" + name + "'");
  return it->second;
}

std::span<const uint8_t> SafetensorsFile::bytes(const std::string& name) const {
  const auto& i = info(name);
  return {data_ + i.begin, data_ + i.end};
}

void SafetensorsFile::read_f32(const std::string& name, const std::vector<int64_t>& expected_shape,
                               std::span<float> out) const {
  const auto& i = info(name);
  if (i.shape != expected_shape)
    throw FormatError("safetensors file " + path_.string() + ": tensor '" + name + "' has shape " +
                      shape_text(i.shape) + ", expected " + shape_text(expected_shape));
  if (static_cast<int64_t>(out.size()) != i.numel())
    throw FormatError("safetensors file " + path_.string() + ": tensor '" + name + "' destination holds " +
                      std::to_string(out.size()) + " floats, tensor has " + std::to_string(i.numel()));
  const uint8_t* p = data_ + i.begin;
  switch (i.dtype) {
    case DType::F32:
      std::memcpy(out.data(), p, out.size() * 4);
      break;
    case DType::F16:
      for (size_t k = 0; k < out.size(); ++k) {
        uint16_t h;
        std::memcpy(&h, p + 2 * k, 2);
        out[k] = half_to_float(h);
      }
      break;
    case DType::BF16:
      for (size_t k = 0; k < out.size(); ++k) {
        uint16_t h;
        std::memcpy(&h, p + 2 * k, 2);
        uint32_t bits = static_cast<uint32_t>(h) << 16;
        std::memcpy(&out[k], &bits, 4);
      }
      break;
    default:
      throw FormatError("safetensors file " + path_.string() + ": tensor '" + name + "' has dtype " +
                        dtype_name(i.dtype) + ", expected a float type (F32, F16, BF16)");
  }
}

void SafetensorsWriter::add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* data) {
  if (name == "__metadata__") throw InputError("safetensors: '__metadata__' is reserved, not a tensor name");
  for (const auto& e : entries_)
    if (e.info.name == name) throw InputError("safetensors: tensor '" + name + "' added twice");
  Entry e{TensorInfo{name, dtype, std::move(shape), 0, 0}, data};
  uint64_t offset = entries_.empty() ? 0 : entries_.back().info.end;
  e.info.begin = offset;
  e.info.end = offset + static_cast<uint64_t>(e.info.numel()) * dtype_size(dtype);
  entries_.push_back(std::move(e));
}

void SafetensorsWriter::write(const std::filesystem::path& path) const {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  for (const auto& e : entries_)
    header[e.info.name] = {
        {"dtype", dtype_name(e.info.dtype)}, {"shape", e.info.shape}, {"data_offsets", {e.info.begin, e.info.end}}};
  std::string json = header.dump();
  // Pad to 8 bytes so the buffer is aligned for every dtype when the file is mapped.
  while ((json.size() + 8) % 8 != 0) json.push_back(' ');
  const uint64_t data_size = entries_.empty() ? 0 : entries_.back().info.end;
  std::string bytes;
  bytes.resize(8 + json.size() + data_size);
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  std::memcpy(bytes.data() + 8, json.data(), json.size());
  for (const auto& e : entries_)
    if (e.info.end > e.info.begin)
      std::memcpy(bytes.data() + 8 + json.size() + e.info.begin, e.data, e.info.end - e.info.begin);
  write_file_atomic(path, bytes);
}

}  // namespace loong
