// Element-wise arithmetic shared by the CPU and CUDA kernels. Each function here is the single
// definition of its formula: the CPU loops in ops/cpu/ and the CUDA kernels in ops/cuda/ both call
// it, so the CPU tests (finite differences, PyTorch parity) cover the arithmetic the GPU runs.
#pragma once
#include <cmath>

#if defined(__CUDACC__)
#define LOONG_HD __host__ __device__ __forceinline__
#else
#define LOONG_HD inline
#endif

namespace loong::ops {

LOONG_HD float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

// SwiGLU (Llama MLP): h = silu(gate) * up.
LOONG_HD float swiglu(float gate, float up) { return gate * sigmoid(gate) * up; }
// Gradients of h = silu(gate) * up with respect to gate and up, given dh.
LOONG_HD void swiglu_backward(float gate, float up, float dh, float* dgate, float* dup) {
  float s = sigmoid(gate);
  float silu = gate * s;
  *dup = dh * silu;
  *dgate = dh * up * s * (1.0f + gate * (1.0f - s));
}

// Rotary embedding, rotate-half convention (Hugging Face Llama): element i of the first half
// pairs with element i of the second half.
LOONG_HD void rope_rotate(float x0, float x1, float c, float s, float* y0, float* y1) {
  *y0 = x0 * c - x1 * s;
  *y1 = x1 * c + x0 * s;
}
// The rotation is orthogonal, so its backward is the rotation by -angle.
LOONG_HD void rope_rotate_backward(float dy0, float dy1, float c, float s, float* dx0, float* dx1) {
  *dx0 = dy0 * c + dy1 * s;
  *dx1 = dy1 * c - dy0 * s;
}

// RMSNorm backward for one element: y = x * rstd * w, rstd = (mean(x^2) + eps)^-1/2.
// `mean_gx` is mean over the row of (dy * w * x).
LOONG_HD float rmsnorm_dx(float dy, float w, float x, float rstd, float mean_gx) {
  return rstd * (dy * w - x * rstd * rstd * mean_gx);
}

// Cross-entropy gradient for one logit: scale * (softmax - onehot), softmax = exp(logit - lse).
LOONG_HD float cross_entropy_dlogit(float logit, float lse, bool is_target, float scale) {
  return scale * (expf(logit - lse) - (is_target ? 1.0f : 0.0f));
}

// AdamW for one parameter, in PyTorch's formulation (torch.optim.AdamW, non-amsgrad):
//   p -= lr*wd*p;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
//   p -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps),  bc_i = 1 - b_i^step.
// `g` is the raw gradient already multiplied by the clipping coefficient.
struct AdamWStep {
  float lr, beta1, beta2, eps, weight_decay;
  float bias_correction1, bias_correction2_sqrt;
};
LOONG_HD void adamw_update(float* p, float g, float* m, float* v, const AdamWStep& s, bool decay) {
  if (decay) *p -= s.lr * s.weight_decay * *p;
  *m = s.beta1 * *m + (1.0f - s.beta1) * g;
  *v = s.beta2 * *v + (1.0f - s.beta2) * g * g;
  float denom = sqrtf(*v) / s.bias_correction2_sqrt + s.eps;
  *p -= (s.lr / s.bias_correction1) * (*m / denom);
}

// RMSNorm reciprocal root mean square of a row of `c` elements whose squares sum to `sum_squares`.
LOONG_HD float rmsnorm_rstd(float sum_squares, float c, float eps) { return 1.0f / sqrtf(sum_squares / c + eps); }

// Rotary inverse frequency of pair i: theta^(-2i/head_dim), computed in double then rounded to
// float as Hugging Face's float32 inv_freq; the angle at position p is float(p) * inv_freq.
LOONG_HD float rope_inv_freq(double theta, long long i, long long head_dim) {
  return 1.0f / static_cast<float>(pow(theta, static_cast<double>(2 * i) / static_cast<double>(head_dim)));
}

// Softmax backward for one score: dS = P * (dP - delta), delta = sum_j P_j dP_j = rowsum(dO * O).
LOONG_HD float softmax_dscore(float p, float dp, float delta) { return p * (dp - delta); }

// AdamW constants for the 1-based optimizer step `step` (bias corrections in double, as the CPU).
LOONG_HD AdamWStep adamw_step_constants(float lr, float beta1, float beta2, float eps, float weight_decay,
                                        long long step) {
  return AdamWStep{lr,
                   beta1,
                   beta2,
                   eps,
                   weight_decay,
                   static_cast<float>(1.0 - pow(static_cast<double>(beta1), static_cast<double>(step))),
                   static_cast<float>(sqrt(1.0 - pow(static_cast<double>(beta2), static_cast<double>(step))))};
}

// ---- convolutional models (ops/cpu/conv_ops.h, ops/cuda/conv_ops.h) ----

// SiLU and its gradient: y = x * sigmoid(x); dx = dy * s * (1 + x * (1 - s)).
LOONG_HD float silu(float x) { return x * sigmoid(x); }
LOONG_HD float silu_backward(float x, float dy) {
  float s = sigmoid(x);
  return dy * s * (1.0f + x * (1.0f - s));
}

// GroupNorm: rstd of a group whose biased variance is `var`.
LOONG_HD float groupnorm_rstd(float var, float eps) { return 1.0f / sqrtf(var + eps); }
// GroupNorm input gradient for one element: g = dy * gamma, xhat = (x - mean) * rstd; `mean_g` and
// `mean_gxhat` are the means of g and g * xhat over the group.
LOONG_HD float groupnorm_dx(float g, float xhat, float rstd, float mean_g, float mean_gxhat) {
  return rstd * (g - mean_g - xhat * mean_gxhat);
}

// Convolution index arithmetic along one axis. Output o with kernel tap k reads input
// o * stride - pad + k (outside [0, size) it reads padding). For the temporal axis pad = kt - 1
// (causal: all padding before the first frame).
LOONG_HD long long conv_input_index(long long o, long long k, long long stride, long long pad) {
  return o * stride - pad + k;
}
// The inverse: the output that reads input i through tap k, or -1 when none does (i + pad - k
// negative or not a multiple of the stride). The caller checks the result against the output size.
LOONG_HD long long conv_output_index(long long i, long long k, long long stride, long long pad) {
  long long q = i + pad - k;
  if (q < 0 || q % stride != 0) return -1;
  return q / stride;
}

// Nearest-neighbour upsampling along one axis: output o copies input (o + drop_front) / factor.
LOONG_HD long long upsample_source_index(long long o, long long factor, long long drop_front) {
  return (o + drop_front) / factor;
}

// Space-to-depth (torch's pixel_unshuffle) with factor p: the packed element (n, c_lo, t, y, x),
// c_lo = (c * p + dy) * p + dx, holds the full-resolution element (n, c, t, y*p + dy, x*p + dx).
// Returns that element's offset in the full [N, C, T, H, W] tensor (C, T, H, W full-resolution).
LOONG_HD long long space_to_depth_source(long long n, long long c_lo, long long t, long long y, long long x,
                                         long long c, long long tt, long long h, long long w, long long p) {
  const long long dx = c_lo % p, dy = (c_lo / p) % p, ch = c_lo / (p * p);
  return (((n * c + ch) * tt + t) * h + y * p + dy) * w + x * p + dx;
}

}  // namespace loong::ops
