// The convolutional CUDA kernels (ops/cuda/conv_ops.h) against their CPU twins (ops/cpu/conv_ops.h)
// on the same random inputs. Without a usable CUDA device every test is skipped with the reason.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "ops/cpu/conv_ops.h"
#include "ops/cuda/conv_ops.h"

namespace cpu = loong::ops::cpu;
namespace gpu = loong::ops::cuda;

namespace {

class DeviceFloats {
 public:
  explicit DeviceFloats(size_t n) : n_(n) {
    void* p = nullptr;
    gpu::check(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(float)), "cudaMalloc");
    p_ = static_cast<float*>(p);
  }
  explicit DeviceFloats(const std::vector<float>& host) : DeviceFloats(host.size()) {
    gpu::check(cudaMemcpy(p_, host.data(), n_ * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy H2D");
  }
  ~DeviceFloats() { cudaFree(p_); }
  DeviceFloats(const DeviceFloats&) = delete;
  DeviceFloats& operator=(const DeviceFloats&) = delete;
  float* get() { return p_; }
  std::vector<float> download() const {
    std::vector<float> host(n_);
    gpu::check(cudaMemcpy(host.data(), p_, n_ * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy D2H");
    return host;
  }

 private:
  size_t n_;
  float* p_ = nullptr;
};

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Relative to the largest CPU magnitude of the tensor.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, const char* what, double tol = 1e-5) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 1e-6, worst = 0.0;
  size_t at = 0;
  for (float w : want) scale = std::max(scale, static_cast<double>(std::fabs(w)));
  for (size_t i = 0; i < got.size(); ++i) {
    const double e = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (!(e <= worst)) worst = e, at = i;
  }
  EXPECT_LE(worst / scale, tol) << what << ": element " << at << " is " << got[at] << ", CPU gives " << want[at];
}

class ConvOpsCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!gpu::device_available(&why)) GTEST_SKIP() << "no CUDA device: " << why;
    ctx_ = gpu::make_context(0);
  }
  void TearDown() override {
    if (ctx_.blas) gpu::destroy_context(ctx_);
  }
  gpu::CudaContext ctx_;
};

}  // namespace

TEST_F(ConvOpsCuda, Conv3dMatchesCpu) {
  // {n, cin, cout, t, h, w, kt, kh, kw, st, sh, sw, ph, pw}
  const cpu::Conv3dShape shapes[] = {{2, 3, 4, 5, 6, 5, 3, 3, 3, 1, 1, 1, 1, 1},
                                     {2, 3, 4, 7, 7, 6, 3, 3, 3, 2, 2, 2, 1, 1},
                                     {1, 5, 3, 4, 5, 7, 2, 3, 1, 1, 2, 3, 1, 0},
                                     {2, 6, 5, 3, 4, 3, 1, 1, 1, 1, 1, 1, 0, 0},
                                     {1, 64, 2, 3, 48, 48, 3, 3, 3, 1, 1, 1, 1, 1}};  // several frame chunks
  uint32_t seed = 1;
  for (const auto& s : shapes) {
    const int64_t in = s.n * s.cin * s.t * s.h * s.w, out = s.n * s.cout * s.out_t() * s.out_h() * s.out_w();
    const int64_t wn = s.cout * s.cin * s.kt * s.kh * s.kw;
    auto x = random_floats(in, seed++), w = random_floats(wn, seed++), b = random_floats(s.cout, seed++);
    auto dy = random_floats(out, seed++), dx0 = random_floats(in, seed++);
    std::vector<float> y(out), ws(cpu::conv3d_workspace_floats(s)), dx = dx0, dw(wn, 0.5f), db(s.cout, 0.5f);
    cpu::conv3d_forward(y.data(), x.data(), w.data(), b.data(), ws.data(), s);
    cpu::conv3d_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), ws.data(), s, true);

    DeviceFloats gx(x), gw(w), gb(b), gdy(dy), gy(out), gws(gpu::conv3d_workspace_floats(s)), gdx(dx0),
        gdw(std::vector<float>(wn, 0.5f)), gdb(std::vector<float>(s.cout, 0.5f));
    gpu::conv3d_forward(ctx_, gy.get(), gx.get(), gw.get(), gb.get(), gws.get(), s);
    gpu::conv3d_backward(ctx_, gdx.get(), gdw.get(), gdb.get(), gdy.get(), gx.get(), gw.get(), gws.get(), s, true);
    gpu::synchronize(ctx_);
    expect_close(gy.download(), y, "conv3d out");
    expect_close(gdx.download(), dx, "conv3d dx (accumulated)");
    expect_close(gdw.download(), dw, "conv3d dweight");
    expect_close(gdb.download(), db, "conv3d dbias");
    // Overwriting dx.
    std::vector<float> dxo(in);
    cpu::conv3d_backward(dxo.data(), dw.data(), nullptr, dy.data(), x.data(), w.data(), ws.data(), s, false);
    gpu::conv3d_backward(ctx_, gdx.get(), gdw.get(), nullptr, gdy.get(), gx.get(), gw.get(), gws.get(), s, false);
    gpu::synchronize(ctx_);
    expect_close(gdx.download(), dxo, "conv3d dx (overwritten)");
  }
}

