// Causal 3D convolution: vol2col kernel + cuBLAS GEMMs, chunked over output frames exactly as the
// CPU (ops/cpu/conv3d.cpp). The input gradient is a gather (col2vol per input element), so no
// atomics are needed.
#include <algorithm>

#include "ops/cuda/common.cuh"
#include "ops/cuda/conv_ops.h"
#include "ops/elementwise.h"

namespace loong::ops::cuda {
namespace {

// Sizes the kernels need, computed on the host.
struct Geo {
  int64_t cin, t, h, w, kt, kh, kw, st, sh, sw, ph, pw, ho, wo;
};

Geo geo(const Conv3dShape& s) {
  return Geo{s.cin, s.t, s.h, s.w, s.kt, s.kh, s.kw, s.st, s.sh, s.sw, s.ph, s.pw, s.out_h(), s.out_w()};
}

#define LOONG_GRID_STRIDE(idx, total)                                                            \
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < (total); \
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x)

// col[r, (j - j0, oy, ox)], r = ((c*kt + dt)*kh + dy)*kw + dx; zeros in the padding.
__global__ void vol2col_kernel(float* col, const float* xn, Geo g, int64_t j0, int64_t frames) {
  const int64_t plane = g.ho * g.wo, lc = frames * plane, total = g.cin * g.kt * g.kh * g.kw * lc;
  LOONG_GRID_STRIDE(idx, total) {
    const int64_t r = idx / lc, col_i = idx % lc;
    const int64_t kx = r % g.kw, ky = (r / g.kw) % g.kh, kz = (r / (g.kw * g.kh)) % g.kt, c = r / (g.kw * g.kh * g.kt);
    const int64_t j = j0 + col_i / plane, oy = (col_i % plane) / g.wo, ox = col_i % g.wo;
    const int64_t it = conv_input_index(j, kz, g.st, g.kt - 1), iy = conv_input_index(oy, ky, g.sh, g.ph),
                  ix = conv_input_index(ox, kx, g.sw, g.pw);
    const bool inside = it >= 0 && it < g.t && iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
    col[idx] = inside ? xn[((c * g.t + it) * g.h + iy) * g.w + ix] : 0.0f;
  }
}

// dxn[c, it, iy, ix] += sum over the taps of col entries vol2col filled from it (frames [j0, j0+frames)).
__global__ void col2vol_kernel(float* dxn, const float* col, Geo g, int64_t j0, int64_t frames) {
  const int64_t plane = g.ho * g.wo, lc = frames * plane, taps = g.kt * g.kh * g.kw;
  const int64_t total = g.cin * g.t * g.h * g.w;
  LOONG_GRID_STRIDE(idx, total) {
    const int64_t ix = idx % g.w, iy = (idx / g.w) % g.h, it = (idx / (g.w * g.h)) % g.t, c = idx / (g.w * g.h * g.t);
    float acc = 0.0f;
    for (int64_t kz = 0; kz < g.kt; ++kz) {
      const int64_t j = conv_output_index(it, kz, g.st, g.kt - 1);
      if (j < j0 || j >= j0 + frames) continue;
      for (int64_t ky = 0; ky < g.kh; ++ky) {
        const int64_t oy = conv_output_index(iy, ky, g.sh, g.ph);
        if (oy < 0 || oy >= g.ho) continue;
        for (int64_t kx = 0; kx < g.kw; ++kx) {
          const int64_t ox = conv_output_index(ix, kx, g.sw, g.pw);
          if (ox < 0 || ox >= g.wo) continue;
          const int64_t r = c * taps + (kz * g.kh + ky) * g.kw + kx;
          acc += col[r * lc + ((j - j0) * g.ho + oy) * g.wo + ox];
        }
      }
    }
    dxn[idx] += acc;
  }
}

__global__ void bias_fill_kernel(float* out, const float* bias, int64_t rows, int64_t cout, int64_t l) {
  LOONG_GRID_STRIDE(idx, rows * l) { out[idx] = bias[(idx / l) % cout]; }
}

// One block per output channel: dbias[co] += sum over (n, positions) of dout.
__global__ void bias_grad_kernel(float* dbias, const float* dout, int64_t n, int64_t cout, int64_t l) {
  __shared__ double shared[32];
  const int64_t co = blockIdx.x;
  double acc = 0.0;
  for (int64_t b = 0; b < n; ++b) {
    const float* g = dout + (b * cout + co) * l;
    for (int64_t i = threadIdx.x; i < l; i += blockDim.x) acc += g[i];
  }
  acc = detail::block_sum(acc, shared);
  if (threadIdx.x == 0) dbias[co] += static_cast<float>(acc);
}

}  // namespace

