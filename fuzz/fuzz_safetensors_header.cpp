// The safetensors reader (core/safetensors.h): length prefix, JSON header, data buffer. The input
// is a whole file. An accepted header must describe tensors that lie inside the buffer, cover it
// exactly, and whose shapes match their byte spans.
#include <algorithm>
#include <vector>

#include "core/safetensors.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace loong;
  fuzz::expect_typed_errors([&] {
    const SafetensorsHeader h = parse_safetensors_header({data, size}, "fuzz.safetensors");
    LOONG_FUZZ_REQUIRE(h.data_start >= 10 && h.data_start <= size);
    const uint64_t data_size = size - h.data_start;
    uint64_t covered = 0;
    for (const auto& [name, t] : h.tensors) {
      LOONG_FUZZ_REQUIRE(t.begin <= t.end && t.end <= data_size);
      for (int64_t d : t.shape) LOONG_FUZZ_REQUIRE(d >= 0);
      LOONG_FUZZ_REQUIRE(static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype) == t.end - t.begin);
      covered += t.end - t.begin;
    }
    LOONG_FUZZ_REQUIRE(covered == data_size);
  });
  return 0;
}
