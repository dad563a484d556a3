// Every CUDA kernel (ops/cuda/) against its CPU twin (ops/cpu/) on the same random inputs.
// Without a usable CUDA device each kernel test is skipped with the reason.
#include <gtest/gtest.h>
#include <nccl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "ops/cpu/ops.h"
#include "ops/cuda/ops.h"

namespace cpu = loong::ops::cpu;
namespace gpu = loong::ops::cuda;

namespace {

// Owns one device allocation of `n` elements of T.
template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : n_(n) {
    void* p = nullptr;
    gpu::check(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T)), "cudaMalloc");
    p_ = static_cast<T*>(p);
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() { cudaFree(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() { return p_; }
  void upload(const std::vector<T>& host) {
    gpu::check(cudaMemcpy(p_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy H2D");
  }
  std::vector<T> download() const {
    std::vector<T> host(n_);
    gpu::check(cudaMemcpy(host.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost), "cudaMemcpy D2H");
    return host;
  }

 private:
  size_t n_;
  T* p_ = nullptr;
};

std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<int32_t> random_ids(size_t n, int32_t lo, int32_t hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(lo, hi - 1);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// |got - want| <= atol + rtol * |want| everywhere; reports the worst element.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, const char* what, float rtol = 1e-4f,
                  float atol = 1e-5f) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t worst = 0;
  double worst_excess = -1.0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double excess = std::fabs(double(got[i]) - want[i]) - (atol + rtol * std::fabs(want[i]));
    if (!(excess <= worst_excess)) {  // also catches NaN
      worst_excess = excess;
      worst = i;
    }
  }
  EXPECT_TRUE(worst_excess <= 0.0) << what << ": element " << worst << " is " << got[worst] << ", CPU gives "
                                   << want[worst] << " (rtol " << rtol << ", atol " << atol << ")";
}

class CudaOps : public testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!gpu::device_available(&why)) GTEST_SKIP() << "no CUDA device: " << why;
    ctx_ = gpu::make_context(0);
  }
  void TearDown() override { gpu::destroy_context(ctx_); }
  void sync() { gpu::synchronize(ctx_); }

  gpu::CudaContext ctx_;
};

TEST_F(CudaOps, Embedding) {
  const int64_t n = 50, c = 96, vocab = 20;
  const auto table = random_floats(vocab * c, 1);
  const auto dout = random_floats(n * c, 2);
  auto tokens = random_ids(n, 0, vocab, 3);  // repeats: the backward must add, not overwrite
  std::vector<float> out(n * c);
  cpu::embedding_forward(out.data(), tokens.data(), table.data(), n, c);

  DeviceBuffer<float> d_table(table), d_out(n * c);
  DeviceBuffer<int32_t> d_tokens(tokens);
  gpu::embedding_forward(ctx_, d_out.get(), d_tokens.get(), d_table.get(), n, c);
  sync();
  expect_close(d_out.download(), out, "embedding_forward", 0.0f, 0.0f);

  // Negative ids (other vocab shard): zero row forward, skipped backward.
  tokens[0] = -1;
  tokens[7] = -3;
  d_tokens.upload(tokens);
  gpu::embedding_forward(ctx_, d_out.get(), d_tokens.get(), d_table.get(), n, c);
  sync();
  const auto shard_out = d_out.download();
  for (int64_t j = 0; j < c; ++j) {
    EXPECT_EQ(shard_out[j], 0.0f);
    EXPECT_EQ(shard_out[7 * c + j], 0.0f);
  }
  cpu::embedding_forward(out.data(), tokens.data(), table.data(), n, c);
  expect_close(shard_out, out, "embedding_forward (negative ids)", 0.0f, 0.0f);

  auto dtable = random_floats(vocab * c, 4);  // accumulates onto existing gradients
  DeviceBuffer<float> d_dtable(dtable), d_dout(dout);
  cpu::embedding_backward(dtable.data(), dout.data(), tokens.data(), n, c);
  gpu::embedding_backward(ctx_, d_dtable.get(), d_dout.get(), d_tokens.get(), n, c);
  sync();
  expect_close(d_dtable.download(), dtable, "embedding_backward");
}

