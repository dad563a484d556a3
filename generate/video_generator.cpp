#include "generate/video_generator.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.h"
#include "generate/sampling.h"
#include "model/llama_decoder.h"

namespace loong {

double token_nll(std::span<const float> logits, int32_t token) {
  double mx = -INFINITY;
  for (float l : logits) mx = std::max(mx, static_cast<double>(l));
  double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<double>(l) - mx);
  return mx + std::log(sum) - static_cast<double>(logits[static_cast<size_t>(token)]);
}

void validate_sampling(const SamplingOptions& o) {
  if (o.top_k < 0) throw InputError("--top-k must be >= 0 (0 keeps every code), got " + std::to_string(o.top_k));
  if (!std::isfinite(o.temperature) || o.temperature < 0)
    throw InputError("--temperature must be a finite number >= 0 (0 is greedy), got " + std::to_string(o.temperature));
  if (o.sink_latents < 0) throw InputError("--sink-frames must be >= 0, got " + std::to_string(o.sink_latents));
  if (!std::isfinite(o.cfg_scale) || o.cfg_scale < 0)
    throw InputError("--cfg-scale must be a finite number >= 0 (1 = no guidance, 0 = unconditional), got " +
                     std::to_string(o.cfg_scale));
}

VideoGenerator::VideoGenerator(const LlamaModel& model, const SequenceManifest& manifest,
                               tok::VideoTokenizer& tokenizer)
    : model_(model), manifest_(manifest), tokenizer_(tokenizer) {}

int64_t VideoGenerator::default_tail() const { return std::max<int64_t>(1, manifest_.shape.frames / 2); }

