#include "generate/segment_plan.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace loong {

int64_t latent_frames_for_pixels(int64_t pixel_frames) { return (pixel_frames - 1 + 3) / 4 + 1; }

SegmentPlan plan_segments(int64_t pixel_frames, int64_t trained_latents, int64_t tail_latents) {
  if (pixel_frames < 1) throw InputError("a video needs at least 1 frame, got " + std::to_string(pixel_frames));
  if (trained_latents < 1) throw InputError("trained length of " + std::to_string(trained_latents) + " latent frames");
  const int64_t L = trained_latents, n = tail_latents;
  SegmentPlan plan;
  plan.pixel_frames = pixel_frames;
  Segment first;
  first.new_latents = std::min(L, latent_frames_for_pixels(pixel_frames));
  first.pixel_frames = std::min(pixel_frames, 1 + 4 * (first.new_latents - 1));
  plan.segments.push_back(first);
  int64_t produced = first.pixel_frames;
  if (produced < pixel_frames) {
    if (L < 2)
      throw InputError("the model was trained on 1 latent frame (images): it cannot extend a video beyond 1 frame");
    if (n < 1 || n >= L)
      throw InputError("--tail-frames " + std::to_string(n) + " must be in [1, " + std::to_string(L - 1) +
                       "] (fewer than the " + std::to_string(L) + " latent frames the model was trained on)");
  }
  while (produced < pixel_frames) {
    Segment s;
    s.prefix_latents = n;
    s.new_latents = std::min(L - n, (pixel_frames - produced + 3) / 4);
    s.first_pixel = produced;
    s.pixel_frames = std::min(pixel_frames - produced, 4 * s.new_latents);
    produced += s.pixel_frames;
    plan.segments.push_back(s);
  }
  for (const auto& s : plan.segments) plan.sampled_latents += s.new_latents;
  return plan;
}

}  // namespace loong
