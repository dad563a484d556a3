// CUDA twins of the convolutional CPU kernels (ops/cpu/conv_ops.h): causal 3D convolution,
// per-frame GroupNorm, nearest upsampling, SiLU. Activations [N, C, T, H, W] float32.
//
// Same shapes (the very structs of the CPU header), same padding and causality, same
// accumulate/overwrite rules; read ops/cpu/conv_ops.h for the meaning of each kernel. As in
// ops/cuda/ops.h: every pointer is a device pointer, every call takes a CudaContext and is
// asynchronous on ctx.stream, GEMMs run on cuBLAS, failures throw loong::CudaError, and the
// arithmetic (SiLU, GroupNorm gradient, convolution and upsampling index maps) is the LOONG_HD
// functions of ops/elementwise.h shared with the CPU.
// Unlike some kernels of ops/cuda/ops.h these use no atomics: col2vol and the upsampling backward
// gather per input element, and the bias / gamma / beta gradients reduce one channel per block, so
// results are deterministic from run to run.
//
// This header is plain C++: it compiles with g++.
#pragma once
#include <cstdint>

#include "ops/cpu/conv_ops.h"
#include "ops/cuda/ops.h"

namespace loong::ops::cuda {

using Conv3dShape = loong::ops::cpu::Conv3dShape;
using GroupNormShape = loong::ops::cpu::GroupNormShape;
using UpsampleShape = loong::ops::cpu::UpsampleShape;
using PixelShuffleShape = loong::ops::cpu::PixelShuffleShape;

// ---- causal 3D convolution (vol2col kernel + cuBLAS GEMM per batch item and frame chunk) ----
// Floats of device workspace conv3d_forward / conv3d_backward need (0 for pointwise); the same
// chunking as the CPU.
int64_t conv3d_workspace_floats(const Conv3dShape& s);
// out = conv(x, weight) + bias (overwrites out; bias may be null).
void conv3d_forward(const CudaContext& ctx, float* out, const float* x, const float* weight, const float* bias,
                    float* workspace, const Conv3dShape& s);
// dweight += ..., dbias += ... (may be null); dx overwritten, or += when accumulate_dx (may be null).
void conv3d_backward(const CudaContext& ctx, float* dx, float* dweight, float* dbias, const float* dout, const float* x,
                     const float* weight, float* workspace, const Conv3dShape& s, bool accumulate_dx);

// ---- GroupNorm, statistics per (n, t, group); mean, rstd [N, T, groups] ----
void groupnorm_forward(const CudaContext& ctx, float* out, float* mean, float* rstd, const float* x, const float* gamma,
                       const float* beta, const GroupNormShape& s, float eps);
void groupnorm_backward(const CudaContext& ctx, float* dx, float* dgamma, float* dbeta, const float* dout,
                        const float* x, const float* gamma, const float* mean, const float* rstd,
                        const GroupNormShape& s, bool accumulate_dx);

// ---- nearest-neighbour upsampling ----
void upsample_nearest_forward(const CudaContext& ctx, float* out, const float* x, const UpsampleShape& s);
// Overwrites dx.
void upsample_nearest_backward(const CudaContext& ctx, float* dx, const float* dout, const UpsampleShape& s);

// ---- space-to-depth / depth-to-space (layouts as the CPU kernels; outputs overwritten) ----
void space_to_depth(const CudaContext& ctx, float* packed, const float* full, const PixelShuffleShape& s);
void depth_to_space(const CudaContext& ctx, float* full, const float* packed, const PixelShuffleShape& s);

// ---- SiLU ----
void silu_forward(const CudaContext& ctx, float* out, const float* x, int64_t n);
// Overwrites dx (may alias dout).
void silu_backward(const CudaContext& ctx, float* dx, const float* dout, const float* x, int64_t n);

}  // namespace loong::ops::cuda
