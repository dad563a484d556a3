#include "tokenizer/corpus_clips.h"

#include "core/error.h"

namespace loong::tok {

CorpusClipSampler::CorpusClipSampler(const CorpusReader& corpus, const std::string& split, int32_t frames,
                                     uint64_t seed)
    : corpus_(corpus), frames_(frames), rng_(seed) {
  for (const auto& c : corpus.list_clips()) {
    if (c.split != split || c.pixel_frames < frames) continue;
    ids_.push_back(c.id);
    lengths_.push_back(c.pixel_frames);
    h_ = c.height, w_ = c.width;
  }
  if (ids_.empty())
    throw InputError("corpus " + corpus.dir().string() + " has no " + split + " clip of at least " +
                     std::to_string(frames) + " frames");
}

std::vector<uint8_t> CorpusClipSampler::next(int64_t n) {
  std::vector<uint8_t> out;
  out.reserve(static_cast<size_t>(n) * frames_ * h_ * w_ * 3);
  for (int64_t i = 0; i < n; ++i) {
    const size_t c = rng_() % ids_.size();
    const int32_t starts = (lengths_[c] - frames_) / 4 + 1;
    const int32_t first = 4 * static_cast<int32_t>(rng_() % static_cast<uint64_t>(starts));
    auto f = corpus_.read_frames(ids_[c], first, frames_);
    out.insert(out.end(), f.begin(), f.end());
  }
  return out;
}

std::vector<uint8_t> CorpusClipSampler::fixed(int64_t first, int64_t n) const {
  std::vector<uint8_t> out;
  for (int64_t i = first; i < first + n; ++i) {
    auto f = corpus_.read_frames(ids_[static_cast<size_t>(i) % ids_.size()], 0, frames_);
    out.insert(out.end(), f.begin(), f.end());
  }
  return out;
}

}  // namespace loong::tok