int64_t conv3d_workspace_floats(const Conv3dShape& s) { return loong::ops::cpu::conv3d_column_floats(s); }

void conv3d_forward(const CudaContext& ctx, float* out, const float* x, const float* weight, const float* bias,
                    float* workspace, const Conv3dShape& s) {
  const int64_t to = s.out_t(), plane = s.out_h() * s.out_w(), l = to * plane, k = s.cin * s.kt * s.kh * s.kw;
  const int64_t chunk = loong::ops::cpu::conv3d_chunk_frames(s), in_size = s.cin * s.t * s.h * s.w;
  if (s.n * s.cout * l == 0) return;
  const Geo g = geo(s);
  if (bias) {
    bias_fill_kernel<<<detail::grid_for(s.n * s.cout * l), detail::kThreads, 0, ctx.stream>>>(out, bias, s.n * s.cout,
                                                                                              s.cout, l);
    detail::check_launch("bias_fill_kernel");
  }
  for (int64_t n = 0; n < s.n; ++n) {
    for (int64_t j0 = 0; j0 < to; j0 += chunk) {
      const int64_t j1 = std::min(to, j0 + chunk), lc = (j1 - j0) * plane;
      const float* b = x + n * in_size + j0 * plane;
      int64_t ldb = l;
      if (!s.pointwise()) {
        vol2col_kernel<<<detail::grid_for(k * lc), detail::kThreads, 0, ctx.stream>>>(workspace, x + n * in_size, g, j0,
                                                                                      j1 - j0);
        detail::check_launch("vol2col_kernel");
        b = workspace;
        ldb = lc;
      }
      detail::gemm(ctx, s.cout, lc, k, 1.0f, {weight, k, false}, {b, ldb, false}, bias ? 1.0f : 0.0f,
                   out + n * s.cout * l + j0 * plane, l);
    }
  }
}

void conv3d_backward(const CudaContext& ctx, float* dx, float* dweight, float* dbias, const float* dout, const float* x,
                     const float* weight, float* workspace, const Conv3dShape& s, bool accumulate_dx) {
  const int64_t to = s.out_t(), plane = s.out_h() * s.out_w(), l = to * plane, k = s.cin * s.kt * s.kh * s.kw;
  const int64_t chunk = loong::ops::cpu::conv3d_chunk_frames(s), in_size = s.cin * s.t * s.h * s.w;
  if (s.n * s.cout * l == 0) return;
  const Geo g = geo(s);
  if (dbias) {
    bias_grad_kernel<<<static_cast<unsigned>(s.cout), detail::kThreads, 0, ctx.stream>>>(dbias, dout, s.n, s.cout, l);
    detail::check_launch("bias_grad_kernel");
  }
  if (dx && !accumulate_dx && !s.pointwise())
    check(cudaMemsetAsync(dx, 0, sizeof(float) * s.n * in_size, ctx.stream), "cudaMemsetAsync");
  for (int64_t n = 0; n < s.n; ++n) {
    const float* gn = dout + n * s.cout * l;
    for (int64_t j0 = 0; j0 < to; j0 += chunk) {
      const int64_t j1 = std::min(to, j0 + chunk), lc = (j1 - j0) * plane;
      const float* gc = gn + j0 * plane;
      const float* b = x + n * in_size + j0 * plane;
      int64_t ldb = l;
      if (!s.pointwise()) {
        vol2col_kernel<<<detail::grid_for(k * lc), detail::kThreads, 0, ctx.stream>>>(workspace, x + n * in_size, g, j0,
                                                                                      j1 - j0);
        detail::check_launch("vol2col_kernel");
        b = workspace;
        ldb = lc;
      }
      // dW (Cout x K) += dout chunk (Cout x lc) @ col^T
      detail::gemm(ctx, s.cout, k, lc, 1.0f, {gc, l, false}, {b, ldb, true}, 1.0f, dweight, k);
      if (!dx) continue;
      float* dxn = dx + n * in_size;
      if (s.pointwise()) {
        detail::gemm(ctx, k, lc, s.cout, 1.0f, {weight, k, true}, {gc, l, false}, accumulate_dx ? 1.0f : 0.0f,
                     dxn + j0 * plane, l);
      } else {
        detail::gemm(ctx, k, lc, s.cout, 1.0f, {weight, k, true}, {gc, l, false}, 0.0f, workspace, lc);
        col2vol_kernel<<<detail::grid_for(in_size), detail::kThreads, 0, ctx.stream>>>(dxn, workspace, g, j0, j1 - j0);
        detail::check_launch("col2vol_kernel");
      }
    }
  }
}

}  // namespace loong::ops::cuda
