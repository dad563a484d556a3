// Turning a decode step's logits into the next token: top-k sampling with temperature, restricted
// to a range of ids (the video codes), and classifier-free guidance's mix of two logit rows.
// The logits come from LlamaDecoder (model/llama_decoder.h).
#pragma once
#include <cstdint>
#include <random>
#include <span>

namespace loong {

// Top-k sampling with temperature: keeps the k largest logits (k <= 0: all), softmax of
// logits / temperature, draws with `rng`. temperature <= 0 is greedy (argmax).
int32_t sample_top_k(std::span<const float> logits, int64_t k, float temperature, std::mt19937_64& rng);
// Restricts sampling to ids in [begin, end) (e.g. video codes): others get -infinity.
int32_t sample_top_k_in_range(std::span<const float> logits, int64_t begin, int64_t end, int64_t k, float temperature,
                              std::mt19937_64& rng);

// Classifier-free guidance: out[i] = uncond[i] + scale * (cond[i] - uncond[i]) over [begin, end)
// of the two logit rows (the rest of `out` is left as it is). All three have the same size.
void guided_logits(std::span<const float> cond, std::span<const float> uncond, float scale, int64_t begin, int64_t end,
                   std::span<float> out);

}  // namespace loong
