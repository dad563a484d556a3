// The causal 3D-CNN of the video tokenizer: layers with forward/backward on the CPU kernels of
// ops/cpu/conv_ops.h, and the encoder / decoder built from them.
//
// Activations are float32 [N, C, T, H, W] (batch, channels, time, height, width), contiguous.
//
// Causality: every layer lets output frame t depend on input frames <= t (convolutions pad only
// before the first frame, GroupNorm normalises each frame on its own, strided and upsampling
// layers map frames as documented in ops/cpu/conv_ops.h). So the encoder's latent frame j depends
// on pixel frames <= 4j (latent frame 0 on pixel frame 0 alone), and the decoder's pixel frame p on
// latent frames <= ceil(p / 4).
//
// Parameters of all layers live in one ParamStore (one flat float buffer for the values, one for
// the gradients, named tensors as views), so the encoder, a quantizer's codebook and the decoder
// can share one optimizer loop and one safetensors file.
//
// Layer contract: forward(x, shape) reads x, which must stay alive and unchanged until the
// matching backward, and returns its output (owned by the layer, valid until its next forward).
// backward(dy) takes d(loss)/d(output) of the last forward, ACCUMULATES parameter gradients in the
// store, and returns d(loss)/d(input) (owned by the layer, overwritten by the next backward), or
// null when need_dx is false. Buffers are resized only when the input shape changes.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace loong::tok {

struct Shape5 {
  int64_t n = 0, c = 0, t = 0, h = 0, w = 0;
  int64_t numel() const { return n * c * t * h * w; }
  bool operator==(const Shape5&) const = default;
  std::string str() const;  // "[N, C, T, H, W]"
};

// ---- parameters ----
enum class Init { kConvWeight, kConvBias, kOnes, kZeros };

struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset = 0, numel = 0;
  Init init = Init::kZeros;
  int64_t fan_in = 1;  // for kConvWeight / kConvBias
};

class ParamStore {
 public:
  // Registers a tensor (before allocate()); returns its index. Names must be unique (ConfigError).
  int64_t add(const std::string& name, std::vector<int64_t> shape, Init init, int64_t fan_in = 1);
  // Float copies a trained parameter needs (weight, gradient, two AdamW moments), for the memory
  // check add() and allocate() make before allocating.
  static constexpr double kCopiesPerParameter = 4;
  // Lays out every registered tensor in the flat buffers (zeros). No add() after this.
  void allocate();
  bool allocated() const { return allocated_; }

  const std::vector<NamedTensor>& tensors() const { return tensors_; }
  const NamedTensor& tensor(int64_t i) const { return tensors_.at(static_cast<size_t>(i)); }
  float* param(int64_t i) { return params_.data() + tensors_[static_cast<size_t>(i)].offset; }
  const float* param(int64_t i) const { return params_.data() + tensors_[static_cast<size_t>(i)].offset; }
  float* grad(int64_t i) { return grads_.data() + tensors_[static_cast<size_t>(i)].offset; }
  std::span<float> params() { return params_; }
  std::span<const float> params() const { return params_; }
  std::span<float> grads() { return grads_; }
  std::span<const float> grads() const { return grads_; }
  void zero_grad();

  // PyTorch's default Conv3d initialisation: weights and biases uniform in +-1/sqrt(fan_in);
  // GroupNorm gains 1, offsets 0. Deterministic in `seed`.
  void init_random(uint64_t seed);

  // Writes every tensor (F32) with `metadata` to a safetensors file (atomically).
  void save(const std::filesystem::path& path, const std::map<std::string, std::string>& metadata = {}) const;
  // Reads every registered tensor from `path`. FormatError naming the file and tensor when one is
  // missing or has another shape (e.g. a tokenizer saved with another config); tensors of the
  // file that this store does not register are ignored.
  void load(const std::filesystem::path& path);

 private:
  std::vector<NamedTensor> tensors_;
  std::vector<float> params_, grads_;
  bool allocated_ = false;
};

// Scratch memory shared by the convolutions of a network (the vol2col workspace).
struct Workspace {
  std::vector<float> buf;
  float* get(int64_t floats);
};

// ---- layers ----
class Layer {
 public:
  virtual ~Layer() = default;
  // Output shape for input `in`; InputError naming the layer when `in` does not fit it.
  virtual Shape5 out_shape(const Shape5& in) const = 0;
  virtual const float* forward(const float* x, const Shape5& in) = 0;
  virtual const float* backward(const float* dy, bool need_dx = true) = 0;
  const std::string& name() const { return name_; }

