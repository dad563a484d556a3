// Causal 3D convolution as vol2col (im2col over time, height, width) + one sgemm per batch item
// and chunk of output frames. With several batch items and threads, threads take whole batch
// items (each with its own column buffer and, in backward, its own weight-gradient partial):
// the tokenizer's GEMMs have few rows (16-64 output channels), so OpenBLAS spends more time
// packing than multiplying and scales poorly across threads, while batch items are independent.
// With one batch item (encode, eval) OpenMP parallelises vol2col over its rows and col2vol over
// input channels, and the GEMMs use OpenBLAS's own threads.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "ops/cpu/conv_ops.h"
#include "ops/elementwise.h"

namespace loong::ops::cpu {
namespace {

constexpr int64_t kWorkspaceTarget = int64_t{1} << 22;  // floats (16 MiB) per chunk, at least one frame

int64_t col_rows(const Conv3dShape& s) { return s.cin * s.kt * s.kh * s.kw; }

// col[r, (j - j0, oy, ox)] for r = ((c*kt + dt)*kh + dy)*kw + dx and output frames [j0, j1):
// the input value tap (dt, dy, dx) of output (j, oy, ox) reads, or 0 in the padding.
void vol2col(float* col, const float* xn, const Conv3dShape& s, int64_t j0, int64_t j1) {
  const int64_t ho = s.out_h(), wo = s.out_w(), plane = ho * wo, lc = (j1 - j0) * plane;
  const int64_t rows = col_rows(s);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t kx = r % s.kw, ky = (r / s.kw) % s.kh, kz = (r / (s.kw * s.kh)) % s.kt, c = r / (s.kw * s.kh * s.kt);
    float* row = col + r * lc;
    for (int64_t j = j0; j < j1; ++j) {
      float* dst = row + (j - j0) * plane;
      const int64_t it = conv_input_index(j, kz, s.st, s.kt - 1);
      if (it < 0 || it >= s.t) {
        std::fill(dst, dst + plane, 0.0f);
        continue;
      }
      const float* src = xn + (c * s.t + it) * s.h * s.w;
      for (int64_t oy = 0; oy < ho; ++oy) {
        float* d = dst + oy * wo;
        const int64_t iy = conv_input_index(oy, ky, s.sh, s.ph);
        if (iy < 0 || iy >= s.h) {
          std::fill(d, d + wo, 0.0f);
          continue;
        }
        const float* srow = src + iy * s.w;
        for (int64_t ox = 0; ox < wo; ++ox) {
          const int64_t ix = conv_input_index(ox, kx, s.sw, s.pw);
          d[ox] = (ix >= 0 && ix < s.w) ? srow[ix] : 0.0f;
        }
      }
    }
  }
}

// The adjoint of vol2col: dxn[c, it, iy, ix] += col[r, column] for every (r, column) vol2col
// filled from that input element. Threads own input channels, so no two write the same element.
void col2vol_add(float* dxn, const float* col, const Conv3dShape& s, int64_t j0, int64_t j1) {
  const int64_t ho = s.out_h(), wo = s.out_w(), plane = ho * wo, lc = (j1 - j0) * plane;
  const int64_t taps = s.kt * s.kh * s.kw;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < s.cin; ++c) {
    for (int64_t tap = 0; tap < taps; ++tap) {
      const int64_t kx = tap % s.kw, ky = (tap / s.kw) % s.kh, kz = tap / (s.kw * s.kh);
      const float* row = col + (c * taps + tap) * lc;
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t it = conv_input_index(j, kz, s.st, s.kt - 1);
        if (it < 0 || it >= s.t) continue;
        float* dst = dxn + (c * s.t + it) * s.h * s.w;
        const float* src = row + (j - j0) * plane;
        for (int64_t oy = 0; oy < ho; ++oy) {
          const int64_t iy = conv_input_index(oy, ky, s.sh, s.ph);
          if (iy < 0 || iy >= s.h) continue;
          float* drow = dst + iy * s.w;
          const float* srow = src + oy * wo;
          for (int64_t ox = 0; ox < wo; ++ox) {
            const int64_t ix = conv_input_index(ox, kx, s.sw, s.pw);
            if (ix >= 0 && ix < s.w) drow[ix] += srow[ox];
          }
        }
      }
    }
  }
}

}  // namespace

int64_t conv3d_chunk_frames(const Conv3dShape& s) {
  const int64_t per_frame = col_rows(s) * s.out_h() * s.out_w();
  return std::clamp<int64_t>(kWorkspaceTarget / std::max<int64_t>(per_frame, 1), 1, s.out_t());
}

int64_t conv3d_column_floats(const Conv3dShape& s) {
  if (s.pointwise()) return 0;
  return col_rows(s) * conv3d_chunk_frames(s) * s.out_h() * s.out_w();
}

int64_t conv3d_batch_workers(const Conv3dShape& s) {
  if (s.pointwise() || s.n < 2 || omp_in_parallel()) return 1;
  return std::min<int64_t>(s.n, omp_get_max_threads());
}