TEST_F(CudaOps, RmsNorm) {
  const int64_t n = 33, c = 300;
  const float eps = 1e-5f;
  const auto x = random_floats(n * c, 10, -2.0f, 2.0f);
  const auto w = random_floats(c, 11, 0.5f, 1.5f);
  const auto dout = random_floats(n * c, 12);
  std::vector<float> out(n * c), rstd(n);
  cpu::rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), n, c, eps);

  DeviceBuffer<float> d_x(x), d_w(w), d_out(n * c), d_rstd(n), d_dout(dout);
  gpu::rmsnorm_forward(ctx_, d_out.get(), d_rstd.get(), d_x.get(), d_w.get(), n, c, eps);
  sync();
  expect_close(d_out.download(), out, "rmsnorm_forward out");
  expect_close(d_rstd.download(), rstd, "rmsnorm_forward rstd");

  auto dx = random_floats(n * c, 13);  // both accumulate
  auto dw = random_floats(c, 14);
  DeviceBuffer<float> d_dx(dx), d_dw(dw);
  cpu::rmsnorm_backward(dx.data(), dw.data(), dout.data(), x.data(), w.data(), rstd.data(), n, c);
  gpu::rmsnorm_backward(ctx_, d_dx.get(), d_dw.get(), d_dout.get(), d_x.get(), d_w.get(), d_rstd.get(), n, c);
  sync();
  expect_close(d_dx.download(), dx, "rmsnorm_backward dx");
  expect_close(d_dw.download(), dw, "rmsnorm_backward dw");
}

TEST_F(CudaOps, Rope) {
  const int64_t positions = 64, head_dim = 16, half = head_dim / 2, heads = 3, n = 40, ld = heads * head_dim + 8;
  const double theta = 10000.0;
  std::vector<float> cos_t(positions * half), sin_t(positions * half);
  cpu::rope_tables(cos_t.data(), sin_t.data(), positions, head_dim, theta);
  DeviceBuffer<float> d_cos(positions * half), d_sin(positions * half);
  gpu::rope_tables(ctx_, d_cos.get(), d_sin.get(), positions, head_dim, theta);
  sync();
  expect_close(d_cos.download(), cos_t, "rope_tables cos", 1e-5f, 1e-6f);
  expect_close(d_sin.download(), sin_t, "rope_tables sin", 1e-5f, 1e-6f);

  const auto pos = random_ids(n, 0, positions, 20);
  auto x = random_floats(n * ld, 21);
  DeviceBuffer<float> d_x(x);
  DeviceBuffer<int32_t> d_pos(pos);
  d_cos.upload(cos_t);  // same tables on both sides: compare the rotation alone
  d_sin.upload(sin_t);
  cpu::rope_forward(x.data(), ld, n, heads, head_dim, pos.data(), cos_t.data(), sin_t.data());
  gpu::rope_forward(ctx_, d_x.get(), ld, n, heads, head_dim, d_pos.get(), d_cos.get(), d_sin.get());
  sync();
  expect_close(d_x.download(), x, "rope_forward");  // includes the untouched padding columns

  cpu::rope_backward(x.data(), ld, n, heads, head_dim, pos.data(), cos_t.data(), sin_t.data());
  gpu::rope_backward(ctx_, d_x.get(), ld, n, heads, head_dim, d_pos.get(), d_cos.get(), d_sin.get());
  sync();
  expect_close(d_x.download(), x, "rope_backward");
}

// Grouped-query attention on a fused [q | k | v] projection, two sequences.
TEST_F(CudaOps, Attention) {
  const int64_t B = 2, T = 37, H = 4, KV = 2, D = 16;
  const int64_t ld = (H + 2 * KV) * D, N = B * T, ldo = H * D;
  const cpu::AttentionShape cs{B, T, H, KV, D, ld};
  const gpu::AttentionShape gs{B, T, H, KV, D, ld};
  const auto qkv = random_floats(N * ld, 30, -2.0f, 2.0f);
  const auto dout = random_floats(N * ldo, 31);
  const float* q = qkv.data();
  const float* k = q + H * D;
  const float* v = k + KV * D;

  std::vector<float> out(N * ldo), probs(B * H * T * T, 0.0f);
  cpu::attention_forward(out.data(), probs.data(), q, k, v, cs);
  DeviceBuffer<float> d_qkv(qkv), d_out(N * ldo), d_probs(B * H * T * T), d_dout(dout);
  float* dq_ = d_qkv.get();
  gpu::attention_forward(ctx_, d_out.get(), d_probs.get(), dq_, dq_ + H * D, dq_ + (H + KV) * D, gs);
  sync();
  expect_close(d_out.download(), out, "attention_forward out");
  auto got_probs = d_probs.download();
  for (int64_t bh = 0; bh < B * H; ++bh)  // the contract covers the lower triangle only
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = i + 1; j < T; ++j) {
        EXPECT_EQ(got_probs[(bh * T + i) * T + j], 0.0f);
        got_probs[(bh * T + i) * T + j] = probs[(bh * T + i) * T + j] = 0.0f;
      }
  expect_close(got_probs, probs, "attention_forward probs");

  std::vector<float> dqkv(N * ld, 0.0f), scratch(cpu::attention_scratch_floats(cs));
  float* g = dqkv.data();
  cpu::attention_backward(g, g + H * D, g + (H + KV) * D, scratch.data(), dout.data(), out.data(), probs.data(), q, k,
                          v, cs);
  // Poison the device gradients: the kernel must overwrite, not accumulate.
  DeviceBuffer<float> d_dqkv(std::vector<float>(N * ld, 7.0f)), d_scratch(gpu::attention_scratch_floats(gs));
  float* dg = d_dqkv.get();
  gpu::attention_backward(ctx_, dg, dg + H * D, dg + (H + KV) * D, d_scratch.get(), d_dout.get(), d_out.get(),
                          d_probs.get(), dq_, dq_ + H * D, dq_ + (H + KV) * D, gs);
  sync();
  expect_close(d_dqkv.download(), dqkv, "attention_backward dq|dk|dv", 1e-4f, 1e-5f);
}

