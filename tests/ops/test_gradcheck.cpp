// Finite-difference gradient checks for each CPU kernel. For an op y = f(x), the scalar
// L = sum(y * R) with a fixed random R has dL/dx = backward(dy = R); the check compares that to
// (L(x + h e_i) - L(x - h e_i)) / 2h on a sample of coordinates.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "ops/cpu/ops.h"
#include "tests/common/test_data.h"

using namespace loong::ops::cpu;
using loong::testing::dot;
using loong::testing::expect_grad_matches;
using loong::testing::randn;

namespace {

}  // namespace

TEST(GradCheck, RMSNorm) {
  const int64_t n = 5, c = 16;
  auto x = randn(n * c, 1), w = randn(c, 2), R = randn(n * c, 3);
  for (auto& v : w) v += 1.0f;
  std::vector<float> y(n * c), rstd(n);
  auto loss = [&] {
    rmsnorm_forward(y.data(), rstd.data(), x.data(), w.data(), n, c, 1e-5f);
    return dot(y, R);
  };
  loss();
  std::vector<float> dx(n * c, 0.0f), dw(c, 0.0f);
  rmsnorm_backward(dx.data(), dw.data(), R.data(), x.data(), w.data(), rstd.data(), n, c);
  expect_grad_matches(x, dx, loss, "rmsnorm dx");
  expect_grad_matches(w, dw, loss, "rmsnorm dw");
}

TEST(GradCheck, RotaryEmbeddingRotateHalf) {
  const int64_t n = 6, heads = 2, d = 8, ld = heads * d + 3;  // ld > width: strided rows
  std::vector<float> cos(n * d / 2), sin(n * d / 2);
  rope_tables(cos.data(), sin.data(), n, d, 10000.0);
  std::vector<int32_t> pos = {0, 1, 2, 5, 3, 4};
  auto x = randn(n * ld, 4), R = randn(n * ld, 5);
  auto loss = [&] {
    auto y = x;
    rope_forward(y.data(), ld, n, heads, d, pos.data(), cos.data(), sin.data());
    double s = 0;
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < heads * d; ++j) s += static_cast<double>(y[r * ld + j]) * R[r * ld + j];
    return s;
  };
  auto dx = R;
  rope_backward(dx.data(), ld, n, heads, d, pos.data(), cos.data(), sin.data());
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = heads * d; j < ld; ++j) dx[r * ld + j] = 0;  // padding columns are not inputs
  expect_grad_matches(x, dx, loss, "rope dx");
  // Position 0 is the identity rotation.
  auto y = x;
  rope_forward(y.data(), ld, n, heads, d, pos.data(), cos.data(), sin.data());
  for (int64_t j = 0; j < heads * d; ++j) EXPECT_FLOAT_EQ(y[j], x[j]);
}

class AttentionGrad : public ::testing::TestWithParam<int64_t> {};

TEST_P(AttentionGrad, CausalGroupedQuery) {
  // seq 150 > the 128-row block, so the blocked path is covered too.
  const int64_t B = 2, T = GetParam(), H = 4, KV = 2, D = 8, ld = (H + 2 * KV) * D;
  const AttentionShape s{B, T, H, KV, D, ld};
  auto qkv = randn(B * T * ld, 6, 0.5f), R = randn(B * T * H * D, 7);
  std::vector<float> out(B * T * H * D), probs(B * H * T * T);
  auto loss = [&] {
    attention_forward(out.data(), probs.data(), qkv.data(), qkv.data() + H * D, qkv.data() + (H + KV) * D, s);
    return dot(out, R);
  };
  loss();
  std::vector<float> dqkv(qkv.size()), scratch(attention_scratch_floats(s));
  attention_backward(dqkv.data(), dqkv.data() + H * D, dqkv.data() + (H + KV) * D, scratch.data(), R.data(), out.data(),
                     probs.data(), qkv.data(), qkv.data() + H * D, qkv.data() + (H + KV) * D, s);
  expect_grad_matches(qkv, dqkv, loss, "attention dqkv");
}

INSTANTIATE_TEST_SUITE_P(Lengths, AttentionGrad, ::testing::Values<int64_t>(7, 150));

TEST(Attention, IsCausal) {
  // Changing token t's key/value must leave the outputs of tokens before t unchanged.
  const int64_t B = 1, T = 140, H = 2, KV = 1, D = 4, ld = (H + 2 * KV) * D;
  const AttentionShape s{B, T, H, KV, D, ld};
  auto qkv = randn(T * ld, 8);
  std::vector<float> out1(T * H * D), out2(T * H * D), probs(H * T * T);
  attention_forward(out1.data(), probs.data(), qkv.data(), qkv.data() + H * D, qkv.data() + (H + KV) * D, s);
  const int64_t t = 130;
  for (int64_t j = H * D; j < ld; ++j) qkv[t * ld + j] += 3.0f;
  attention_forward(out2.data(), probs.data(), qkv.data(), qkv.data() + H * D, qkv.data() + (H + KV) * D, s);
  for (int64_t i = 0; i < t * H * D; ++i) ASSERT_EQ(out1[i], out2[i]) << "row " << i / (H * D);
  bool changed = false;
  for (int64_t i = t * H * D; i < T * H * D; ++i) changed |= out1[i] != out2[i];
  EXPECT_TRUE(changed);
}

