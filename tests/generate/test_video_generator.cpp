// VideoGenerator on a tiny random Llama and a tiny random tokenizer: determinism, the trained
// length, frame stitching, what the prefix of each segment is, and the recorded NLL.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "generate/video_generator.h"
#include "tests/common/tiny_llama.h"
#include "tests/generate/generation_fixture.h"

using namespace loong;

namespace {

struct Tiny {
  // Trained on 5 latent frames of 2x2 codes after a 4-token text budget: 2 + 4 + 20 = 26 positions.
  SequenceManifest m = loong::testing::tiny_manifest(20, 32, 5, 4);
  LlamaModel model{loong::testing::tiny_llama(m.vocab.size(), m.shape.model_length())};
  tok::VideoTokenizer tokenizer{loong::testing::tiny_tokenizer_config(32), 3};
  Tiny() { model.init_random(5, 0.5f); }
  GeneratedVideo run(int64_t frames, SamplingOptions o, std::vector<int32_t> text = {3, 1, 4}) {
    VideoGenerator g(model, m, tokenizer);
    return g.generate(text, frames, o);
  }
};

SamplingOptions opts(uint64_t seed, bool reencode, int64_t tail = 2) {
  SamplingOptions o;
  o.seed = seed;
  o.reencode = reencode;
  o.tail_latents = tail;
  return o;
}

// The codes of segment s's window: its prefix followed by the latent frames it sampled.
std::vector<int32_t> window_of(const GeneratedVideo& v, size_t s) {
  std::vector<int32_t> w = v.prefixes[s];
  for (size_t l = 0; l < v.latent_codes.size(); ++l)
    if (v.latent_segment[l] == static_cast<int64_t>(s)) w.insert(w.end(), v.latent_codes[l].begin(), v.latent_codes[l].end());
  return w;
}

}  // namespace

TEST(VideoGenerator, SameSeedSameVideoOtherSeedAnother) {
  Tiny t;
  const auto a = t.run(40, opts(7, true)), b = t.run(40, opts(7, true)), c = t.run(40, opts(8, true));
  ASSERT_EQ(a.frames.size(), 40u);
  EXPECT_EQ(a.latent_codes, b.latent_codes);
  EXPECT_EQ(a.frames, b.frames);
  EXPECT_EQ(a.latent_nll, b.latent_nll);
  EXPECT_NE(a.latent_codes, c.latent_codes);
}

TEST(VideoGenerator, FrameCountAndSizeForEveryLength) {
  Tiny t;
  for (int64_t frames : {1, 2, 5, 8, 9, 12, 13, 16, 17, 18, 21, 29, 30, 41}) {
    const auto v = t.run(frames, opts(1, true));
    ASSERT_EQ(static_cast<int64_t>(v.frames.size()), frames);
    EXPECT_EQ(v.height, 16);
    EXPECT_EQ(v.width, 16);
    for (const auto& f : v.frames) ASSERT_EQ(f.size(), 16u * 16 * 3);
    EXPECT_EQ(static_cast<int64_t>(v.latent_codes.size()), (frames - 1 + 3) / 4 + 1);
    ASSERT_EQ(v.latent_of_frame.size(), v.frames.size());
    for (size_t f = 1; f < v.frames.size(); ++f) EXPECT_LE(v.latent_of_frame[f - 1], v.latent_of_frame[f]);
    for (const auto& codes : v.latent_codes)
      for (int32_t c : codes) ASSERT_TRUE(c >= 0 && c < 32) << "sampled outside the video codes";
  }
}

TEST(VideoGenerator, PositionsNeverExceedTheTrainedLength) {
  Tiny t;
  const int64_t trained = t.m.shape.model_length();
  for (int64_t tail : {1, 2, 4})
    for (bool re : {true, false}) {
      const auto v = t.run(45, opts(3, re, tail));
      EXPECT_GE(v.plan.segments.size(), 3u);
      // A full window: <bos> + 4 text + <bov> + 5 x 4 codes, all fed but the last sampled code.
      EXPECT_EQ(v.positions_used, trained - 1) << "tail " << tail;
    }
  // A model that has fewer positions than the trained length is refused, not overrun.
  SequenceManifest longer = t.m;
  longer.shape.frames = 6;
  VideoGenerator g(t.model, longer, t.tokenizer);
  EXPECT_THROW(g.generate(std::vector<int32_t>{1}, 30, opts(1, true)), InputError);
}

