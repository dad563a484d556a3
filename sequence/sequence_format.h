// The sequence format of docs/architecture.md (fixed): one sample is
//   <bos> caption-tokens (padded/truncated to a fixed text budget) <bov> frame0 frame1 ... <eov>
// with each latent frame a row-major h x w grid of codes. Vocabulary: text tokens [0, V_text),
// then <pad> <bos> <eos> <bov> <eov>, then video codes [V_off, V_off + K), then padding ids up to a
// multiple of `pad_to` (tensor parallelism splits the vocabulary evenly; padding ids never occur).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace loong {

struct VocabLayout {
  int64_t text_vocab = 0;  // V_text: SentencePiece pieces
  int64_t codebook = 0;    // K: video tokenizer codes
  int64_t pad_to = 64;

  int32_t pad() const { return static_cast<int32_t>(text_vocab); }
  int32_t bos() const { return static_cast<int32_t>(text_vocab + 1); }
  int32_t eos() const { return static_cast<int32_t>(text_vocab + 2); }
  int32_t bov() const { return static_cast<int32_t>(text_vocab + 3); }
  int32_t eov() const { return static_cast<int32_t>(text_vocab + 4); }
  int64_t video_offset() const { return text_vocab + 5; }  // V_off
  int64_t size() const;                                    // padded model vocabulary
  // ConfigError naming `source` when sizes are not positive.
  void validate(const std::string& source) const;
};

// How a sample's video tokens are laid out: `frames` latent frames of `grid_h` x `grid_w` codes.
struct SampleShape {
  int64_t text_budget = 32;  // caption tokens per sample (truncated or padded with <pad>)
  int64_t frames = 1;
  int64_t grid_h = 8, grid_w = 8;
  int64_t tokens_per_frame() const { return grid_h * grid_w; }
  // Tokens fed to the model: <bos> text <bov> video <eov> minus the last (inputs are seq[:-1]).
  int64_t model_length() const { return 1 + text_budget + 1 + frames * tokens_per_frame() + 1 - 1; }
};

// Loss re-weighting by latent-frame index (docs/architecture.md, Loss re-weighting and loss balance).
struct LossWeighting {
  enum class Scheme { None, SegmentBalanced, PerFrame } scheme = Scheme::None;
  // Segment boundaries for SegmentBalanced, in latent frames: frame 0 | frames [1, short_end) |
  // frames [short_end, ...). Default: the 17-pixel-frame clip is latent frames 0..4.
  int64_t short_end = 5;
  std::vector<double> per_frame;  // PerFrame: weight of frame f (the last entry repeats)
  bool text_loss = false;         // also train on caption tokens (weight 1 each)

  // Parses "none" | "segment_balanced" | "per_frame"; ConfigError naming `key` otherwise.
  static Scheme parse(const std::string& name, const std::string& key);
};

// One sample, ready for the model: inputs, next-token targets, per-target loss weights, and the
// latent-frame index of each target (-1 for text and <bov>; `frames` for <eov>).
struct BuiltSample {
  std::vector<int32_t> tokens, targets;
  std::vector<float> weights;
  std::vector<int16_t> frame_of_target;
};

// The condition every sample starts with: <bos> text (truncated or padded with <pad> to
// `text_budget` tokens) <bov>; 2 + text_budget ids. InputError naming the position when a text id
// is outside [0, V_text). Generation starts from the same prefix.
std::vector<int32_t> text_prefix(const VocabLayout& vocab, int64_t text_budget, std::span<const int32_t> text);

// Builds a sample. `text` are caption token ids (< V_text), `codes` frames*h*w code ids (< K).
// InputError naming the offending value when an id is out of range or `codes` has the wrong size.
BuiltSample build_sample(const VocabLayout& vocab, const SampleShape& shape, const LossWeighting& weighting,
                         std::span<const int32_t> text, std::span<const int32_t> codes);

// The loss weight of a target in latent frame `frame` (`frames` = <eov>) for a sample of
// `frames` latent frames. Normalised so that the weights of one sample's video targets sum to
// their count under every scheme (the loss scale does not change with the scheme).
double frame_weight(const LossWeighting& w, const SampleShape& shape, int64_t frame);

}  // namespace loong