 protected:
  explicit Layer(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

// Convolution with causal temporal padding (kt - 1 frames before), "same" spatial zero padding
// (kh/2, kw/2) and stride; bias. Tensors <name>.weight [Cout, Cin, kt, kh, kw], <name>.bias [Cout].
class CausalConv3d : public Layer {
 public:
  CausalConv3d(ParamStore& store, const std::string& name, int64_t cin, int64_t cout, std::array<int64_t, 3> kernel,
               std::array<int64_t, 3> stride = {1, 1, 1}, Workspace* ws = nullptr);
  Shape5 out_shape(const Shape5& in) const override;
  const float* forward(const float* x, const Shape5& in) override;
  const float* backward(const float* dy, bool need_dx = true) override;

 private:
  ParamStore& store_;
  int64_t cin_, cout_, weight_, bias_;
  std::array<int64_t, 3> k_, s_;
  Workspace own_ws_;
  Workspace* ws_;
  const float* x_ = nullptr;
  Shape5 in_{};
  std::vector<float> out_, dx_;
};

// GroupNorm with per-frame statistics (see ops/cpu/conv_ops.h) and affine gamma/beta:
// <name>.weight [C], <name>.bias [C]. With per_position the statistics are taken over each group's
// channels at each (frame, y, x) alone (groups = 1: LayerNorm over channels, ConvNeXt's
// LayerNorm2d): the output at a position then depends on that position's input only, so a network
// built from such norms and convolutions stays local (see ConvNetConfig::encoder_norm).
class GroupNorm : public Layer {
 public:
  GroupNorm(ParamStore& store, const std::string& name, int64_t channels, int64_t groups, float eps = 1e-6f,
            bool per_position = false);
  Shape5 out_shape(const Shape5& in) const override;
  const float* forward(const float* x, const Shape5& in) override;
  const float* backward(const float* dy, bool need_dx = true) override;

 private:
  ParamStore& store_;
  int64_t c_, groups_, gamma_, beta_;
  float eps_;
  bool per_position_;
  const float* x_ = nullptr;
  Shape5 in_{};
  std::vector<float> out_, dx_, mean_, rstd_;
  // The kernel's {N, C, frames, pixels per frame, groups}: per position, every pixel is a "frame".
  std::array<int64_t, 5> kernel_shape(const Shape5& in) const;
};

class SiLU : public Layer {
 public:
  explicit SiLU(const std::string& name) : Layer(name) {}
  Shape5 out_shape(const Shape5& in) const override { return in; }
  const float* forward(const float* x, const Shape5& in) override;
  const float* backward(const float* dy, bool need_dx = true) override;

 private:
  const float* x_ = nullptr;
  Shape5 in_{};
  std::vector<float> out_, dx_;
};

// Nearest-neighbour upsampling by (ft, 2, 2); with ft = 2 the first output frame is dropped
// (1 + k frames -> 1 + 2k, frame 0 stays alone), with ft = 1 frames are kept as they are.
class Upsample : public Layer {
 public:
  Upsample(const std::string& name, bool temporal);
  Shape5 out_shape(const Shape5& in) const override;
  const float* forward(const float* x, const Shape5& in) override;
  const float* backward(const float* dy, bool need_dx = true) override;

 private:
  bool temporal_;
  Shape5 in_{};
  std::vector<float> out_, dx_;
};

// Space-to-depth (packed = true: [N, C, T, H, W] -> [N, C*p*p, T, H/p, W/p], torch's
// pixel_unshuffle per frame) or depth-to-space (packed = false, the inverse). No parameters.
class PixelShuffle : public Layer {
 public:
  PixelShuffle(const std::string& name, int64_t factor, bool to_packed);
  Shape5 out_shape(const Shape5& in) const override;
  const float* forward(const float* x, const Shape5& in) override;
  const float* backward(const float* dy, bool need_dx = true) override;

 private:
  int64_t p_;
  bool to_packed_;
  Shape5 in_{};
  std::vector<float> out_, dx_;
};

// GN -> SiLU -> conv kt x ks x ks -> GN -> SiLU -> conv kt x ks x ks, plus the input (through a
// 1x1x1 convolution <name>.nin_shortcut when Cin != Cout). Sub-layers <name>.norm1, .conv1, .norm2,
// .conv2. kt = 1 makes the block per-frame (2D); ks = 1 makes it per-position in space.
class ResBlock : public Layer {
 public:
  ResBlock(ParamStore& store, const std::string& name, int64_t cin, int64_t cout, int64_t groups, Workspace* ws,
           int64_t kt = 3, bool per_position_norm = false, int64_t ks = 3);
  Shape5 out_shape(const Shape5& in) const override;
  const float* forward(const float* x, const Shape5& in) override;
  const float* backward(const float* dy, bool need_dx = true) override;

 private:
  int64_t cin_, cout_;
  GroupNorm norm1_, norm2_;
  SiLU act1_, act2_;
  CausalConv3d conv1_, conv2_;
  std::unique_ptr<CausalConv3d> shortcut_;
  const float* x_ = nullptr;
  Shape5 in_{};
  std::vector<float> out_, dx_;
};

// Layers applied in order.
class Sequential : public Layer {
 public:
  explicit Sequential(const std::string& name) : Layer(name) {}
  void append(std::unique_ptr<Layer> layer) { layers_.push_back(std::move(layer)); }
  Shape5 out_shape(const Shape5& in) const override;
  const float* forward(const float* x, const Shape5& in) override;
  const float* backward(const float* dy, bool need_dx = true) override;
  const std::vector<std::unique_ptr<Layer>>& layers() const { return layers_; }

 private:
  std::vector<std::unique_ptr<Layer>> layers_;
};

// ---- encoder / decoder ----
// Sizes of the autoencoder. With patch = p > 1 the encoder first packs p x p pixel blocks into
// channels (space-to-depth) and the decoder unpacks its output (depth-to-space), so no
// convolution runs at full resolution. Level i works at width channels[i]; each level halves
// height and width once (3 levels, or patch 2 and 2 levels, downsample x8), and halves time
// (causally) when temporal_down[i].
struct ConvNetConfig {
  int64_t in_channels = 3;  // RGB
  int64_t patch = 1;        // p: pixel blocks packed into channels before the first convolution
  // Temporal kernel of every convolution except the resampling ones (down.<i>.downsample,
  // up.<i>.upsample.conv, always 3): 3 = full 3D network; 1 = frames mix only where time is
  // resampled, so a latent frame sees a bounded window of pixel frames (4j-6 .. 4j) and windows
  // of 9 frames train every layer in its steady state. It also costs 3x less in the res blocks.
  int64_t block_temporal_kernel = 3;
  std::vector<int64_t> channels = {16, 32, 64};
  std::vector<bool> temporal_down = {true, true, false};  // 2 halvings: 1 + 4k frames -> 1 + k
  int64_t latent_channels = 16;                           // D: the vectors a quantizer sees
  int64_t res_blocks = 1;                                 // per level
  // Residual blocks at the latent resolution (h/8 x w/8) in the encoder and in the decoder: depth
  // where it is cheapest (1/64 of the pixels, 1/4 of the frames).
  int64_t mid_blocks = 1;
  int64_t groups = 8;                                     // GroupNorm groups (must divide every width)
  // Normalisation in the encoder: Group (GroupNorm, statistics over each whole frame) or Position
  // (LayerNorm over channels at each position). GroupNorm couples every latent to the whole frame's
  // statistics, so identical content (an empty background cell) gets latents that vary with what
  // else is in the frame, and the quantizer spreads it over many codes; Position keeps each latent
  // a function of its receptive field only. The decoder always uses GroupNorm.
  enum class Norm { Group, Position } encoder_norm = Norm::Group;
  // Spatial receptive field of the encoder. Wide: 3x3 convolutions at every level and a 3x3x3
  // stride-2 downsampling, so a code sees far beyond its cell (~44 px each side with the demo's
  // sizes, docs/quality.md section 7) and an empty cell's code changes when the digit moves
  // nearby. Cell: every encoder convolution is 1x1 in space and each downsampling is a
  // space-to-depth by 2 followed by a 1x1 (temporal 3) convolution, so a code is a function of its
  // own spatial_factor() x spatial_factor() pixel cell alone (over the frames it covers); needs
  // encoder_norm = Position. The decoder keeps its 3x3 context either way.
  enum class Field { Wide, Cell } encoder_field = Field::Wide;
  // ConfigError naming the field when a value is out of range or inconsistent.
  void validate() const;
  int64_t spatial_factor() const { return patch << channels.size(); }
  int64_t temporal_factor() const;  // 2^(number of temporal halvings)
  // Latent shape of a clip, or InputError naming the clip shape when it does not fit: frames must
  // be 1 + temporal_factor*k, height and width multiples of spatial_factor.
  Shape5 latent_shape(const Shape5& clip) const;
};

// Pixels [N, in_channels, 1 + 4k, H, W] -> latents [N, latent_channels, 1 + k, H/8, W/8] (with the
// default config): [space-to-depth], conv_in, per level res blocks then a strided causal conv
// (down.<i>), a mid res block, GN -> SiLU -> conv_out. Tensor names start with `prefix` (e.g. "encoder.").
class Encoder {
 public:
  Encoder(ParamStore& store, const ConvNetConfig& config, const std::string& prefix = "encoder.");
  Shape5 out_shape(const Shape5& clip) const { return config_.latent_shape(clip); }
  // InputError naming the shape when the clip does not fit the config.
  const float* forward(const float* pixels, const Shape5& clip);
  // Accumulates parameter gradients from d(loss)/d(latents); returns d(loss)/d(pixels) when need_dx.
  const float* backward(const float* d_latents, bool need_dx = false);

 private:
  ConvNetConfig config_;
  Workspace ws_;
  Sequential net_;
};

// The mirror: latents [N, latent_channels, 1 + k, h, w] -> pixels [N, in_channels, 1 + 4k, 8h, 8w]:
// conv_in, a mid res block, per level (deepest first) res blocks then nearest upsampling and a
// causal conv (up.<i>), GN -> SiLU -> conv_out [-> depth-to-space].
class Decoder {
 public:
  Decoder(ParamStore& store, const ConvNetConfig& config, const std::string& prefix = "decoder.");
  Shape5 out_shape(const Shape5& latents) const;
  const float* forward(const float* latents, const Shape5& shape);
  // Accumulates parameter gradients from d(loss)/d(pixels); returns d(loss)/d(latents).
  const float* backward(const float* d_pixels, bool need_dx = true);

 private:
  ConvNetConfig config_;
  Workspace ws_;
  Sequential net_;
};

}  // namespace loong::tok
