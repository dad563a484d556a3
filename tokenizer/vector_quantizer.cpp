#include "tokenizer/vector_quantizer.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"

namespace loong::tok {

VectorQuantizer::VectorQuantizer(ParamStore& store, const QuantizerConfig& config) : config_(config), store_(store) {
  if (config_.codebook_size < 2) throw ConfigError("quantizer: codebook_size must be at least 2");
  if (config_.dim < 1) throw ConfigError("quantizer: code dimension must be positive");
  codebook_ = store_.add("quantizer.codebook", {config_.codebook_size, config_.dim}, Init::kConvWeight, config_.dim);
  usage_.assign(config_.codebook_size, 1.0f / static_cast<float>(config_.codebook_size));
}

void VectorQuantizer::codebook_rows(std::vector<float>& rows) const {
  const int64_t K = config_.codebook_size, D = config_.dim;
  const float* e = store_.param(codebook_);
  rows.assign(e, e + K * D);
  if (!config_.cosine) return;
  for (int64_t k = 0; k < K; ++k) {
    float s = 0;
    for (int64_t d = 0; d < D; ++d) s += rows[k * D + d] * rows[k * D + d];
    const float inv = 1.0f / std::max(std::sqrt(s), 1e-12f);
    for (int64_t d = 0; d < D; ++d) rows[k * D + d] *= inv;
  }
}

const float* VectorQuantizer::forward(const float* z, const Shape5& shape, bool training) {
  const int64_t K = config_.codebook_size, D = config_.dim;
  if (shape.c != D)
    throw InputError("quantizer: input has " + std::to_string(shape.c) + " channels, the codebook " +
                     std::to_string(D));
  shape_ = shape;
  z_ = z;
  const int64_t S = shape.t * shape.h * shape.w, M = shape.n * S;
  rows_.resize(M * D);
  for (int64_t n = 0; n < shape.n; ++n)
    for (int64_t d = 0; d < D; ++d)
      for (int64_t s = 0; s < S; ++s) rows_[(n * S + s) * D + d] = z[(n * D + d) * S + s];
  // u: the vectors the losses compare with codes (normalised for cosine).
  rows_n_ = rows_;
  norms_.assign(M, 1.0f);
  if (config_.cosine) {
    for (int64_t m = 0; m < M; ++m) {
      float s = 0;
      for (int64_t d = 0; d < D; ++d) s += rows_[m * D + d] * rows_[m * D + d];
      norms_[m] = std::max(std::sqrt(s), 1e-12f);
      for (int64_t d = 0; d < D; ++d) rows_n_[m * D + d] = rows_[m * D + d] / norms_[m];
    }
  }
  codebook_rows(cb_);
  cb_norms_.resize(K);
  for (int64_t k = 0; k < K; ++k) {
    float s = 0;
    for (int64_t d = 0; d < D; ++d) s += cb_[k * D + d] * cb_[k * D + d];
    cb_norms_[k] = s;
  }
  scores_.resize(M * K);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, K, D, 1.0f, rows_n_.data(), D, cb_.data(), D, 0.0f,
              scores_.data(), K);
  codes_.resize(M);
  std::vector<int64_t> counts(K, 0);
  double loss = 0;
  zq_.resize(shape.numel());
  for (int64_t m = 0; m < M; ++m) {
    const float* sc = scores_.data() + m * K;
    int64_t best = 0;
    float best_v = config_.cosine ? sc[0] : cb_norms_[0] - 2 * sc[0];
    for (int64_t k = 1; k < K; ++k) {
      const float v = config_.cosine ? sc[k] : cb_norms_[k] - 2 * sc[k];
      if (config_.cosine ? v > best_v : v < best_v) best = k, best_v = v;
    }
    codes_[m] = static_cast<int32_t>(best);
    ++counts[best];
    const float* q = cb_.data() + best * D;
    const int64_t n = m / S, s = m % S;
    for (int64_t d = 0; d < D; ++d) {
      const float diff = q[d] - rows_n_[m * D + d];
      loss += static_cast<double>(diff) * diff;
      zq_[(n * D + d) * S + s] = q[d];
    }
  }
  codebook_loss_ = loss / static_cast<double>(M * D);
  commitment_loss_ = config_.beta * codebook_loss_;
  double ent = 0;
  for (int64_t k = 0; k < K; ++k)
    if (counts[k] > 0) {
      const double p = static_cast<double>(counts[k]) / M;
      ent -= p * std::log(p);
    }
  perplexity_ = std::exp(ent);
  if (training)
    for (int64_t k = 0; k < K; ++k)
      usage_[k] = config_.usage_decay * usage_[k] +
                  (1.0f - config_.usage_decay) * static_cast<float>(counts[k]) / static_cast<float>(M);
  return zq_.data();
}