TEST(VideoGenerator, ReencodedPrefixIsTheTokenizersEncodingOfTheVideoTail) {
  Tiny t;
  const auto on = t.run(60, opts(11, true, 2)), off = t.run(60, opts(11, false, 2));
  ASSERT_GE(on.plan.segments.size(), 3u);
  const int64_t tail_px = 1 + 4 * (2 - 1), frame_bytes = 16 * 16 * 3;
  for (size_t s = 1; s < on.plan.segments.size(); ++s) {
    const int64_t first = on.plan.segments[s].first_pixel;
    std::vector<uint8_t> tail;
    for (int64_t f = first - tail_px; f < first; ++f) tail.insert(tail.end(), on.frames[f].begin(), on.frames[f].end());
    ASSERT_EQ(static_cast<int64_t>(tail.size()), tail_px * frame_bytes);
    EXPECT_EQ(on.prefixes[s], t.tokenizer.encode(tail.data(), 1, tail_px, 16, 16)) << "segment " << s;
  }
  // Off: the raw codes of the last 2 latent frames of the previous window.
  for (size_t s = 1; s < off.plan.segments.size(); ++s) {
    const auto prev = window_of(off, s - 1);
    EXPECT_EQ(off.prefixes[s], std::vector<int32_t>(prev.end() - 2 * 4, prev.end())) << "segment " << s;
  }
  // Same seed: the first segment is the same; re-encoding changes what the model continues from.
  EXPECT_EQ(on.prefixes[0], off.prefixes[0]);
  EXPECT_EQ(window_of(on, 0), window_of(off, 0));
  EXPECT_NE(on.prefixes[1], off.prefixes[1]);
}

TEST(VideoGenerator, FramesAreTheNewFramesOfEachDecodedWindow) {
  Tiny t;
  const auto v = t.run(45, opts(5, true, 2));
  const int64_t frame_bytes = 16 * 16 * 3;
  for (size_t s = 0; s < v.plan.segments.size(); ++s) {
    const Segment& g = v.plan.segments[s];
    const auto w = window_of(v, s);
    const int64_t latents = static_cast<int64_t>(w.size()) / 4;
    const auto px = t.tokenizer.decode(w.data(), 1, latents, 2, 2);
    const int64_t skip = s == 0 ? 0 : 1 + 4 * (g.prefix_latents - 1);
    for (int64_t j = 0; j < g.pixel_frames; ++j) {
      const std::vector<uint8_t> want(px.begin() + (skip + j) * frame_bytes, px.begin() + (skip + j + 1) * frame_bytes);
      ASSERT_EQ(v.frames[static_cast<size_t>(g.first_pixel + j)], want) << "segment " << s << " frame " << j;
    }
  }
}

TEST(VideoGenerator, RecordedNllIsTheModelsOwnOnTheSampledCodes) {
  Tiny t;
  const std::vector<int32_t> text = {3, 1, 4};
  const auto v = t.run(30, opts(9, true, 2), text);
  const VocabLayout& voc = t.m.vocab;
  const int64_t V = voc.size();
  for (size_t s : {size_t{0}, size_t{1}}) {
    // The segment's sequence through the full (non-cached) forward.
    std::vector<int32_t> seq = text_prefix(voc, 4, text);
    for (int32_t c : window_of(v, s)) seq.push_back(static_cast<int32_t>(voc.video_offset() + c));
    const int64_t T = static_cast<int64_t>(seq.size()) - 1;
    std::vector<int32_t> inputs(seq.begin(), seq.end() - 1), targets(seq.begin() + 1, seq.end());
    std::vector<float> weights(T, 1.0f);
    t.model.forward(inputs.data(), targets.data(), weights.data(), 1, T);
    const auto logits = t.model.logits();
    const int64_t first_code = 6 + static_cast<int64_t>(v.prefixes[s].size());  // position of the first new code
    size_t latent = 0;
    while (v.latent_segment[latent] != static_cast<int64_t>(s)) ++latent;
    for (int64_t f = 0; f < static_cast<int64_t>(v.plan.segments[s].new_latents); ++f, ++latent) {
      double nll = 0;
      for (int64_t i = 0; i < 4; ++i) {
        const int64_t pos = first_code + f * 4 + i - 1;  // logits at pos predict seq[pos + 1]
        const float* l = logits.data() + pos * V;
        double mx = -1e30, sum = 0;
        for (int64_t k = 0; k < V; ++k) mx = std::max(mx, static_cast<double>(l[k]));
        for (int64_t k = 0; k < V; ++k) sum += std::exp(l[k] - mx);
        nll += mx + std::log(sum) - l[seq[pos + 1]];
      }
      EXPECT_NEAR(v.latent_nll[latent], nll / 4, 1e-4) << "segment " << s << " latent frame " << f;
    }
  }
}

TEST(VideoGenerator, PromptLongerThanTheTextBudgetIsRefused) {
  Tiny t;
  EXPECT_THROW(t.run(5, opts(1, true), {1, 2, 3, 4, 5}), InputError);
}

// ---- classifier-free guidance ----

TEST(VideoGenerator, GuidanceScaleOneIsTheUnguidedVideoAndOtherScalesChangeIt) {
  Tiny t;
  SamplingOptions plain = opts(4, true);
  SamplingOptions one = plain;
  one.cfg_scale = 1.0f;
  SamplingOptions three = plain;
  three.cfg_scale = 3.0f;
  const auto a = t.run(30, plain), b = t.run(30, one), c = t.run(30, three);
  EXPECT_EQ(a.latent_codes, b.latent_codes);
  EXPECT_EQ(a.frames, b.frames);
  EXPECT_NE(a.latent_codes, c.latent_codes);
}