TEST_F(ConvOpsCuda, GroupNormMatchesCpu) {
  const cpu::GroupNormShape shapes[] = {{2, 6, 3, 10, 3}, {2, 4, 1, 21, 2}, {1, 64, 5, 1024, 8}};
  uint32_t seed = 100;
  for (const auto& s : shapes) {
    const int64_t n = s.n * s.c * s.t * s.s, stats = s.n * s.t * s.groups;
    auto x = random_floats(n, seed++), gamma = random_floats(s.c, seed++), beta = random_floats(s.c, seed++);
    auto dy = random_floats(n, seed++), dx0 = random_floats(n, seed++);
    std::vector<float> y(n), mean(stats), rstd(stats), dx = dx0, dg(s.c, 0.25f), db(s.c, 0.25f);
    cpu::groupnorm_forward(y.data(), mean.data(), rstd.data(), x.data(), gamma.data(), beta.data(), s, 1e-6f);
    cpu::groupnorm_backward(dx.data(), dg.data(), db.data(), dy.data(), x.data(), gamma.data(), mean.data(),
                            rstd.data(), s, true);
    DeviceFloats gx(x), gg(gamma), gb(beta), gdy(dy), gy(n), gm(stats), gr(stats), gdx(dx0),
        gdg(std::vector<float>(s.c, 0.25f)), gdb(std::vector<float>(s.c, 0.25f));
    gpu::groupnorm_forward(ctx_, gy.get(), gm.get(), gr.get(), gx.get(), gg.get(), gb.get(), s, 1e-6f);
    gpu::groupnorm_backward(ctx_, gdx.get(), gdg.get(), gdb.get(), gdy.get(), gx.get(), gg.get(), gm.get(), gr.get(), s,
                            true);
    gpu::synchronize(ctx_);
    expect_close(gy.download(), y, "groupnorm out");
    expect_close(gm.download(), mean, "groupnorm mean");
    expect_close(gr.download(), rstd, "groupnorm rstd");
    expect_close(gdx.download(), dx, "groupnorm dx");
    expect_close(gdg.download(), dg, "groupnorm dgamma");
    expect_close(gdb.download(), db, "groupnorm dbeta");
  }
}

TEST_F(ConvOpsCuda, UpsampleMatchesCpu) {
  const cpu::UpsampleShape shapes[] = {
      {2, 3, 2, 3, 4, 1, 2, 2, 0}, {1, 2, 3, 2, 3, 2, 2, 2, 1}, {1, 1, 4, 2, 2, 4, 2, 1, 3}};
  uint32_t seed = 200;
  for (const auto& s : shapes) {
    const int64_t in = s.n * s.c * s.t * s.h * s.w, out = s.n * s.c * s.out_t() * s.h * s.fh * s.w * s.fw;
    auto x = random_floats(in, seed++), dy = random_floats(out, seed++);
    std::vector<float> y(out), dx(in);
    cpu::upsample_nearest_forward(y.data(), x.data(), s);
    cpu::upsample_nearest_backward(dx.data(), dy.data(), s);
    DeviceFloats gx(x), gdy(dy), gy(out), gdx(in);
    gpu::upsample_nearest_forward(ctx_, gy.get(), gx.get(), s);
    gpu::upsample_nearest_backward(ctx_, gdx.get(), gdy.get(), s);
    gpu::synchronize(ctx_);
    expect_close(gy.download(), y, "upsample out", 0.0);
    expect_close(gdx.download(), dx, "upsample dx");
  }
}

TEST_F(ConvOpsCuda, PixelShuffleMatchesCpu) {
  const cpu::PixelShuffleShape s{2, 3, 2, 4, 6, 2};
  const int64_t n = s.n * s.c * s.t * s.h * s.w;
  auto x = random_floats(n, 400);
  std::vector<float> packed(n), back(n);
  cpu::space_to_depth(packed.data(), x.data(), s);
  cpu::depth_to_space(back.data(), packed.data(), s);
  DeviceFloats gx(x), gp(n), gb(n);
  gpu::space_to_depth(ctx_, gp.get(), gx.get(), s);
  gpu::depth_to_space(ctx_, gb.get(), gp.get(), s);
  gpu::synchronize(ctx_);
  expect_close(gp.download(), packed, "space_to_depth", 0.0);
  expect_close(gb.download(), back, "depth_to_space", 0.0);
}

TEST_F(ConvOpsCuda, SiluMatchesCpu) {
  const int64_t n = 10007;
  auto x = random_floats(n, 300), dy = random_floats(n, 301);
  for (auto& v : x) v *= 8.0f;
  std::vector<float> y(n), dx(n);
  cpu::silu_forward(y.data(), x.data(), n);
  cpu::silu_backward(dx.data(), dy.data(), x.data(), n);
  DeviceFloats gx(x), gdy(dy), gy(n), gdx(n);
  gpu::silu_forward(ctx_, gy.get(), gx.get(), n);
  gpu::silu_backward(ctx_, gdx.get(), gdy.get(), gx.get(), n);
  gpu::synchronize(ctx_);
  expect_close(gy.download(), y, "silu out", 1e-6);
  expect_close(gdx.download(), dx, "silu dx", 1e-6);
}