const float* VectorQuantizer::backward(const float* dz_q, float loss_scale) {
  const int64_t D = config_.dim, S = shape_.t * shape_.h * shape_.w, M = shape_.n * S;
  const float scale = loss_scale * 2.0f / static_cast<float>(M * D);
  dz_.resize(shape_.numel());
  float* dE = store_.grad(codebook_);
  const float* E = store_.param(codebook_);
  std::vector<float> du(D), ge(D);
  for (int64_t m = 0; m < M; ++m) {
    const int64_t n = m / S, s = m % S, code = codes_[m];
    const float* u = rows_n_.data() + m * D;
    const float* q = cb_.data() + code * D;
    for (int64_t d = 0; d < D; ++d) {
      du[d] = dz_q[(n * D + d) * S + s] + config_.beta * scale * (u[d] - q[d]);  // straight-through + commitment
      ge[d] = scale * (q[d] - u[d]);                                             // codebook loss
    }
    if (config_.cosine) {  // through u = z / |z| and q = e / |e|
      float dot = 0;
      for (int64_t d = 0; d < D; ++d) dot += u[d] * du[d];
      for (int64_t d = 0; d < D; ++d) du[d] = (du[d] - u[d] * dot) / norms_[m];
      float e_norm = 0, qdot = 0;
      for (int64_t d = 0; d < D; ++d) e_norm += E[code * D + d] * E[code * D + d], qdot += q[d] * ge[d];
      e_norm = std::max(std::sqrt(e_norm), 1e-12f);
      for (int64_t d = 0; d < D; ++d) ge[d] = (ge[d] - q[d] * qdot) / e_norm;
    }
    for (int64_t d = 0; d < D; ++d) {
      dz_[(n * D + d) * S + s] = du[d];
      dE[code * D + d] += ge[d];
    }
  }
  return dz_.data();
}

void VectorQuantizer::seed_codes(const std::vector<int64_t>& which, std::vector<double> d2) {
  const int64_t D = config_.dim, M = static_cast<int64_t>(codes_.size());
  float* E = store_.param(codebook_);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::normal_distribution<float> noise(0.0f, 1e-3f);  // two codes on one vector would tie forever
  std::vector<double> cumulative(M);
  for (const int64_t k : which) {
    double total = 0;
    bool uniform = false;
    for (int64_t m = 0; m < M; ++m) {
      uniform = uniform || d2[m] < 0;
      total += std::max(d2[m], 0.0);
      cumulative[m] = total;
    }
    int64_t pick;
    if (uniform || total <= 0) {
      pick = std::min<int64_t>(static_cast<int64_t>(unit(rng_) * static_cast<double>(M)), M - 1);
    } else {
      pick = std::upper_bound(cumulative.begin(), cumulative.end(), unit(rng_) * total) - cumulative.begin();
      pick = std::min(pick, M - 1);
    }
    const float* src = rows_n_.data() + pick * D;
    for (int64_t d = 0; d < D; ++d) E[k * D + d] = src[d] + noise(rng_);
    usage_[k] = 1.0f / static_cast<float>(config_.codebook_size);  // a fresh code gets the benefit of the doubt
    for (int64_t m = 0; m < M; ++m) {
      double s = 0;
      for (int64_t d = 0; d < D; ++d) {
        const double diff = static_cast<double>(rows_n_[m * D + d]) - E[k * D + d];
        s += diff * diff;
      }
      d2[m] = d2[m] < 0 ? s : std::min(d2[m], s);
    }
  }
}

