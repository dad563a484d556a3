// Minute-long video generation (docs/architecture.md, Minute-long generation): sampling with a KV cache, segment
// by segment (generate/segment_plan.h), each segment's prefix either re-encoded from the pixels of
// the video so far (re-encoding on) or the raw sampled codes of its last latent frames (off, the
// baseline). Every segment is one sequence `<bos> text <bov> codes...` of at most the trained
// length, so positions never exceed what the model saw in training.
//
// Per segment s >= 1 with tail n:
//   on:  prefix = tokenizer.encode(last 1 + 4(n-1) pixel frames of the video so far)  (n latent frames)
//   off: prefix = the last n latent frames of segment s-1's window (as sampled, or carried over)
// then the decoder is reset and fed `<bos> text <bov> prefix`, and L - n latent frames (fewer in the
// last segment) are sampled, each code restricted to the video-code range [V_off, V_off + K) with
// top-k and temperature (from guided logits when cfg_scale != 1). The window (prefix + new latent frames) is decoded with the tokenizer and
// its last 4 * new pixel frames are appended to the video (segment_plan.h has the frame counts).
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "generate/segment_plan.h"
#include "model/llama_model.h"
#include "sequence/sequence_manifest.h"
#include "tokenizer/video_tokenizer.h"

namespace loong {

struct SamplingOptions {
  int64_t top_k = 0;         // keep the k most likely codes (0: all)
  float temperature = 1.0f;  // softmax temperature; 0 is greedy
  uint64_t seed = 1;         // mt19937_64 seed: the same seed gives the same video
  bool reencode = true;      // prefix from re-encoded pixels (true) or raw codes (false)
  int64_t tail_latents = 0;  // n; 0 picks L / 2 (at least 1)
  // Classifier-free guidance: logits = uncond + cfg_scale * (cond - uncond), the unconditional
  // branch fed the empty caption (<pad>s, as caption dropout trains it) and the same video tokens,
  // both decoded together (one batched KV cache) through every segment. 1 = no guidance: the
  // unconditional branch is not computed, so the video is the unguided one bit for bit.
  float cfg_scale = 1.0f;
  // Frame sink: every segment after the first starts its prefix with the video's first k latent
  // frames (as sampled), then the last n - k latent frames of the video (re-encoded or raw), so the
  // digit's first appearance stays in view for the whole video. 0 = off; k < n. The model never saw
  // such a jump in training (an out-of-distribution prefix): docs/quality.md measures it.
  int64_t sink_latents = 0;
};

struct GeneratedVideo {
  int64_t height = 0, width = 0;                // pixels
  std::vector<std::vector<uint8_t>> frames;     // each RGB uint8 [height, width, 3]
  std::vector<int64_t> latent_of_frame;         // per output frame: the sampled latent frame it comes from
  // Per sampled latent frame, in sampling order: the model's mean NLL (nats, full softmax at
  // temperature 1) of its sampled codes, its segment, and its codes [grid_h * grid_w] (< K).
  std::vector<double> latent_nll;
  std::vector<int64_t> latent_segment;
  std::vector<std::vector<int32_t>> latent_codes;
  // Per segment: the prefix codes it continued from ([n * grid_h * grid_w], empty for the first).
  std::vector<std::vector<int32_t>> prefixes;
  SegmentPlan plan;
  int64_t positions_used = 0;  // most KV-cache positions any segment filled (<= the trained length)
};

class VideoGenerator {
 public:
  // Borrows the three; `model` must hold the whole network with max_position_embeddings of at least
  // the trained length, and `tokenizer` must be the one of the manifest (generate_job checks).
  VideoGenerator(const LlamaModel& model, const SequenceManifest& manifest, tok::VideoTokenizer& tokenizer);

  // `pixel_frames` frames from caption tokens `text` (<= text budget, ids < V_text). `progress` is
  // called after each sampled latent frame with the video so far (its latent_* fields are current;
  // frames are appended per segment).
  GeneratedVideo generate(std::span<const int32_t> text, int64_t pixel_frames, const SamplingOptions& options,
                          const std::function<void(const GeneratedVideo&)>& progress = {});

  int64_t default_tail() const;

 private:
  const LlamaModel& model_;
  const SequenceManifest& manifest_;
  tok::VideoTokenizer& tokenizer_;
};

// Checks sampling options a user gave (InputError naming the flag): top_k >= 0, temperature finite
// and >= 0, cfg_scale finite and >= 0.
void validate_sampling(const SamplingOptions& options);

// -log softmax(logits)[token] in nats (double precision).
double token_nll(std::span<const float> logits, int32_t token);

}  // namespace loong