TEST(VideoGenerator, GuidanceScaleZeroSamplesTheEmptyCaption) {
  // s = 0 leaves only the unconditional branch: the video of the empty caption without guidance.
  Tiny t;
  SamplingOptions zero = opts(6, true);
  zero.cfg_scale = 0.0f;
  const auto a = t.run(30, zero, {3, 1, 4});
  const auto b = t.run(30, opts(6, true), {});
  EXPECT_EQ(a.latent_codes, b.latent_codes);
}

// Greedy guided sampling picks, at every code, the argmax of uncond + s * (cond - uncond) where
// cond and uncond come from the full (non-cached) forward of the two sequences: the caption and the
// empty caption, each followed by the segment's window. Checked in the first and a re-encoded segment.
TEST(VideoGenerator, GuidedCodesAreTheArgmaxOfTheFormulaOnFullRecomputation) {
  Tiny t;
  SamplingOptions o = opts(2, true, 2);
  o.temperature = 0.0f;
  o.cfg_scale = 2.5f;
  const std::vector<int32_t> text = {3, 1, 4};
  const auto v = t.run(30, o, text);
  const VocabLayout& voc = t.m.vocab;
  const int64_t V = voc.size(), K = voc.codebook, off = voc.video_offset();
  auto logits_of = [&](const std::vector<int32_t>& caption, const std::vector<int32_t>& window) {
    std::vector<int32_t> seq = text_prefix(voc, 4, caption);
    for (int32_t c : window) seq.push_back(static_cast<int32_t>(off + c));
    const int64_t T = static_cast<int64_t>(seq.size()) - 1;
    std::vector<int32_t> inputs(seq.begin(), seq.end() - 1), targets(seq.begin() + 1, seq.end());
    std::vector<float> weights(T, 1.0f);
    t.model.forward(inputs.data(), targets.data(), weights.data(), 1, T);
    return std::vector<float>(t.model.logits().begin(), t.model.logits().end());
  };
  int64_t checked = 0;
  for (size_t s : {size_t{0}, size_t{1}}) {
    const std::vector<int32_t> window = window_of(v, s);
    const auto cond = logits_of(text, window), uncond = logits_of({}, window);
    const int64_t first_code = 6 + static_cast<int64_t>(v.prefixes[s].size());
    for (size_t i = v.prefixes[s].size(); i < window.size(); ++i, ++checked) {
      const int64_t pos = first_code + static_cast<int64_t>(i - v.prefixes[s].size()) - 1;
      int64_t best = 0;
      float best_v = -INFINITY, second = -INFINITY;
      for (int64_t k = 0; k < K; ++k) {
        const float g = uncond[pos * V + off + k] + 2.5f * (cond[pos * V + off + k] - uncond[pos * V + off + k]);
        if (g > best_v) second = best_v, best_v = g, best = k;
        else if (g > second) second = g;
      }
      if (best_v - second < 1e-4f) continue;  // a near tie: rounding may pick either
      EXPECT_EQ(window[i], best) << "segment " << s << " code " << i;
    }
  }
  EXPECT_GT(checked, 20);
}

TEST(VideoGenerator, BadGuidanceScalesAreRefused) {
  Tiny t;
  for (float bad : {-1.0f, NAN, INFINITY}) {
    SamplingOptions o = opts(1, true);
    o.cfg_scale = bad;
    EXPECT_THROW(t.run(5, o), InputError) << bad;
  }
}

// A frame sink: every later segment's prefix starts with the video's first k latent frames as
// sampled, followed by the re-encoded tail of n - k latent frames; positions stay within L.
TEST(VideoGenerator, SinkFramesLeadEveryLaterPrefix) {
  Tiny t;
  SamplingOptions o = opts(3, true, 3);
  o.sink_latents = 1;
  const auto v = t.run(41, o);
  ASSERT_EQ(v.frames.size(), 41u);
  ASSERT_GE(v.plan.segments.size(), 3u);
  const std::vector<int32_t>& first = v.latent_codes[0];  // segment 0's first latent frame (4 codes)
  for (size_t s = 1; s < v.plan.segments.size(); ++s) {
    ASSERT_EQ(v.prefixes[s].size(), 3u * 4u);
    EXPECT_TRUE(std::equal(first.begin(), first.end(), v.prefixes[s].begin())) << "segment " << s;
  }
  EXPECT_LE(v.positions_used, t.m.shape.model_length());
  // The sink changes what later segments see, so the video differs from the sink-free one.
  o.sink_latents = 0;
  EXPECT_NE(t.run(41, o).latent_codes, v.latent_codes);
  o.sink_latents = 3;  // not below the tail
  EXPECT_THROW(t.run(41, o), InputError);
}
