// LlamaDecoder, the model's KV-cache decode step: its logits equal the full forward's at every
// position, alone and batched (guidance's two branches), and it refuses what it cannot decode.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "core/error.h"
#include "model/llama_decoder.h"
#include "tests/common/tiny_llama.h"

using namespace loong;

namespace {
LlamaConfig tiny() { return loong::testing::tiny_llama(40, 160); }
}  // namespace

TEST(LlamaDecoder, LogitsEqualTheFullForwardAtEveryPosition) {
  LlamaModel m(tiny());
  m.init_random(3, 0.2f);
  const int64_t T = 150;  // past the attention kernel's 128-row block
  std::mt19937 rng(1);
  std::vector<int32_t> tokens(T), targets(T, 0);
  std::vector<float> weights(T, 1.0f);
  for (auto& t : tokens) t = static_cast<int32_t>(rng() % 40);
  m.forward(tokens.data(), targets.data(), weights.data(), 1, T);
  std::vector<float> full(m.logits().begin(), m.logits().end());
  LlamaDecoder dec(m, T);
  double worst = 0, scale = 0;
  for (int64_t p = 0; p < T; ++p) {
    auto l = dec.step(tokens[p]);
    for (int64_t v = 0; v < 40; ++v) {
      worst = std::max(worst, static_cast<double>(std::fabs(l[v] - full[p * 40 + v])));
      scale = std::max(scale, static_cast<double>(std::fabs(full[p * 40 + v])));
    }
  }
  EXPECT_LT(worst / scale, 1e-5) << "worst abs diff " << worst;
  EXPECT_THROW(dec.step(1), InputError);  // cache full
  dec.reset();
  EXPECT_THROW(dec.step(40), InputError);  // outside the vocabulary
}

// Guidance decodes two sequences in one cache (batch 2): each row must still be what the full
// forward computes for its own sequence, at every position, and rows must not leak into each other.
TEST(LlamaDecoder, BatchedRowsEqualTheFullForwardOfEachSequence) {
  LlamaModel m(tiny());
  m.init_random(4, 0.2f);
  const int64_t T = 140, B = 3, V = 40;
  std::mt19937 rng(2);
  std::vector<int32_t> tokens(B * T), targets(B * T, 0);
  std::vector<float> weights(B * T, 1.0f);
  for (auto& t : tokens) t = static_cast<int32_t>(rng() % V);
  for (int64_t t = 100; t < T; ++t) tokens[T + t] = tokens[t];  // rows 0 and 1 share a suffix, as guidance's do
  m.forward(tokens.data(), targets.data(), weights.data(), B, T);
  std::vector<float> full(m.logits().begin(), m.logits().end());  // [B, T, V]
  LlamaDecoder dec(m, T, B);
  // Prefill the first 60 positions of every row at once, then step the rest.
  std::vector<int32_t> head;
  for (int64_t b = 0; b < B; ++b) head.insert(head.end(), tokens.begin() + b * T, tokens.begin() + b * T + 60);
  double worst = 0, scale = 0;
  auto compare = [&](std::span<const float> l, int64_t p) {
    ASSERT_EQ(static_cast<int64_t>(l.size()), B * V);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t v = 0; v < V; ++v) {
        const float want = full[(b * T + p) * V + v];
        worst = std::max(worst, static_cast<double>(std::fabs(l[b * V + v] - want)));
        scale = std::max(scale, static_cast<double>(std::fabs(want)));
      }
  };
  compare(dec.prefill(head), 59);
  for (int64_t p = 60; p < T; ++p) {
    std::vector<int32_t> col;
    for (int64_t b = 0; b < B; ++b) col.push_back(tokens[b * T + p]);
    compare(dec.step(col), p);
  }
  EXPECT_LT(worst / scale, 1e-5) << "worst abs diff " << worst;
  dec.reset();
  EXPECT_THROW(dec.step(std::vector<int32_t>{1, 2}), InputError);           // 2 tokens for 3 sequences
  EXPECT_THROW(dec.prefill(std::vector<int32_t>{1, 2, 3, 4}), InputError);  // not a multiple of 3
}

// The decode step reads the weights through the model's named views: each view is the tensor of
// that Hugging Face name, the fused q/k/v and gate/up weights start at q_proj and gate_proj.
TEST(LlamaDecoder, LayerViewsAreTheNamedTensors) {
  LlamaModel m(tiny());
  for (int64_t l = 0; l < 2; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const LlamaLayer& w = m.layer(l);
    EXPECT_EQ(w.input_layernorm, &m.tensor(p + "input_layernorm.weight"));
    EXPECT_EQ(w.qkv_proj, &m.tensor(p + "self_attn.q_proj.weight"));
    EXPECT_EQ(w.o_proj, &m.tensor(p + "self_attn.o_proj.weight"));
    EXPECT_EQ(w.post_attention_layernorm, &m.tensor(p + "post_attention_layernorm.weight"));
    EXPECT_EQ(w.gate_up_proj, &m.tensor(p + "mlp.gate_proj.weight"));
    EXPECT_EQ(w.down_proj, &m.tensor(p + "mlp.down_proj.weight"));
  }
  EXPECT_EQ(m.embedding(), &m.tensor("model.embed_tokens.weight"));
  EXPECT_EQ(m.final_norm(), &m.tensor("model.norm.weight"));
  EXPECT_EQ(m.lm_head(), &m.tensor("lm_head.weight"));
  EXPECT_THROW(m.layer(2), InputError);
  // A pipeline stage holding layer 1 only: its view is still "model.layers.1", layer 0 is elsewhere.
  ModelShard last;
  last.first_layer = 1, last.has_embedding = false;
  LlamaModel stage(tiny(), last);
  EXPECT_EQ(stage.layer(1).qkv_proj, &stage.tensor("model.layers.1.self_attn.q_proj.weight"));
  EXPECT_THROW(stage.layer(0), InputError);
  EXPECT_EQ(stage.embedding(), nullptr);
  EXPECT_THROW(LlamaDecoder(stage, 8), InputError);  // the decoder needs the whole network
  EXPECT_THROW(LlamaDecoder(m, 161), InputError);    // past max_position_embeddings
  EXPECT_THROW(LlamaDecoder(m, 8, 0), InputError);
}