TEST_F(CudaOps, SwiGlu) {
  const int64_t n = 21, inter = 70;
  const auto gate_up = random_floats(n * 2 * inter, 40, -4.0f, 4.0f);
  const auto dh = random_floats(n * inter, 41);
  std::vector<float> h(n * inter), dgu(n * 2 * inter);
  cpu::swiglu_forward(h.data(), gate_up.data(), n, inter);
  cpu::swiglu_backward(dgu.data(), dh.data(), gate_up.data(), n, inter);
  DeviceBuffer<float> d_gu(gate_up), d_dh(dh), d_h(n * inter), d_dgu(std::vector<float>(n * 2 * inter, 7.0f));
  gpu::swiglu_forward(ctx_, d_h.get(), d_gu.get(), n, inter);
  gpu::swiglu_backward(ctx_, d_dgu.get(), d_dh.get(), d_gu.get(), n, inter);
  sync();
  expect_close(d_h.download(), h, "swiglu_forward");
  expect_close(d_dgu.download(), dgu, "swiglu_backward");
}

TEST_F(CudaOps, Linear) {
  const int64_t n = 29, in = 48, out = 35;
  const auto x = random_floats(n * in, 50);
  const auto w = random_floats(out * in, 51);
  const auto dy = random_floats(n * out, 52);
  std::vector<float> y(n * out);
  cpu::linear_forward(y.data(), x.data(), w.data(), n, in, out);
  DeviceBuffer<float> d_x(x), d_w(w), d_dy(dy), d_y(n * out);
  gpu::linear_forward(ctx_, d_y.get(), d_x.get(), d_w.get(), n, in, out);
  sync();
  expect_close(d_y.download(), y, "linear_forward");

  for (bool accumulate : {false, true}) {
    auto dx = random_floats(n * in, 53);
    auto dw = random_floats(out * in, 54);
    DeviceBuffer<float> d_dx(dx), d_dw(dw);
    cpu::linear_backward(dx.data(), dw.data(), dy.data(), x.data(), w.data(), n, in, out, accumulate);
    gpu::linear_backward(ctx_, d_dx.get(), d_dw.get(), d_dy.get(), d_x.get(), d_w.get(), n, in, out, accumulate);
    sync();
    expect_close(d_dx.download(), dx, accumulate ? "linear_backward dx (+=)" : "linear_backward dx (=)");
    expect_close(d_dw.download(), dw, "linear_backward dw");
  }
  auto dw = random_floats(out * in, 55);  // dx may be null
  DeviceBuffer<float> d_dw(dw);
  cpu::linear_backward(nullptr, dw.data(), dy.data(), x.data(), w.data(), n, in, out, false);
  gpu::linear_backward(ctx_, nullptr, d_dw.get(), d_dy.get(), d_x.get(), d_w.get(), n, in, out, false);
  sync();
  expect_close(d_dw.download(), dw, "linear_backward dw (dx null)");
}