TEST(GradCheck, SwiGLU) {
  const int64_t n = 4, I = 12;
  auto gu = randn(n * 2 * I, 9), R = randn(n * I, 10);
  std::vector<float> h(n * I);
  auto loss = [&] {
    swiglu_forward(h.data(), gu.data(), n, I);
    return dot(h, R);
  };
  std::vector<float> dgu(gu.size());
  swiglu_backward(dgu.data(), R.data(), gu.data(), n, I);
  expect_grad_matches(gu, dgu, loss, "swiglu");
}

TEST(GradCheck, Linear) {
  const int64_t n = 5, in = 7, out = 6;
  auto x = randn(n * in, 11), w = randn(out * in, 12), R = randn(n * out, 13);
  std::vector<float> y(n * out);
  auto loss = [&] {
    linear_forward(y.data(), x.data(), w.data(), n, in, out);
    return dot(y, R);
  };
  std::vector<float> dx(n * in, 5.0f), dw(out * in, 0.0f);
  linear_backward(dx.data(), dw.data(), R.data(), x.data(), w.data(), n, in, out, false);
  expect_grad_matches(x, dx, loss, "linear dx");
  expect_grad_matches(w, dw, loss, "linear dw");
  // accumulate_dx adds onto what is there; dw always accumulates.
  auto dx2 = dx, dw2 = dw;
  linear_backward(dx2.data(), dw2.data(), R.data(), x.data(), w.data(), n, in, out, true);
  for (size_t i = 0; i < dx.size(); ++i) EXPECT_NEAR(dx2[i], 2 * dx[i], 1e-4);
  for (size_t i = 0; i < dw.size(); ++i) EXPECT_NEAR(dw2[i], 2 * dw[i], 1e-4);
}

TEST(GradCheck, WeightedCrossEntropy) {
  const int64_t n = 6, V = 11;
  auto logits = randn(n * V, 14, 2.0f);
  std::vector<int32_t> targets = {0, 3, 10, 3, 5, 7};
  std::vector<float> weights = {1.0f, 0.0f, 2.5f, 0.5f, 1.0f, 3.0f};
  const float normalizer = 8.0f;
  std::vector<float> tl(n), lse(n);
  auto loss = [&] {
    cross_entropy_forward(tl.data(), lse.data(), logits.data(), targets.data(), n, V);
    double s = 0;
    for (int64_t r = 0; r < n; ++r) s += weights[r] * tl[r];
    return s / normalizer;
  };
  loss();
  // token loss = -log softmax[target], computed independently here in double.
  for (int64_t r = 0; r < n; ++r) {
    double z = 0;
    for (int64_t j = 0; j < V; ++j) z += std::exp(static_cast<double>(logits[r * V + j]));
    EXPECT_NEAR(tl[r], std::log(z) - logits[r * V + targets[r]], 1e-5);
  }
  auto grad = logits;
  cross_entropy_backward(grad.data(), lse.data(), targets.data(), weights.data(), normalizer, n, V);
  expect_grad_matches(logits, grad, loss, "cross-entropy dlogits", 1e-2f);
  for (int64_t j = 0; j < V; ++j) EXPECT_EQ(grad[1 * V + j], 0.0f) << "zero-weight token must have zero gradient";
}

TEST(GradCheck, EmbeddingAccumulatesRepeatedTokens) {
  const int64_t n = 5, c = 3, V = 4;
  auto table = randn(V * c, 15), R = randn(n * c, 16);
  std::vector<int32_t> tok = {1, 3, 1, 0, 1};
  std::vector<float> out(n * c);
  auto loss = [&] {
    embedding_forward(out.data(), tok.data(), table.data(), n, c);
    return dot(out, R);
  };
  std::vector<float> dt(V * c, 0.0f);
  embedding_backward(dt.data(), R.data(), tok.data(), n, c);
  expect_grad_matches(table, dt, loss, "embedding");
  for (int64_t j = 0; j < c; ++j) EXPECT_EQ(dt[2 * c + j], 0.0f);
}

TEST(AdamW, MatchesClosedFormFirstStep) {
  // At step 1, m/(1-b1) = g and sqrt(v/(1-b2)) = |g|, so the update is lr * sign(g) (plus decay).
  std::vector<float> p = {1.0f, -2.0f, 0.5f}, g = {0.3f, -4.0f, 1e-3f}, m(3, 0.0f), v(3, 0.0f);
  AdamWHyper h{0.1f, 0.9f, 0.95f, 0.0f, 0.2f};
  auto p0 = p;
  adamw_step(p.data(), g.data(), m.data(), v.data(), 3, h, 1, 1.0f, true);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(p[i], p0[i] * (1 - 0.1f * 0.2f) - 0.1f * (g[i] > 0 ? 1 : -1), 1e-6);
  // No decay for excluded tensors; grad_scale multiplies the gradient before the moments.
  std::vector<float> q = {1.0f}, gq = {2.0f}, mq = {0.0f}, vq = {0.0f};
  adamw_step(q.data(), gq.data(), mq.data(), vq.data(), 1, h, 1, 0.5f, false);
  EXPECT_NEAR(mq[0], 0.1f * 1.0f, 1e-7);
  EXPECT_NEAR(q[0], 1.0f - 0.1f, 1e-6);
}

TEST(Reductions, SumSquaresAndScale) {
  auto x = randn(1001, 17);
  double ref = 0;
  for (float v : x) ref += static_cast<double>(v) * v;
  EXPECT_NEAR(sum_squares(x.data(), 1001), ref, 1e-9 * ref);
  auto y = x;
  scale(y.data(), -0.5f, 1001);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], -0.5f * x[i]);
}
