// Causal attention on sgemm. Rows are processed in blocks of kBlock queries; a block only
// multiplies against the keys it may see (0 .. end of block), so the masked half of the score
// matrix is never computed. Entries above the diagonal inside a block are set to zero in probs,
// which keeps P @ V and every backward product exact without a separate mask pass.
// Threads split the (sequence, head) pairs and call sgemm single-threaded (OpenBLAS's OpenMP build
// runs serially inside a parallel region): one parallel region per call instead of one per
// block, which matters when every core is busy.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ops/cpu/ops.h"
#include "ops/elementwise.h"

namespace loong::ops::cpu {
namespace {
constexpr int64_t kBlock = 128;
}

int64_t attention_scratch_floats(const AttentionShape& s) {
  return static_cast<int64_t>(omp_get_max_threads()) * s.seq * s.seq;
}

void attention_forward(float* out, float* probs, const float* q, const float* k, const float* v,
                       const AttentionShape& s) {
  const int64_t T = s.seq, D = s.head_dim, ld = s.ld_qkv, ldo = s.heads * s.head_dim;
  const int64_t group = s.heads / s.kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t bh = 0; bh < s.batch * s.heads; ++bh) {
    const int64_t b = bh / s.heads, h = bh % s.heads, kvh = h / group;
    const float* qb = q + b * T * ld + h * D;
    const float* kb = k + b * T * ld + kvh * D;
    const float* vb = v + b * T * ld + kvh * D;
    float* P = probs + bh * T * T;
    float* ob = out + b * T * ldo + h * D;
    for (int64_t i0 = 0; i0 < T; i0 += kBlock) {
      const int64_t i1 = std::min(T, i0 + kBlock), rows = i1 - i0;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, i1, D, scale, qb + i0 * ld, ld, kb, ld, 0.0f,
                  P + i0 * T, T);
      for (int64_t i = i0; i < i1; ++i) {
        float* row = P + i * T;
        float mx = row[0];
        for (int64_t j = 1; j <= i; ++j) mx = std::max(mx, row[j]);
        float sum = 0.0f;
        for (int64_t j = 0; j <= i; ++j) {
          row[j] = std::exp(row[j] - mx);
          sum += row[j];
        }
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j <= i; ++j) row[j] *= inv;
        for (int64_t j = i + 1; j < i1; ++j) row[j] = 0.0f;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, D, i1, 1.0f, P + i0 * T, T, vb, ld, 0.0f,
                  ob + i0 * ldo, ldo);
    }
  }
}

void attention_backward(float* dq, float* dk, float* dv, float* scratch, const float* dout, const float* out,
                        const float* probs, const float* q, const float* k, const float* v, const AttentionShape& s) {
  const int64_t T = s.seq, D = s.head_dim, ld = s.ld_qkv, ldo = s.heads * s.head_dim;
  const int64_t group = s.heads / s.kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  // A task is one kv head of one sequence with all the query heads that share it, so the dk/dv
  // accumulation of grouped-query attention never races.
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t bk = 0; bk < s.batch * s.kv_heads; ++bk) {
    const int64_t b = bk / s.kv_heads, kvh = bk % s.kv_heads;
    float* dS = scratch + static_cast<int64_t>(omp_get_thread_num()) * T * T;
    const float* kb = k + b * T * ld + kvh * D;
    const float* vb = v + b * T * ld + kvh * D;
    float* dkb = dk + b * T * ld + kvh * D;
    float* dvb = dv + b * T * ld + kvh * D;
    for (int64_t r = 0; r < T; ++r) {
      std::memset(dkb + r * ld, 0, D * sizeof(float));
      std::memset(dvb + r * ld, 0, D * sizeof(float));
    }
    for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
      const float* qb = q + b * T * ld + h * D;
      float* dqb = dq + b * T * ld + h * D;
      const float* P = probs + (b * s.heads + h) * T * T;
      const float* ob = out + b * T * ldo + h * D;
      const float* dob = dout + b * T * ldo + h * D;
      for (int64_t i0 = 0; i0 < T; i0 += kBlock) {
        const int64_t i1 = std::min(T, i0 + kBlock), rows = i1 - i0;
        // dP = dO V^T
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, i1, D, 1.0f, dob + i0 * ldo, ldo, vb, ld, 0.0f,
                    dS + i0 * T, T);
        // dS = P * (dP - rowsum(dO * O)); P is zero above the diagonal, so dS is too.
        for (int64_t i = i0; i < i1; ++i) {
          const float* o = ob + i * ldo;
          const float* g = dob + i * ldo;
          float delta = 0.0f;
          for (int64_t d = 0; d < D; ++d) delta += o[d] * g[d];
          float* row = dS + i * T;
          const float* prow = P + i * T;
          for (int64_t j = 0; j < i1; ++j) row[j] = softmax_dscore(prow[j], row[j], delta);
        }
        // dQ = scale * dS K ; dK += scale * dS^T Q ; dV += P^T dO
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, D, i1, scale, dS + i0 * T, T, kb, ld, 0.0f,
                    dqb + i0 * ld, ld);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, i1, D, rows, scale, dS + i0 * T, T, qb + i0 * ld, ld, 1.0f,
                    dkb, ld);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, i1, D, rows, 1.0f, P + i0 * T, T, dob + i0 * ldo, ldo,
                    1.0f, dvb, ld);
      }
    }
  }
}

void attention_decode(float* out, float* scores, const float* q, const float* k, const float* v,
                      const DecodeAttentionShape& s) {
  const int64_t D = s.head_dim, row = s.kv_heads * D, group = s.heads / s.kv_heads, n = s.positions;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  for (int64_t b = 0; b < s.batch; ++b) {
    const float* kc = k + b * s.cache_stride;
    const float* vc = v + b * s.cache_stride;
    for (int64_t h = 0; h < s.heads; ++h) {
      const float* qh = q + b * s.ld_q + h * D;
      const int64_t kvh = h / group;
      // Dot products then a max-shifted softmax, as attention_forward's rows (up to summation order).
      float mx = -INFINITY;
      for (int64_t j = 0; j < n; ++j) {
        const float* kj = kc + j * row + kvh * D;
        float dot = 0;
        for (int64_t d = 0; d < D; ++d) dot += qh[d] * kj[d];
        scores[j] = dot * scale;
        mx = std::max(mx, scores[j]);
      }
      float sum = 0;
      for (int64_t j = 0; j < n; ++j) sum += (scores[j] = std::exp(scores[j] - mx));
      float* o = out + (b * s.heads + h) * D;
      std::fill(o, o + D, 0.0f);
      for (int64_t j = 0; j < n; ++j) {
        const float p = scores[j] / sum;
        const float* vj = vc + j * row + kvh * D;
        for (int64_t d = 0; d < D; ++d) o[d] += p * vj[d];
      }
    }
  }
}

}  // namespace loong::ops::cpu
