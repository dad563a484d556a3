// Shared by the libFuzzer targets (docs/fuzzing.md). A target hands the bytes to the real parser;
// a loong::Error (core/error.h) is the expected rejection of a bad input and is swallowed. Any
// other exception escapes LLVMFuzzerTestOneInput, which libFuzzer reports as a crash, as it does
// sanitizer reports, aborts and timeouts. `require` turns a broken invariant of an accepted input
// into such a finding.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "core/error.h"

namespace loong::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Runs `parse`, treating loong::Error as the parser's answer to a bad input.
template <typename F>
void expect_typed_errors(F&& parse) {
  try {
    parse();
  } catch (const loong::Error&) {
  }
}

[[noreturn]] inline void fail_invariant(const char* what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  std::abort();
}
#define LOONG_FUZZ_REQUIRE(cond) \
  do {                           \
    if (!(cond)) ::loong::fuzz::fail_invariant(#cond); \
  } while (0)

// A directory of this process's own under $TMPDIR (or /tmp), removed at exit, for parsers that
// only read from a path.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::filesystem::path d = std::filesystem::path(tmp && *tmp ? tmp : "/tmp") /
                              ("loong-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return d;
  }();
  return dir;
}

// Plain write (no fsync: the file only has to be readable by this process).
inline void write_bytes(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "fuzz harness: cannot write %s\n", path.c_str());
    std::abort();
  }
}

}  // namespace loong::fuzz
