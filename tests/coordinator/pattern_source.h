// A SampleSource for runtime tests: clips whose codes follow a learnable rule (a pattern that
// shifts by one column per latent frame, offset by the clip id), captions that name the offset,
// and optional corrupt clips whose fetch fails like a record with a bad checksum. It lets the
// coordinator/worker tests run without a corpus; the video pipeline's own tests use real data.
#pragma once
#include <cstdio>
#include <set>
#include <string>

#include "core/error.h"
#include "sequence/sample_source.h"

namespace loong::testing {

class PatternSource final : public SampleSource {
 public:
  PatternSource(int train_clips, int test_clips, int64_t max_frames, std::set<uint64_t> corrupt = {})
      : train_(train_clips), test_(test_clips), frames_(max_frames), corrupt_(std::move(corrupt)) {}
  // Appends "<clip id>\n" to `path` for every fetch (before a corrupt clip throws), so that a test
  // can count how often each clip was drawn independently of the runtime's own counters. One line
  // per write in O_APPEND mode: the lines of several processes do not interleave.
  void log_fetches_to(std::string path) { fetch_log_ = std::move(path); }
  VocabLayout vocab() const override { return VocabLayout{24, 16, 64}; }
  int64_t grid_h() const override { return 2; }
  int64_t grid_w() const override { return 3; }
  std::vector<ClipEntry> clips(const std::string& split) const override {
    std::vector<ClipEntry> out;
    const int first = split == "train" ? 0 : train_, n = split == "train" ? train_ : test_;
    for (int i = 0; i < n; ++i) {
      const uint64_t id = static_cast<uint64_t>(first + i);
      out.push_back({id, id % 4 == 3 ? 1 : frames_});  // some clips are single images
    }
    return out;
  }
  ClipTokens fetch(uint64_t id, int64_t frames) override {
    if (!fetch_log_.empty()) {
      if (std::FILE* f = std::fopen(fetch_log_.c_str(), "a")) {
        std::fprintf(f, "%llu\n", static_cast<unsigned long long>(id));
        std::fclose(f);
      }
    }
    if (corrupt_.count(id)) throw FormatError("clip " + std::to_string(id) + ": record checksum mismatch");
    ClipTokens t;
    t.text = {static_cast<int32_t>(id % 7), static_cast<int32_t>(10 + id % 5)};
    for (int64_t f = 0; f < frames; ++f)
      for (int64_t y = 0; y < 2; ++y)
        for (int64_t x = 0; x < 3; ++x) t.codes.push_back(static_cast<int32_t>((id % 7 + x + f + 3 * y) % 16));
    return t;
  }
  std::string describe() const override { return "pattern source (tests)"; }

 private:
  int train_, test_;
  int64_t frames_;
  std::set<uint64_t> corrupt_;
  std::string fetch_log_;
};

}  // namespace loong::testing
