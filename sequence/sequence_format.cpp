#include "sequence/sequence_format.h"

#include <algorithm>

#include "core/error.h"

namespace loong {

int64_t VocabLayout::size() const {
  const int64_t n = text_vocab + 5 + codebook;
  return pad_to > 1 ? (n + pad_to - 1) / pad_to * pad_to : n;
}

void VocabLayout::validate(const std::string& source) const {
  if (text_vocab <= 0) throw ConfigError(source + ": text vocabulary size must be positive");
  if (codebook <= 0) throw ConfigError(source + ": video codebook size must be positive");
  if (pad_to <= 0) throw ConfigError(source + ": vocabulary padding multiple must be positive");
}

LossWeighting::Scheme LossWeighting::parse(const std::string& name, const std::string& key) {
  if (name == "none") return Scheme::None;
  if (name == "segment_balanced") return Scheme::SegmentBalanced;
  if (name == "per_frame") return Scheme::PerFrame;
  throw ConfigError(key + " = \"" + name + "\": expected \"none\", \"segment_balanced\" or \"per_frame\"");
}

namespace {
// Segment of a frame under SegmentBalanced; <eov> (frame == frames) joins the last frame's.
int segment_of(const LossWeighting& w, int64_t frames, int64_t frame) {
  const int64_t f = std::min(frame, frames - 1);
  return f == 0 ? 0 : (f < w.short_end ? 1 : 2);
}
}  // namespace

double frame_weight(const LossWeighting& w, const SampleShape& shape, int64_t frame) {
  const int64_t P = shape.tokens_per_frame(), F = shape.frames;
  const double total = static_cast<double>(F * P + 1);
  switch (w.scheme) {
    case LossWeighting::Scheme::None:
      return 1.0;
    case LossWeighting::Scheme::SegmentBalanced: {
      int64_t count[3] = {0, 0, 0};
      for (int64_t f = 0; f <= F; ++f) count[segment_of(w, F, f)] += f < F ? P : 1;
      const int segments = (count[0] > 0) + (count[1] > 0) + (count[2] > 0);
      return total / segments / static_cast<double>(count[segment_of(w, F, frame)]);
    }
    case LossWeighting::Scheme::PerFrame: {
      if (w.per_frame.empty()) return 1.0;
      auto raw = [&](int64_t f) {
        return w.per_frame[std::min<size_t>(static_cast<size_t>(std::min(f, F - 1)), w.per_frame.size() - 1)];
      };
      double sum = 0;
      for (int64_t f = 0; f <= F; ++f) sum += raw(f) * (f < F ? P : 1);
      return sum > 0 ? raw(frame) * total / sum : 0.0;
    }
  }
  return 1.0;
}

std::vector<int32_t> text_prefix(const VocabLayout& vocab, int64_t text_budget, std::span<const int32_t> text) {
  std::vector<int32_t> seq;
  seq.reserve(text_budget + 2);
  seq.push_back(vocab.bos());
  for (int64_t i = 0; i < text_budget; ++i) {
    int32_t t = vocab.pad();
    if (i < static_cast<int64_t>(text.size())) {
      t = text[i];
      if (t < 0 || t >= vocab.text_vocab)
        throw InputError("caption token " + std::to_string(t) + " at position " + std::to_string(i) +
                         " is outside the text vocabulary [0, " + std::to_string(vocab.text_vocab) + ")");
    }
    seq.push_back(t);
  }
  seq.push_back(vocab.bov());
  return seq;
}

BuiltSample build_sample(const VocabLayout& vocab, const SampleShape& shape, const LossWeighting& weighting,
                         std::span<const int32_t> text, std::span<const int32_t> codes) {
  const int64_t P = shape.tokens_per_frame();
  if (static_cast<int64_t>(codes.size()) != shape.frames * P)
    throw InputError("sample has " + std::to_string(codes.size()) + " video codes, expected " +
                     std::to_string(shape.frames) + " frames x " + std::to_string(P));
  std::vector<int32_t> seq = text_prefix(vocab, shape.text_budget, text);
  std::vector<int16_t> frame(seq.size(), -1);  // latent frame of each position of seq (-1 text)
  seq.reserve(shape.model_length() + 1);
  for (int64_t i = 0; i < static_cast<int64_t>(codes.size()); ++i) {
    if (codes[i] < 0 || codes[i] >= vocab.codebook)
      throw InputError("video code " + std::to_string(codes[i]) + " at index " + std::to_string(i) +
                       " is outside the codebook [0, " + std::to_string(vocab.codebook) + ")");
    seq.push_back(static_cast<int32_t>(vocab.video_offset() + codes[i]));
    frame.push_back(static_cast<int16_t>(i / P));
  }
  seq.push_back(vocab.eov());
  frame.push_back(static_cast<int16_t>(shape.frames));

  BuiltSample s;
  const size_t n = seq.size() - 1;
  s.tokens.assign(seq.begin(), seq.end() - 1);
  s.targets.assign(seq.begin() + 1, seq.end());
  s.frame_of_target.assign(frame.begin() + 1, frame.end());
  s.weights.resize(n);
  std::vector<double> per_frame(shape.frames + 1);
  for (int64_t f = 0; f <= shape.frames; ++f) per_frame[f] = frame_weight(weighting, shape, f);
  for (size_t i = 0; i < n; ++i) {
    const int16_t f = s.frame_of_target[i];
    if (f >= 0) {
      s.weights[i] = static_cast<float>(per_frame[f]);
    } else {
      // Text targets (captions, pads, <bov>) are the condition; optionally trained on.
      const bool real_text = s.targets[i] != vocab.pad() && s.targets[i] != vocab.bov();
      s.weights[i] = weighting.text_loss && real_text ? 1.0f : 0.0f;
    }
  }
  return s;
}

}  // namespace loong