GeneratedVideo VideoGenerator::generate(std::span<const int32_t> text, int64_t pixel_frames, const SamplingOptions& o,
                                        const std::function<void(const GeneratedVideo&)>& progress) {
  const VocabLayout& vocab = manifest_.vocab;
  const SampleShape& shape = manifest_.shape;
  const int64_t gh = shape.grid_h, gw = shape.grid_w, P = shape.tokens_per_frame();
  const int64_t n = o.tail_latents > 0 ? o.tail_latents : default_tail();
  if (o.sink_latents > 0 && o.sink_latents >= n)
    throw InputError("--sink-frames " + std::to_string(o.sink_latents) + " must be below the tail of " +
                     std::to_string(n) + " latent frames (the sink is part of each later segment's prefix)");
  if (static_cast<int64_t>(text.size()) > shape.text_budget)
    throw InputError("prompt of " + std::to_string(text.size()) + " tokens; the model's text budget is " +
                     std::to_string(shape.text_budget));
  validate_sampling(o);
  const std::vector<int32_t> condition = text_prefix(vocab, shape.text_budget, text);
  // The empty caption, as caption dropout trains it: same length as the condition, all <pad>.
  const std::vector<int32_t> empty = text_prefix(vocab, shape.text_budget, {});
  const bool guided = o.cfg_scale != 1.0f;
  const int64_t B = guided ? 2 : 1;
  const int64_t V = model_.config().vocab_size;
  const int64_t code_begin = vocab.video_offset(), code_end = vocab.video_offset() + vocab.codebook;
  std::vector<float> mixed(guided ? static_cast<size_t>(V) : 0, -INFINITY);

  GeneratedVideo v;
  v.plan = plan_segments(pixel_frames, shape.frames, n);
  const int64_t H = gh * 8, W = gw * 8, frame_bytes = H * W * 3;
  v.height = H, v.width = W;
  // Positions of one trained sample: the cache never holds more (the last sampled code is not fed).
  LlamaDecoder decoder(model_, shape.model_length(), B);
  std::mt19937_64 rng(o.seed);
  std::vector<int32_t> window;  // codes of the current segment's window: prefix + new latent frames
  std::vector<int32_t> sink;    // the video's first `sink_latents` latent frames (after segment 0)
  const int64_t k = o.sink_latents;
  for (size_t si = 0; si < v.plan.segments.size(); ++si) {
    const Segment& seg = v.plan.segments[si];
    std::vector<int32_t> prefix;
    if (seg.prefix_latents > 0) {
      // With a sink the prefix is sink + the last n - k latent frames of the video.
      const int64_t tail_latents = seg.prefix_latents - k;
      prefix = sink;
      if (o.reencode) {
        // The pixels the video ends with, encoded again: in the tokenizer's own distribution.
        const int64_t tail_pixels = 1 + 4 * (tail_latents - 1);
        std::vector<uint8_t> tail(static_cast<size_t>(tail_pixels * frame_bytes));
        for (int64_t f = 0; f < tail_pixels; ++f) {
          const auto& src = v.frames[v.frames.size() - static_cast<size_t>(tail_pixels - f)];
          std::copy(src.begin(), src.end(), tail.begin() + f * frame_bytes);
        }
        const std::vector<int32_t> codes = tokenizer_.encode(tail.data(), 1, tail_pixels, H, W);
        prefix.insert(prefix.end(), codes.begin(), codes.end());
      } else {
        prefix.insert(prefix.end(), window.end() - tail_latents * P, window.end());
      }
    }
    v.prefixes.push_back(prefix);
    window = prefix;
    decoder.reset();
    // Row 0: the caption; row 1 (guidance only): the empty caption; both then the same video prefix.
    std::vector<int32_t> feed;
    for (int64_t b = 0; b < B; ++b) {
      const std::vector<int32_t>& text_row = b == 0 ? condition : empty;
      feed.insert(feed.end(), text_row.begin(), text_row.end());
      for (int32_t c : prefix) feed.push_back(static_cast<int32_t>(vocab.video_offset() + c));
    }
    std::span<const float> logits = decoder.prefill(feed);
    for (int64_t f = 0; f < seg.new_latents; ++f) {
      std::vector<int32_t> codes(static_cast<size_t>(P));
      double nll = 0;
      for (int64_t i = 0; i < P; ++i) {
        const std::span<const float> cond = logits.subspan(0, static_cast<size_t>(V));
        std::span<const float> pick = cond;
        if (guided) {
          guided_logits(cond, logits.subspan(static_cast<size_t>(V), static_cast<size_t>(V)), o.cfg_scale, code_begin,
                        code_end, mixed);
          pick = mixed;
        }
        const int32_t tok = sample_top_k_in_range(pick, code_begin, code_end, o.top_k, o.temperature, rng);
        nll += token_nll(cond, tok);  // the conditional model's own NLL, guided or not
        codes[static_cast<size_t>(i)] = static_cast<int32_t>(tok - vocab.video_offset());
        const bool last = f + 1 == seg.new_latents && i + 1 == P;
        if (!last) {
          const int32_t both[2] = {tok, tok};
          logits = decoder.step(std::span<const int32_t>(both, static_cast<size_t>(B)));
        }
      }
      window.insert(window.end(), codes.begin(), codes.end());
      v.latent_nll.push_back(nll / static_cast<double>(P));
      v.latent_segment.push_back(static_cast<int64_t>(si));
      v.latent_codes.push_back(std::move(codes));
      if (progress) progress(v);
    }
    v.positions_used = std::max(v.positions_used, decoder.position());
    if (si == 0 && k > 0) sink.assign(window.begin(), window.begin() + k * P);
    // Decode the window (the causal decoder sees the tail as context; a sink is not decoded: it
    // stands for frames long past) and keep the pixel frames of the new latent frames.
    const int64_t skip_latents = seg.prefix_latents > 0 ? k : 0;
    const int64_t tail = seg.prefix_latents - skip_latents;
    const int64_t latents = tail + seg.new_latents;
    const std::vector<uint8_t> px = tokenizer_.decode(window.data() + skip_latents * P, 1, latents, gh, gw);
    const int64_t skip = tail > 0 ? 1 + 4 * (tail - 1) : 0;
    const int64_t first_latent = static_cast<int64_t>(v.latent_nll.size()) - seg.new_latents;
    for (int64_t j = 0; j < seg.pixel_frames; ++j) {
      const auto* src = px.data() + (skip + j) * frame_bytes;
      v.frames.emplace_back(src, src + frame_bytes);
      // Segment 0: pixel frame p comes from latent frame ceil(p / 4); later: new frame j from j / 4.
      v.latent_of_frame.push_back(first_latent + (seg.prefix_latents > 0 ? j / 4 : (j + 3) / 4));
    }
  }
  return v;
}

}  // namespace loong