TEST_F(CudaOps, CrossEntropy) {
  const int64_t n = 19, vocab = 1000;
  const auto logits = random_floats(n * vocab, 60, -5.0f, 5.0f);
  auto targets = random_ids(n, 0, vocab, 61);
  const auto weights = random_floats(n, 62, 0.0f, 2.0f);
  const float normalizer = 17.0f;

  std::vector<float> loss(n), lse(n), mx(n), sum(n), picked(n);
  cpu::cross_entropy_forward(loss.data(), lse.data(), logits.data(), targets.data(), n, vocab);
  DeviceBuffer<float> d_logits(logits), d_w(weights), d_loss(n), d_lse(n), d_mx(n), d_sum(n), d_picked(n);
  DeviceBuffer<int32_t> d_t(targets);
  gpu::cross_entropy_forward(ctx_, d_loss.get(), d_lse.get(), d_logits.get(), d_t.get(), n, vocab);
  sync();
  expect_close(d_loss.download(), loss, "cross_entropy_forward token_loss");
  expect_close(d_lse.download(), lse, "cross_entropy_forward lse");

  // The vocab-parallel pieces, with a target in another shard.
  targets[3] = -1;
  d_t.upload(targets);
  cpu::logits_row_max(mx.data(), logits.data(), n, vocab);
  cpu::logits_row_sumexp(sum.data(), logits.data(), mx.data(), n, vocab);
  cpu::logits_pick(picked.data(), logits.data(), targets.data(), n, vocab);
  gpu::logits_row_max(ctx_, d_mx.get(), d_logits.get(), n, vocab);
  gpu::logits_row_sumexp(ctx_, d_sum.get(), d_logits.get(), d_mx.get(), n, vocab);
  gpu::logits_pick(ctx_, d_picked.get(), d_logits.get(), d_t.get(), n, vocab);
  sync();
  expect_close(d_mx.download(), mx, "logits_row_max", 0.0f, 0.0f);
  expect_close(d_sum.download(), sum, "logits_row_sumexp");
  expect_close(d_picked.download(), picked, "logits_pick", 0.0f, 0.0f);

  auto grad = logits;
  cpu::cross_entropy_backward(grad.data(), lse.data(), targets.data(), weights.data(), normalizer, n, vocab);
  d_lse.upload(lse);
  gpu::cross_entropy_backward(ctx_, d_logits.get(), d_lse.get(), d_t.get(), d_w.get(), normalizer, n, vocab);
  sync();
  expect_close(d_logits.download(), grad, "cross_entropy_backward", 1e-4f, 1e-7f);
}

TEST_F(CudaOps, Optimizer) {
  const int64_t n = 100003;  // not a multiple of any block size
  const auto g = random_floats(n, 70);
  DeviceBuffer<float> d_g(g);
  DeviceBuffer<double> d_acc(1);
  const double want = cpu::sum_squares(g.data(), n);
  const double got = gpu::sum_squares(ctx_, d_g.get(), n, d_acc.get());
  EXPECT_NEAR(got, want, 1e-9 * want);
  gpu::sum_squares_accumulate(ctx_, d_acc.get(), d_g.get(), n);  // adds onto the previous sum
  sync();
  EXPECT_NEAR(d_acc.download()[0], 2.0 * want, 2e-9 * want);

  auto x = random_floats(n, 71);
  DeviceBuffer<float> d_x(x);
  cpu::scale(x.data(), 0.37f, n);
  gpu::scale(ctx_, d_x.get(), 0.37f, n);
  sync();
  expect_close(d_x.download(), x, "scale", 0.0f, 0.0f);

  cpu::AdamWHyper ch;
  ch.lr = 3e-3f;
  gpu::AdamWHyper gh;
  gh.lr = 3e-3f;
  for (bool decay : {true, false}) {
    auto p = random_floats(n, 72);
    auto m = random_floats(n, 73, -0.1f, 0.1f);
    auto v = random_floats(n, 74, 0.0f, 0.01f);
    DeviceBuffer<float> d_p(p), d_m(m), d_v(v);
    for (int64_t step = 1; step <= 3; ++step) {
      cpu::adamw_step(p.data(), g.data(), m.data(), v.data(), n, ch, step, 0.5f, decay);
      gpu::adamw_step(ctx_, d_p.get(), d_g.get(), d_m.get(), d_v.get(), n, gh, step, 0.5f, decay);
    }
    sync();
    expect_close(d_p.download(), p, decay ? "adamw p (decay)" : "adamw p");
    expect_close(d_m.download(), m, "adamw m");
    expect_close(d_v.download(), v, "adamw v");
  }
}

// NCCL is linked now (the parallel/ backend uses it); ncclGetVersion needs no GPU.
TEST(Nccl, LinksAndReportsVersion) {
  int version = 0;
  ASSERT_EQ(ncclGetVersion(&version), ncclSuccess);
  EXPECT_GT(version, 0);
  std::printf("NCCL version code %d\n", version);
}

// Reports (and never fails on) whether this machine can run the kernel tests.
TEST(CudaDevice, AvailabilityIsReported) {
  std::string why;
  const bool available = gpu::device_available(&why);
  if (!available) {
    EXPECT_FALSE(why.empty());
  }
  std::printf("CUDA device available: %s%s%s\n", available ? "yes" : "no", available ? "" : " - ", why.c_str());
}

}  // namespace
