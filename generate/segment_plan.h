// How a video longer than the trained length is cut into segments (docs/architecture.md, Minute-long
// generation). The model was trained on samples of L latent frames; every segment is one such
// sample: the first samples L latent frames after the text; each later one starts from a prefix of
// n latent frames standing for the last 1 + 4(n-1) pixel frames of the video so far and samples up
// to L - n new latent frames, so the sequence never grows past the trained length.
//
// Pixel frames, with the causal tokenizer (latent frame 0 -> 1 pixel frame, each later one -> 4):
//   segment 0 adds 1 + 4(new - 1) pixel frames;
//   segment s >= 1 decodes its whole window (n prefix + new latent frames) into 1 + 4(n + new - 1)
//   pixel frames and appends only the last 4 * new of them (the frames of its new latent frames;
//   the first 1 + 4(n-1) re-render the tail that is already in the video and are dropped).
// The last segment samples only the latent frames still needed, and the video is cut to exactly
// the requested number of pixel frames.
#pragma once
#include <cstdint>
#include <vector>

namespace loong {

struct Segment {
  int64_t prefix_latents = 0;  // n: latent frames carried over from the video so far (0 for the first)
  int64_t new_latents = 0;     // latent frames sampled in this segment
  int64_t first_pixel = 0;     // output index of the first pixel frame this segment adds
  int64_t pixel_frames = 0;    // pixel frames it adds to the output (after the cut to the total)
};

struct SegmentPlan {
  std::vector<Segment> segments;
  int64_t pixel_frames = 0;    // frames of the whole video
  int64_t sampled_latents = 0; // latent frames sampled over all segments
};

// Latent frames a causal clip of `pixel_frames` frames needs: ceil((pixel_frames - 1) / 4) + 1.
int64_t latent_frames_for_pixels(int64_t pixel_frames);

// Plan for `pixel_frames` (>= 1) output frames from a model trained on `trained_latents` (L >= 1)
// latent frames, continuing from a tail of `tail_latents` (n, 1 <= n < L) latent frames. InputError
// when the video needs more than one segment and L < 2 or n is outside [1, L).
SegmentPlan plan_segments(int64_t pixel_frames, int64_t trained_latents, int64_t tail_latents);

}  // namespace loong
