#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"
#include "core/safetensors.h"

namespace fs = std::filesystem;
using loong::FormatError;
using loong::SafetensorsFile;
using loong::SafetensorsWriter;

namespace {
fs::path temp_path(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("loong_test_st_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}

// A file with a hand-written header, so each malformation is exactly the one under test.
fs::path write_raw(const std::string& name, const std::string& header, size_t data_bytes) {
  std::string bytes(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  bytes += header;
  bytes += std::string(data_bytes, '\x01');
  fs::path p = temp_path(name);
  loong::write_file_atomic(p, bytes);
  return p;
}

void expect_format_error(const fs::path& p, const std::string& needle) {
  try {
    SafetensorsFile::open(p);
    FAIL() << "expected FormatError containing '" << needle << "'";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << "message must name the file: " << e.what();
  }
}
}  // namespace

TEST(Safetensors, RoundTripPreservesValuesShapesAndMetadata) {
  std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 1e-7f, -1e7f};
  std::vector<int32_t> b = {7, -8, 9};
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  w.add_f32("a", {2, 3}, a.data());
  w.add("b", loong::DType::I32, {3}, b.data());
  auto p = temp_path("rt.safetensors");
  w.write(p);
  auto f = SafetensorsFile::open(p);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  std::vector<float> out(6);
  f.read_f32("a", {2, 3}, out);
  EXPECT_EQ(out, a);
  auto raw = f.bytes("b");
  ASSERT_EQ(raw.size(), 12u);
  std::vector<int32_t> b2(3);
  std::memcpy(b2.data(), raw.data(), 12);
  EXPECT_EQ(b2, b);
  // Header size is padded so the data buffer starts 8-byte aligned.
  std::ifstream in(p, std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  EXPECT_EQ((n + 8) % 8, 0u);
}

TEST(Safetensors, ReadsF16AndBF16AsFloat) {
  // 1.0, -2.0, 0.5 in IEEE half (0x3C00, 0xC000, 0x3800) and bfloat16 (0x3F80, 0xC000, 0x3F00).
  uint16_t h[3] = {0x3C00, 0xC000, 0x3800};
  uint16_t bf[3] = {0x3F80, 0xC000, 0x3F00};
  SafetensorsWriter w;
  w.add("h", loong::DType::F16, {3}, h);
  w.add("bf", loong::DType::BF16, {3}, bf);
  auto p = temp_path("half.safetensors");
  w.write(p);
  auto f = SafetensorsFile::open(p);
  std::vector<float> out(3);
  f.read_f32("h", {3}, out);
  EXPECT_EQ(out, (std::vector<float>{1.0f, -2.0f, 0.5f}));
  f.read_f32("bf", {3}, out);
  EXPECT_EQ(out, (std::vector<float>{1.0f, -2.0f, 0.5f}));
}

TEST(Safetensors, ShapeMismatchNamesTensorAndShapes) {
  std::vector<float> a(6, 1.0f);
  SafetensorsWriter w;
  w.add_f32("model.norm.weight", {6}, a.data());
  auto p = temp_path("shape.safetensors");
  w.write(p);
  auto f = SafetensorsFile::open(p);
  std::vector<float> out(6);
  try {
    f.read_f32("model.norm.weight", {2, 3}, out);
    FAIL();
  } catch (const FormatError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("model.norm.weight"), std::string::npos) << m;
    EXPECT_NE(m.find("[6]"), std::string::npos) << m;
    EXPECT_NE(m.find("[2, 3]"), std::string::npos) << m;
  }
  EXPECT_THROW(f.read_f32("missing", {6}, out), FormatError);
}

TEST(Safetensors, TruncatedFileIsRejected) {
  std::vector<float> a(1000, 2.0f);
  SafetensorsWriter w;
  w.add_f32("a", {1000}, a.data());
  auto p = temp_path("trunc.safetensors");
  w.write(p);
  fs::resize_file(p, fs::file_size(p) - 100);
  expect_format_error(p, "beyond the data buffer");
  fs::resize_file(p, 5);
  expect_format_error(p, "shorter than the 8-byte header");
  fs::resize_file(p, 20);
  expect_format_error(p, "runs past the end");
}

TEST(Safetensors, MalformedHeadersAreRejectedWithTheField) {
  expect_format_error(write_raw("notjson.st", "{\"a\": [", 0), "not valid JSON");
  expect_format_error(write_raw("array.st", "[1,2]", 0), "does not start with '{'");
  expect_format_error(write_raw("dtype.st", R"({"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})", 4),
                      "unknown dtype 'F33'");
  expect_format_error(write_raw("negshape.st", R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
                      "shape entry -1");
  expect_format_error(write_raw("span.st", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4), "needs 8");
  expect_format_error(write_raw("overlap.st",
                                R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                12),
                      "overlap");
  expect_format_error(write_raw("hole.st", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8), "hole");
  expect_format_error(write_raw("trailing.st", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8),
                      "trailing bytes");
  expect_format_error(write_raw("extra.st", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})", 4),
                      "unknown field 'x'");
  expect_format_error(write_raw("meta.st", R"({"__metadata__":{"k":3}})", 0), "not a string");
  expect_format_error(write_raw("offsets.st", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4),
                      "data_offsets");
}

// Found while writing fuzz/fuzz_safetensors_header.cpp: 2^62 F32 elements need 2^64 bytes, which
// wrapped to 0, so a header claiming 2^62 floats in an empty buffer was accepted.
TEST(Safetensors, ByteCountThatWrapsAround2To64IsRejected) {
  expect_format_error(
      write_raw("wrap.st", R"({"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0),
      "overflows 2^64 bytes");
  expect_format_error(
      write_raw("wrap64.st", R"({"a":{"dtype":"F64","shape":[2,1152921504606846976],"data_offsets":[0,0]}})", 0),
      "overflows 2^64 bytes");
}

// After a 0 dimension the element count stays 0, so no overflow check saw the next dimension:
// 2^63 was stored as int64 -2^63, a negative shape entry.
TEST(Safetensors, DimensionAbove2To62IsRejectedEvenAfterAZero) {
  expect_format_error(
      write_raw("zerobig.st", R"({"a":{"dtype":"U8","shape":[0,9223372036854775808],"data_offsets":[0,0]}})", 0),
      "exceeds 2^62");
}

// The in-memory entry point the fuzz target uses applies the same checks as open(), naming `where`.
TEST(Safetensors, ParseHeaderFromBytesMatchesOpen) {
  std::vector<float> a = {1, 2, 3};
  SafetensorsWriter w;
  w.add_f32("a", {3}, a.data());
  w.set_metadata("k", "v");
  const auto p = temp_path("bytes.safetensors");
  w.write(p);
  const std::string bytes = loong::read_file(p);
  const auto* u = reinterpret_cast<const uint8_t*>(bytes.data());
  const loong::SafetensorsHeader h = loong::parse_safetensors_header({u, bytes.size()}, "mem.st");
  ASSERT_EQ(h.tensors.size(), 1u);
  EXPECT_EQ(h.tensors.at("a").shape, std::vector<int64_t>{3});
  EXPECT_EQ(h.metadata.at("k"), "v");
  EXPECT_EQ(h.data_start + 12, bytes.size());
  try {
    loong::parse_safetensors_header({u, bytes.size() - 1}, "mem.st");
    FAIL() << "a truncated buffer must be rejected";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("safetensors file mem.st: tensor 'a'"), std::string::npos) << e.what();
  }
}
