// CPU kernels of convolutional video models (the tokenizer's causal 3D-CNN), forward and backward.
//
// Layout: every activation is float32, row-major, contiguous [N, C, T, H, W] (batch, channels,
// time, height, width), as torch.nn.Conv3d. Conventions are those of ops/cpu/ops.h:
// - Backward kernels ACCUMULATE (+=) into parameter gradients (weights, biases, gammas, betas);
//   each says whether it overwrites or accumulates the input gradient.
// - Kernels do not validate shapes; the layers (tokenizer/conv_net.h) do, once, and throw.
// - Kernels allocate nothing; callers own every buffer, including the convolution workspace
//   whose size conv3d_workspace_floats() gives.
// Element-wise formulas (SiLU, the GroupNorm gradient) live in ops/elementwise.h, shared with the
// CUDA twins in ops/cuda/conv_ops.h.
#pragma once
#include <cstdint>

namespace loong::ops::cpu {

// ---- causal 3D convolution ----
// x [N, Cin, T, H, W], weight [Cout, Cin, kt, kh, kw] (torch.nn.Conv3d layout), bias [Cout] (may be
// null), out [N, Cout, To, Ho, Wo].
//
// Padding: zeros. Spatially `ph` rows above AND below, `pw` columns left AND right. Temporally
// CAUSAL: kt-1 zero frames BEFORE the first frame and none after. Hence
//   To = (T - 1) / st + 1,  Ho = (H + 2 ph - kh) / sh + 1,  Wo = (W + 2 pw - kw) / sw + 1
// and output frame j reads input frames j*st - (kt-1) + dt for dt in [0, kt), i.e. exactly the
// frames in [max(0, j*st - kt + 1), j*st]: never a frame after j*st. Output frame 0 reads input
// frame 0 only (for any kt, st). In PyTorch terms: F.conv3d(F.pad(x, (pw, pw, ph, ph, kt-1, 0)),
// weight, bias, stride=(st, sh, sw)).
//
// Example (the tokenizer's temporal downsampling): kt = 3, st = 2 maps 1 + 2m frames to 1 + m;
// output frame 0 = f(frame 0), output frame j >= 1 = f(frames 2j-2, 2j-1, 2j). Two such layers map
// 1 + 4k frames to 1 + k, latent frame 0 seeing pixel frame 0 alone and latent j frames <= 4j.
struct Conv3dShape {
  int64_t n, cin, cout, t, h, w;
  int64_t kt, kh, kw;
  int64_t st = 1, sh = 1, sw = 1;
  int64_t ph = 0, pw = 0;
  int64_t out_t() const { return (t - 1) / st + 1; }
  int64_t out_h() const { return (h + 2 * ph - kh) / sh + 1; }
  int64_t out_w() const { return (w + 2 * pw - kw) / sw + 1; }
  // True for a 1x1x1, stride-1, unpadded convolution: a per-position matrix product that needs
  // no im2col (and no workspace).
  bool pointwise() const {
    return kt == 1 && kh == 1 && kw == 1 && st == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0;
  }
};

// The convolution is computed per batch item and per chunk of output frames as one GEMM:
// col [Cin*kt*kh*kw, frames*Ho*Wo] (vol2col of the receptive fields) times the weight matrix.
// Output frames per chunk: as many as fit in about 4M floats of workspace (at least one).
int64_t conv3d_chunk_frames(const Conv3dShape& s);
// Floats of one column buffer (one chunk of one batch item; 0 for a pointwise convolution).
int64_t conv3d_column_floats(const Conv3dShape& s);
// Threads that take whole batch items: min(N, OpenMP threads) for a non-pointwise convolution
// with N >= 2 called outside a parallel region, else 1.
int64_t conv3d_batch_workers(const Conv3dShape& s);
// Floats of workspace conv3d_forward / conv3d_backward need at the current OpenMP thread count:
// a column buffer per worker, plus a Cout x K weight-gradient partial per worker when several.
int64_t conv3d_workspace_floats(const Conv3dShape& s);

// out = conv(x, weight) + bias (overwrites out).
void conv3d_forward(float* out, const float* x, const float* weight, const float* bias, float* workspace,
                    const Conv3dShape& s);
// dweight += d/dweight, dbias += d/dbias (dbias may be null: no bias). dx = d/dx (overwritten, or
// += when accumulate_dx; dx may be null: input gradient not needed).
void conv3d_backward(float* dx, float* dweight, float* dbias, const float* dout, const float* x, const float* weight,
                     float* workspace, const Conv3dShape& s, bool accumulate_dx);

// ---- GroupNorm ----
// x viewed as [N, C, T, S] (S = H*W): statistics are taken per (n, t, group) over the C/groups
// channels of the group and the S positions of frame t, so each frame is normalised on its own
// (a frame never sees another frame: required for a causal video model). Passing t = 1 and
// S = T*H*W gives torch.nn.GroupNorm over the whole clip instead.
//   out = (x - mean) * rstd * gamma[c] + beta[c],  rstd = 1 / sqrt(var + eps) (biased variance).
// mean, rstd [N, T, groups] are saved for backward. gamma/beta may be null (no affine: 1 and 0).
struct GroupNormShape {
  int64_t n, c, t, s, groups;
};
void groupnorm_forward(float* out, float* mean, float* rstd, const float* x, const float* gamma, const float* beta,
                       const GroupNormShape& s, float eps);
// dgamma += ..., dbeta += ... (both null when not affine); dx = d/dx (overwritten, or += when
// accumulate_dx).
void groupnorm_backward(float* dx, float* dgamma, float* dbeta, const float* dout, const float* x, const float* gamma,
                        const float* mean, const float* rstd, const GroupNormShape& s, bool accumulate_dx);

// ---- LayerNorm over channels, per position ----
// x [N, C, P] (P positions, e.g. T*H*W of a [N, C, T, H, W] tensor): each (n, p) is normalised over
// its C channels alone, out = (x - mean) * rstd * gamma[c] + beta[c] (biased variance). The same
// arithmetic as groupnorm_* with groups = 1 on a [N, C, P, 1] view (that is the reference the
// tests compare with), laid out for unit-stride loops. mean, rstd [N, P] are saved for backward.
struct ChannelNormShape {
  int64_t n, c, p;
};
void channelnorm_forward(float* out, float* mean, float* rstd, const float* x, const float* gamma, const float* beta,
                         const ChannelNormShape& s, float eps);
void channelnorm_backward(float* dx, float* dgamma, float* dbeta, const float* dout, const float* x, const float* gamma,
                          const float* mean, const float* rstd, const ChannelNormShape& s, bool accumulate_dx);

// ---- nearest-neighbour upsampling (2D when ft = 1, 3D otherwise) ----
// x [N, C, T, H, W] -> out [N, C, T*ft - drop_front, H*fh, W*fw]:
//   out[n, c, t, y, x'] = x[n, c, (t + drop_front) / ft, y / fh, x' / fw].
// drop_front (< ft) removes the first output frames, which keeps a causal clip causal: with
// ft = 2, drop_front = 1, 1 + k frames become 1 + 2k, output frame 0 is a copy of input frame 0
// alone and input frame j >= 1 fills output frames 2j-1 and 2j (as MAGVIT-v2's decoder).
struct UpsampleShape {
  int64_t n, c, t, h, w;
  int64_t ft = 1, fh = 2, fw = 2;
  int64_t drop_front = 0;
  int64_t out_t() const { return t * ft - drop_front; }
};
void upsample_nearest_forward(float* out, const float* x, const UpsampleShape& s);
// dx[i] = sum of dout over the output positions copying input i (overwritten).
void upsample_nearest_backward(float* dx, const float* dout, const UpsampleShape& s);

// ---- space-to-depth / depth-to-space (per frame; torch's pixel_unshuffle / pixel_shuffle) ----
// full [N, C, T, H, W] <-> packed [N, C*p*p, T, H/p, W/p] with
//   packed[n, (c*p + dy)*p + dx, t, y, x] = full[n, c, t, y*p + dy, x*p + dx].
// A permutation: each is the other's inverse and adjoint, so the backward of one is the forward
// of the other. H and W must be multiples of p (the layer checks). Outputs are overwritten.
struct PixelShuffleShape {
  int64_t n, c, t, h, w;  // the full-resolution side
  int64_t p = 2;
};
void space_to_depth(float* packed, const float* full, const PixelShuffleShape& s);
void depth_to_space(float* full, const float* packed, const PixelShuffleShape& s);

// ---- SiLU ----
// out = x * sigmoid(x) on n elements (out may alias x).
void silu_forward(float* out, const float* x, int64_t n);
// dx = dout * silu'(x) (overwritten; dx may alias dout).
void silu_backward(float* dx, const float* dout, const float* x, int64_t n);

}  // namespace loong::ops::cpu