std::string VectorQuantizer::rng_state() const {
  std::ostringstream out;
  out << rng_;
  return out.str();
}

void VectorQuantizer::restore(std::vector<float> usage, const std::string& rng, const std::string& where) {
  if (static_cast<int64_t>(usage.size()) != config_.codebook_size)
    throw FormatError(where + ": quantizer usage has " + std::to_string(usage.size()) + " values, the codebook " +
                      std::to_string(config_.codebook_size));
  std::mt19937_64 engine;
  std::istringstream in(rng);
  in >> engine;
  if (!in) throw FormatError(where + ": quantizer random state is not a std::mt19937_64 state");
  usage_ = std::move(usage);
  rng_ = engine;
}

int64_t VectorQuantizer::revive_dead_codes() {
  const int64_t K = config_.codebook_size, D = config_.dim, M = static_cast<int64_t>(codes_.size());
  if (M == 0) return 0;
  const float threshold = config_.dead_fraction / static_cast<float>(K);
  std::vector<int64_t> dead;
  for (int64_t k = 0; k < K; ++k)
    if (usage_[k] < threshold) dead.push_back(k);
  if (dead.empty()) return 0;
  // Distances to the codes the last forward chose (live codes only: a dead code's vectors are
  // the ones that need a new home).
  std::vector<double> d2(M);
  for (int64_t m = 0; m < M; ++m) {
    double s = 0;
    for (int64_t d = 0; d < D; ++d) {
      const double diff = static_cast<double>(rows_n_[m * D + d]) - cb_[codes_[m] * D + d];
      s += diff * diff;
    }
    d2[m] = s;
  }
  seed_codes(dead, std::move(d2));
  return static_cast<int64_t>(dead.size());
}

void VectorQuantizer::seed_all_codes() {
  const int64_t K = config_.codebook_size, M = static_cast<int64_t>(codes_.size());
  if (M == 0) throw InputError("quantizer: seed_all_codes before any forward");
  std::vector<int64_t> all(K);
  for (int64_t k = 0; k < K; ++k) all[k] = k;
  seed_codes(all, std::vector<double>(M, -1.0));
  usage_.assign(K, 1.0f / static_cast<float>(K));
}

void VectorQuantizer::lookup(const int32_t* codes, const Shape5& shape, float* out) const {
  const int64_t D = config_.dim, S = shape.t * shape.h * shape.w;
  if (shape.c != D)
    throw InputError("quantizer lookup: shape has " + std::to_string(shape.c) + " channels, codes " +
                     std::to_string(D));
  std::vector<float> cb;
  codebook_rows(cb);
  for (int64_t n = 0; n < shape.n; ++n)
    for (int64_t s = 0; s < S; ++s) {
      const int32_t c = codes[n * S + s];
      if (c < 0 || c >= config_.codebook_size)
        throw InputError("code " + std::to_string(c) + " outside the codebook [0, " +
                         std::to_string(config_.codebook_size) + ")");
      for (int64_t d = 0; d < D; ++d) out[(n * D + d) * S + s] = cb[c * D + d];
    }
}

int64_t VectorQuantizer::codes_in_use() const {
  const float threshold = config_.dead_fraction / static_cast<float>(config_.codebook_size);
  return std::count_if(usage_.begin(), usage_.end(), [&](float u) { return u >= threshold; });
}

}  // namespace loong::tok
