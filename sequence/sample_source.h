// Where training samples come from: the tokenised corpus (caption tokens + video codes per clip).
// The coordinator lists clips to build each stage's order; workers fetch samples by clip id.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sequence/sequence_format.h"

namespace loong {

struct ClipEntry {
  uint64_t clip_id = 0;
  int64_t latent_frames = 0;  // video-token frames available for this clip
};

struct ClipTokens {
  std::vector<int32_t> text;   // caption token ids, < text vocabulary
  std::vector<int32_t> codes;  // frames * grid_h * grid_w code ids, < codebook
};

// Where the tokens came from, recorded in every training checkpoint (sequence/sequence_manifest.h) so
// that generation needs nothing but the checkpoint and the video tokenizer. Empty fields: unknown.
struct SourceProvenance {
  double fps = 0;               // frame rate of the clips, frames per second
  std::string tokenizer_id;     // video-token column the codes came from
  std::string tokenizer_json;   // the tokenizer's tokenizer.json as stored with the codes (config,
                                // steps, and "fingerprint" of the weights when recorded)
  std::string text_model;       // serialized SentencePiece model that made the caption tokens
};

class SampleSource {
 public:
  virtual ~SampleSource() = default;
  // Text vocabulary and codebook sizes (the model's vocabulary is derived from them).
  virtual VocabLayout vocab() const = 0;
  // Latent grid of one frame (codes per frame = grid_h * grid_w).
  virtual int64_t grid_h() const = 0;
  virtual int64_t grid_w() const = 0;
  // Clips of the given split ("train" or "test"), with how many latent frames each has.
  virtual std::vector<ClipEntry> clips(const std::string& split) const = 0;
  // The caption tokens and the first `frames` latent frames of codes of clip `clip_id`.
  // FormatError naming the clip when its record is corrupt (failed checksum, wrong size).
  virtual ClipTokens fetch(uint64_t clip_id, int64_t frames) = 0;
  // Only the caption tokens of `clip_id` (the shuffled-caption control borrows another clip's).
  virtual std::vector<int32_t> fetch_text(uint64_t clip_id) { return fetch(clip_id, 1).text; }
  // A human-readable name for logs ("corpus /data/mnist.db, tokenizer vq-1024").
  virtual std::string describe() const = 0;
  // Provenance for checkpoints; a source without one (test fixtures) returns an empty one.
  virtual SourceProvenance provenance() const { return {}; }
};

}  // namespace loong