int64_t conv3d_workspace_floats(const Conv3dShape& s) {
  const int64_t workers = conv3d_batch_workers(s);
  // Per worker: a column buffer, and (when several) a weight-gradient partial of Cout x K.
  return workers * conv3d_column_floats(s) + (workers > 1 ? workers * s.cout * col_rows(s) : 0);
}

void conv3d_forward(float* out, const float* x, const float* weight, const float* bias, float* workspace,
                    const Conv3dShape& s) {
  const int64_t to = s.out_t(), plane = s.out_h() * s.out_w(), l = to * plane, k = col_rows(s);
  const int64_t chunk = conv3d_chunk_frames(s), in_size = s.cin * s.t * s.h * s.w;
  if (bias) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < s.n * s.cout; ++r) std::fill(out + r * l, out + (r + 1) * l, bias[r % s.cout]);
  }
  auto item = [&](int64_t n, float* col) {
    const float* xn = x + n * in_size;
    float* on = out + n * s.cout * l;
    for (int64_t j0 = 0; j0 < to; j0 += chunk) {
      const int64_t j1 = std::min(to, j0 + chunk), lc = (j1 - j0) * plane;
      const float* b = xn + j0 * plane;  // pointwise: x itself is the column matrix
      int64_t ldb = l;
      if (!s.pointwise()) {
        vol2col(col, xn, s, j0, j1);
        b = col;
        ldb = lc;
      }
      // out[:, j0 frames] (Cout x lc, row stride l) = W (Cout x K) @ col (K x lc)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s.cout, lc, k, 1.0f, weight, k, b, ldb, bias ? 1.0f : 0.0f,
                  on + j0 * plane, l);
    }
  };
  const int64_t workers = conv3d_batch_workers(s), per = conv3d_column_floats(s);
  if (workers > 1) {
#pragma omp parallel for num_threads(workers) schedule(static)
    for (int64_t n = 0; n < s.n; ++n) item(n, workspace + omp_get_thread_num() * per);
  } else {
    for (int64_t n = 0; n < s.n; ++n) item(n, workspace);
  }
}

void conv3d_backward(float* dx, float* dweight, float* dbias, const float* dout, const float* x, const float* weight,
                     float* workspace, const Conv3dShape& s, bool accumulate_dx) {
  const int64_t to = s.out_t(), plane = s.out_h() * s.out_w(), l = to * plane, k = col_rows(s);
  const int64_t chunk = conv3d_chunk_frames(s), in_size = s.cin * s.t * s.h * s.w;
  if (dbias) {
#pragma omp parallel for schedule(static)
    for (int64_t co = 0; co < s.cout; ++co) {
      double acc = 0.0;
      for (int64_t n = 0; n < s.n; ++n) {
        const float* g = dout + (n * s.cout + co) * l;
        for (int64_t i = 0; i < l; ++i) acc += g[i];
      }
      dbias[co] += static_cast<float>(acc);
    }
  }
  if (dx && !accumulate_dx && !s.pointwise()) std::memset(dx, 0, sizeof(float) * s.n * in_size);
  auto item = [&](int64_t n, float* col, float* dw) {
    const float* xn = x + n * in_size;
    const float* gn = dout + n * s.cout * l;
    for (int64_t j0 = 0; j0 < to; j0 += chunk) {
      const int64_t j1 = std::min(to, j0 + chunk), lc = (j1 - j0) * plane;
      const float* g = gn + j0 * plane;
      const float* b = xn + j0 * plane;
      int64_t ldb = l;
      if (!s.pointwise()) {
        vol2col(col, xn, s, j0, j1);
        b = col;
        ldb = lc;
      }
      // dW (Cout x K) += dout chunk (Cout x lc) @ col^T (lc x K)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s.cout, k, lc, 1.0f, g, l, b, ldb, 1.0f, dw, k);
      if (!dx) continue;
      float* dxn = dx + n * in_size;
      if (s.pointwise()) {
        // dx chunk (Cin x lc) = W^T (Cin x Cout) @ dout chunk (Cout x lc)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, lc, s.cout, 1.0f, weight, k, g, l,
                    accumulate_dx ? 1.0f : 0.0f, dxn + j0 * plane, l);
      } else {
        // dcol (K x lc) = W^T @ dout chunk, then scattered back onto the input positions.
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, lc, s.cout, 1.0f, weight, k, g, l, 0.0f, col, lc);
        col2vol_add(dxn, col, s, j0, j1);
      }
    }
  };
  const int64_t workers = conv3d_batch_workers(s), per = conv3d_column_floats(s), wn = s.cout * k;
  if (workers > 1) {
    float* partials = workspace + workers * per;  // each worker's dW, summed in worker order below
    std::fill(partials, partials + workers * wn, 0.0f);
#pragma omp parallel for num_threads(workers) schedule(static)
    for (int64_t n = 0; n < s.n; ++n) {
      const int64_t w = omp_get_thread_num();
      item(n, workspace + w * per, partials + w * wn);
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < wn; ++i) {
      float acc = dweight[i];
      for (int64_t w = 0; w < workers; ++w) acc += partials[w * wn + i];
      dweight[i] = acc;
    }
  } else {
    for (int64_t n = 0; n < s.n; ++n) item(n, workspace, dweight);
  }
}

}  // namespace loong::ops::cpu
