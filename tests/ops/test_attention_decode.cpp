// attention_decode, the KV-cache decode step's attention: one query row per sequence against its
// cache must give what attention_forward gives for the last row of the whole causal sequence.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/cpu/ops.h"
#include "tests/common/test_data.h"

using namespace loong::ops::cpu;
using loong::testing::randn;

TEST(AttentionDecode, EqualsTheLastRowOfCausalAttentionForEverySequence) {
  const int64_t B = 2, H = 4, KV = 2, D = 8, ld = (H + 2 * KV) * D, row = KV * D;
  for (int64_t T : {1, 7, 130}) {  // 130: past attention_forward's 128-row block
    const auto qkv = randn(B * T * ld, 5);
    std::vector<float> out(B * T * H * D), probs(B * H * T * T);
    attention_forward(out.data(), probs.data(), qkv.data(), qkv.data() + H * D, qkv.data() + (H + KV) * D,
                      {B, T, H, KV, D, ld});
    // The caches hold each sequence's k and v rows with room to spare (capacity T + 3).
    const int64_t stride = (T + 3) * row;
    std::vector<float> k(B * stride, NAN), v(B * stride, NAN), q(B * ld), got(B * H * D), scores(T);
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t t = 0; t < T; ++t) {
        const float* r = qkv.data() + (b * T + t) * ld;
        std::copy(r + H * D, r + H * D + row, k.begin() + b * stride + t * row);
        std::copy(r + (H + KV) * D, r + (H + KV) * D + row, v.begin() + b * stride + t * row);
      }
      const float* last = qkv.data() + (b * T + T - 1) * ld;
      std::copy(last, last + ld, q.begin() + b * ld);
    }
    attention_decode(got.data(), scores.data(), q.data(), k.data(), v.data(), {B, T, H, KV, D, ld, stride});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < H * D; ++i)
        EXPECT_NEAR(got[b * H * D + i], out[(b * T + T - 1) * H * D + i], 1e-5f) << "T " << T << " b " << b;
  }
}
