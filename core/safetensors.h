// Reader and writer for the safetensors format (https://huggingface.co/docs/safetensors):
//   8 bytes  little-endian u64 N = header length
//   N bytes  UTF-8 JSON: {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...,
//            "__metadata__": {"<key>": "<string>"}}
//   rest     the byte buffer; offsets are relative to its start.
// The reader validates every header field (types, known dtype, shape/offset agreement, bounds,
// no overlap, no holes) and throws FormatError naming the file and tensor on any violation.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace loong {

enum class DType { BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64, F8_E5M2, F8_E4M3 };

const char* dtype_name(DType d);
size_t dtype_size(DType d);  // bytes per element

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets into the data buffer
  int64_t numel() const;
};

// The validated header of a safetensors file: its tensors and metadata, and where its data buffer
// starts (8 + header length, a byte offset into the file).
struct SafetensorsHeader {
  std::map<std::string, TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;
};

// Validates the whole file held in `file` (length prefix, JSON header, data buffer) as
// SafetensorsFile::open does; FormatError naming `where` (the file) and the tensor on any
// violation. Reads nothing outside `file`; keeps no pointer into it.
SafetensorsHeader parse_safetensors_header(std::span<const uint8_t> file, const std::string& where);

// A read-only view of a safetensors file, memory-mapped; tensors point into the mapping and
// stay valid while this object lives.
class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::filesystem::path& path);
  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
  ~SafetensorsFile();

  const std::filesystem::path& path() const { return path_; }
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;  // FormatError if absent
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // Raw bytes of a tensor.
  std::span<const uint8_t> bytes(const std::string& name) const;
  // Copies tensor `name` into `out` as float32 (F32, F16 and BF16 accepted), checking that its
  // shape equals `expected_shape`; FormatError naming file, tensor and both shapes otherwise.
  void read_f32(const std::string& name, const std::vector<int64_t>& expected_shape, std::span<float> out) const;

 private:
  SafetensorsFile() = default;
  std::filesystem::path path_;
  const uint8_t* map_ = nullptr;
  size_t map_size_ = 0;
  const uint8_t* data_ = nullptr;  // start of the byte buffer inside the mapping
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Collects tensors (by pointer; the caller keeps them alive until write()) and writes one file.
// The file is written to `<path>.tmp`, fsynced and renamed, so a reader never sees half a file.
class SafetensorsWriter {
 public:
  void add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* data);
  void add_f32(const std::string& name, std::vector<int64_t> shape, const float* data) {
    add(name, DType::F32, std::move(shape), data);
  }
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  void write(const std::filesystem::path& path) const;

 private:
  struct Entry {
    TensorInfo info;
    const void* data;
  };
  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace loong
