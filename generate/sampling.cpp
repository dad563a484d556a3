#include "generate/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "core/error.h"

namespace loong {

void guided_logits(std::span<const float> cond, std::span<const float> uncond, float scale, int64_t begin, int64_t end,
                   std::span<float> out) {
  if (cond.size() != uncond.size() || out.size() != cond.size() || begin < 0 || end < begin ||
      end > static_cast<int64_t>(cond.size()))
    throw InputError("guided logits: rows of " + std::to_string(cond.size()) + ", " + std::to_string(uncond.size()) +
                     ", " + std::to_string(out.size()) + " for range [" + std::to_string(begin) + ", " +
                     std::to_string(end) + ")");
  for (int64_t i = begin; i < end; ++i) out[i] = uncond[i] + scale * (cond[i] - uncond[i]);
}

int32_t sample_top_k_in_range(std::span<const float> logits, int64_t begin, int64_t end, int64_t k, float temperature,
                              std::mt19937_64& rng) {
  if (begin < 0 || end > static_cast<int64_t>(logits.size()) || begin >= end)
    throw InputError("sampling range [" + std::to_string(begin) + ", " + std::to_string(end) + ") outside the logits");
  const int64_t n = end - begin;
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), begin);
  const int64_t keep = k <= 0 || k > n ? n : k;
  std::partial_sort(idx.begin(), idx.begin() + keep, idx.end(),
                    [&](int64_t a, int64_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  if (temperature <= 0) return static_cast<int32_t>(idx[0]);
  std::vector<double> p(keep);
  const double mx = logits[idx[0]];
  double sum = 0;
  for (int64_t i = 0; i < keep; ++i) sum += (p[i] = std::exp((logits[idx[i]] - mx) / temperature));
  // A uniform draw from the top 53 bits of the generator (the standard fixes mt19937_64's output).
  const double u = static_cast<double>(rng() >> 11) / 9007199254740992.0 * sum;
  double acc = 0;
  for (int64_t i = 0; i < keep; ++i) {
    acc += p[i];
    if (u < acc) return static_cast<int32_t>(idx[i]);
  }
  return static_cast<int32_t>(idx[keep - 1]);
}

int32_t sample_top_k(std::span<const float> logits, int64_t k, float temperature, std::mt19937_64& rng) {
  return sample_top_k_in_range(logits, 0, static_cast<int64_t>(logits.size()), k, temperature, rng);
}

}  // namespace loong
