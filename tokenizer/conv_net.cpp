#include "tokenizer/conv_net.h"

#include <cmath>
#include <random>
#include <set>

#include "core/error.h"
#include "core/memory_budget.h"
#include "core/safetensors.h"
#include "ops/cpu/conv_ops.h"

namespace loong::tok {
namespace cpu = loong::ops::cpu;

namespace {

void resize(std::vector<float>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) != n) v.assign(static_cast<size_t>(n), 0.0f);
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

std::string Shape5::str() const { return shape_str({n, c, t, h, w}); }

// ---- ParamStore ----

int64_t ParamStore::add(const std::string& name, std::vector<int64_t> shape, Init init, int64_t fan_in) {
  if (allocated_) throw ConfigError("ParamStore: tensor " + name + " added after allocate()");
  for (const auto& t : tensors_)
    if (t.name == name) throw ConfigError("ParamStore: duplicate tensor name " + name);
  NamedTensor t;
  t.name = name;
  // Sizes are checked in floating point first: a product of huge dimensions must be refused
  // with its figure, not overflow.
  double n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw ConfigError("ParamStore: tensor " + name + " has a negative dimension");
    n *= static_cast<double>(d);
  }
  require_memory(n * 4 * kCopiesPerParameter, "tensor " + name);
  t.numel = 1;
  for (int64_t d : shape) t.numel *= d;
  t.shape = std::move(shape);
  t.init = init;
  t.fan_in = fan_in;
  tensors_.push_back(std::move(t));
  return static_cast<int64_t>(tensors_.size()) - 1;
}

void ParamStore::allocate() {
  int64_t offset = 0;
  for (auto& t : tensors_) {
    t.offset = offset;
    offset += t.numel;
  }
  require_memory(static_cast<double>(offset) * 4 * kCopiesPerParameter,
                 "the network's " + std::to_string(offset) + " parameters (weights, gradients, optimizer moments)");
  params_.assign(static_cast<size_t>(offset), 0.0f);
  grads_.assign(static_cast<size_t>(offset), 0.0f);
  allocated_ = true;
}

void ParamStore::zero_grad() { std::fill(grads_.begin(), grads_.end(), 0.0f); }

void ParamStore::init_random(uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const auto& t = tensors_[i];
    float* p = param(static_cast<int64_t>(i));
    switch (t.init) {
      case Init::kConvWeight:
      case Init::kConvBias: {
        const float bound = 1.0f / std::sqrt(static_cast<float>(t.fan_in));
        std::uniform_real_distribution<float> u(-bound, bound);
        for (int64_t j = 0; j < t.numel; ++j) p[j] = u(rng);
        break;
      }
      case Init::kOnes:
        std::fill(p, p + t.numel, 1.0f);
        break;
      case Init::kZeros:
        std::fill(p, p + t.numel, 0.0f);
        break;
    }
  }
}

void ParamStore::save(const std::filesystem::path& path, const std::map<std::string, std::string>& metadata) const {
  SafetensorsWriter w;
  for (size_t i = 0; i < tensors_.size(); ++i)
    w.add_f32(tensors_[i].name, tensors_[i].shape, param(static_cast<int64_t>(i)));
  for (const auto& [k, v] : metadata) w.set_metadata(k, v);
  w.write(path);
}

void ParamStore::load(const std::filesystem::path& path) {
  auto file = SafetensorsFile::open(path);
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const auto& t = tensors_[i];
    if (!file.contains(t.name))
      throw FormatError(path.string() + ": tensor " + t.name + " " + shape_str(t.shape) +
                        " is missing (was the file written with another tokenizer config?)");
    file.read_f32(t.name, t.shape, std::span<float>(param(static_cast<int64_t>(i)), static_cast<size_t>(t.numel)));
  }
}

float* Workspace::get(int64_t floats) {
  if (static_cast<int64_t>(buf.size()) < floats) buf.resize(static_cast<size_t>(floats));
  return buf.data();
}

// ---- CausalConv3d ----

CausalConv3d::CausalConv3d(ParamStore& store, const std::string& name, int64_t cin, int64_t cout,
                           std::array<int64_t, 3> kernel, std::array<int64_t, 3> stride, Workspace* ws)
    : Layer(name), store_(store), cin_(cin), cout_(cout), k_(kernel), s_(stride), ws_(ws ? ws : &own_ws_) {
  const int64_t fan_in = cin * kernel[0] * kernel[1] * kernel[2];
  weight_ = store.add(name + ".weight", {cout, cin, kernel[0], kernel[1], kernel[2]}, Init::kConvWeight, fan_in);
  bias_ = store.add(name + ".bias", {cout}, Init::kConvBias, fan_in);
}

namespace {
cpu::Conv3dShape conv_shape(const Shape5& in, int64_t cout, const std::array<int64_t, 3>& k,
                            const std::array<int64_t, 3>& s) {
  return cpu::Conv3dShape{in.n, in.c, cout, in.t, in.h, in.w, k[0], k[1], k[2], s[0], s[1], s[2], k[1] / 2, k[2] / 2};
}
}  // namespace

Shape5 CausalConv3d::out_shape(const Shape5& in) const {
  if (in.c != cin_)
    throw InputError(name_ + ": input " + in.str() + " has " + std::to_string(in.c) + " channels, the layer takes " +
                     std::to_string(cin_));
  const auto s = conv_shape(in, cout_, k_, s_);
  if (in.t < 1 || s.out_h() < 1 || s.out_w() < 1) throw InputError(name_ + ": input " + in.str() + " is too small");
  return {in.n, cout_, s.out_t(), s.out_h(), s.out_w()};
}

const float* CausalConv3d::forward(const float* x, const Shape5& in) {
  const Shape5 o = out_shape(in);
  const auto s = conv_shape(in, cout_, k_, s_);
  x_ = x;
  in_ = in;
  resize(out_, o.numel());
  cpu::conv3d_forward(out_.data(), x, store_.param(weight_), store_.param(bias_),
                      ws_->get(cpu::conv3d_workspace_floats(s)), s);
  return out_.data();
}

const float* CausalConv3d::backward(const float* dy, bool need_dx) {
  const auto s = conv_shape(in_, cout_, k_, s_);
  if (need_dx) resize(dx_, in_.numel());
  cpu::conv3d_backward(need_dx ? dx_.data() : nullptr, store_.grad(weight_), store_.grad(bias_), dy, x_,
                       store_.param(weight_), ws_->get(cpu::conv3d_workspace_floats(s)), s, false);
  return need_dx ? dx_.data() : nullptr;
}

// ---- GroupNorm ----

GroupNorm::GroupNorm(ParamStore& store, const std::string& name, int64_t channels, int64_t groups, float eps,
                     bool per_position)
    : Layer(name), store_(store), c_(channels), groups_(groups), eps_(eps), per_position_(per_position) {
  if (groups < 1 || channels % groups != 0)
    throw ConfigError(name + ": " + std::to_string(groups) + " GroupNorm groups do not divide " +
                      std::to_string(channels) + " channels");
  gamma_ = store.add(name + ".weight", {channels}, Init::kOnes);
  beta_ = store.add(name + ".bias", {channels}, Init::kZeros);
}

Shape5 GroupNorm::out_shape(const Shape5& in) const {
  if (in.c != c_)
    throw InputError(name_ + ": input " + in.str() + " has " + std::to_string(in.c) + " channels, the layer takes " +
                     std::to_string(c_));
  return in;
}

std::array<int64_t, 5> GroupNorm::kernel_shape(const Shape5& in) const {
  // [N, C, T, H, W] is also [N, C, T*H*W, 1]: per-frame statistics of that view are per position.
  if (per_position_) return {in.n, in.c, in.t * in.h * in.w, 1, groups_};
  return {in.n, in.c, in.t, in.h * in.w, groups_};
}

const float* GroupNorm::forward(const float* x, const Shape5& in) {
  out_shape(in);
  x_ = x;
  in_ = in;
  const auto k = kernel_shape(in);
  resize(out_, in.numel());
  resize(mean_, k[0] * k[2] * groups_);
  resize(rstd_, k[0] * k[2] * groups_);
  if (per_position_ && groups_ == 1)  // LayerNorm over channels: the unit-stride kernel
    cpu::channelnorm_forward(out_.data(), mean_.data(), rstd_.data(), x, store_.param(gamma_), store_.param(beta_),
                             {k[0], k[1], k[2]}, eps_);
  else
    cpu::groupnorm_forward(out_.data(), mean_.data(), rstd_.data(), x, store_.param(gamma_), store_.param(beta_),
                           {k[0], k[1], k[2], k[3], k[4]}, eps_);
  return out_.data();
}

const float* GroupNorm::backward(const float* dy, bool need_dx) {
  resize(dx_, in_.numel());  // the kernel computes dx and the parameter grads together
  const auto k = kernel_shape(in_);
  if (per_position_ && groups_ == 1)
    cpu::channelnorm_backward(dx_.data(), store_.grad(gamma_), store_.grad(beta_), dy, x_, store_.param(gamma_),
                              mean_.data(), rstd_.data(), {k[0], k[1], k[2]}, false);
  else
    cpu::groupnorm_backward(dx_.data(), store_.grad(gamma_), store_.grad(beta_), dy, x_, store_.param(gamma_),
                            mean_.data(), rstd_.data(), {k[0], k[1], k[2], k[3], k[4]}, false);
  return need_dx ? dx_.data() : nullptr;
}

// ---- SiLU ----

const float* SiLU::forward(const float* x, const Shape5& in) {
  x_ = x;
  in_ = in;
  resize(out_, in.numel());
  cpu::silu_forward(out_.data(), x, in.numel());
  return out_.data();
}

const float* SiLU::backward(const float* dy, bool need_dx) {
  if (!need_dx) return nullptr;
  resize(dx_, in_.numel());
  cpu::silu_backward(dx_.data(), dy, x_, in_.numel());
  return dx_.data();
}

// ---- Upsample ----

Upsample::Upsample(const std::string& name, bool temporal) : Layer(name), temporal_(temporal) {}

namespace {
cpu::UpsampleShape up_shape(const Shape5& in, bool temporal) {
  return cpu::UpsampleShape{in.n, in.c, in.t, in.h, in.w, temporal ? 2 : 1, 2, 2, temporal ? 1 : 0};
}
}  // namespace

Shape5 Upsample::out_shape(const Shape5& in) const {
  return {in.n, in.c, up_shape(in, temporal_).out_t(), in.h * 2, in.w * 2};
}

const float* Upsample::forward(const float* x, const Shape5& in) {
  in_ = in;
  resize(out_, out_shape(in).numel());
  cpu::upsample_nearest_forward(out_.data(), x, up_shape(in, temporal_));
  return out_.data();
}

const float* Upsample::backward(const float* dy, bool need_dx) {
  if (!need_dx) return nullptr;
  resize(dx_, in_.numel());
  cpu::upsample_nearest_backward(dx_.data(), dy, up_shape(in_, temporal_));
  return dx_.data();
}

// ---- PixelShuffle ----

PixelShuffle::PixelShuffle(const std::string& name, int64_t factor, bool to_packed)
    : Layer(name), p_(factor), to_packed_(to_packed) {}

Shape5 PixelShuffle::out_shape(const Shape5& in) const {
  if (!to_packed_) {
    if (in.c % (p_ * p_) != 0)
      throw InputError(name_ + ": input " + in.str() + " has channels not divisible by " + std::to_string(p_ * p_));
    return {in.n, in.c / (p_ * p_), in.t, in.h * p_, in.w * p_};
  }
  if (in.h % p_ != 0 || in.w % p_ != 0)
    throw InputError(name_ + ": input " + in.str() + " has height or width not divisible by " + std::to_string(p_));
  return {in.n, in.c * p_ * p_, in.t, in.h / p_, in.w / p_};
}

const float* PixelShuffle::forward(const float* x, const Shape5& in) {
  const Shape5 out = out_shape(in);
  in_ = in;
  resize(out_, out.numel());
  if (to_packed_)
    cpu::space_to_depth(out_.data(), x, {in.n, in.c, in.t, in.h, in.w, p_});
  else
    cpu::depth_to_space(out_.data(), x, {out.n, out.c, out.t, out.h, out.w, p_});
  return out_.data();
}

const float* PixelShuffle::backward(const float* dy, bool need_dx) {
  if (!need_dx) return nullptr;
  resize(dx_, in_.numel());
  if (to_packed_)  // the adjoint of a permutation is its inverse
    cpu::depth_to_space(dx_.data(), dy, {in_.n, in_.c, in_.t, in_.h, in_.w, p_});
  else {
    const Shape5 out = out_shape(in_);
    cpu::space_to_depth(dx_.data(), dy, {out.n, out.c, out.t, out.h, out.w, p_});
  }
  return dx_.data();
}

// ---- ResBlock ----

ResBlock::ResBlock(ParamStore& store, const std::string& name, int64_t cin, int64_t cout, int64_t groups, Workspace* ws,
                   int64_t kt, bool per_position_norm, int64_t ks)
    : Layer(name),
      cin_(cin),
      cout_(cout),
      norm1_(store, name + ".norm1", cin, groups, 1e-6f, per_position_norm),
      norm2_(store, name + ".norm2", cout, groups, 1e-6f, per_position_norm),
      act1_(name + ".act1"),
      act2_(name + ".act2"),
      conv1_(store, name + ".conv1", cin, cout, {kt, ks, ks}, {1, 1, 1}, ws),
      conv2_(store, name + ".conv2", cout, cout, {kt, ks, ks}, {1, 1, 1}, ws) {
  if (cin != cout)
    shortcut_ = std::make_unique<CausalConv3d>(store, name + ".nin_shortcut", cin, cout,
                                               std::array<int64_t, 3>{1, 1, 1}, std::array<int64_t, 3>{1, 1, 1}, ws);
}

Shape5 ResBlock::out_shape(const Shape5& in) const { return conv2_.out_shape(conv1_.out_shape(norm1_.out_shape(in))); }

const float* ResBlock::forward(const float* x, const Shape5& in) {
  const Shape5 o = out_shape(in);
  x_ = x;
  in_ = in;
  const float* h = norm1_.forward(x, in);
  h = act1_.forward(h, in);
  h = conv1_.forward(h, in);
  h = norm2_.forward(h, o);
  h = act2_.forward(h, o);
  h = conv2_.forward(h, o);
  const float* skip = shortcut_ ? shortcut_->forward(x, in) : x;
  resize(out_, o.numel());
  const int64_t n = o.numel();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) out_[i] = h[i] + skip[i];
  return out_.data();
}

const float* ResBlock::backward(const float* dy, bool need_dx) {
  const float* g = conv2_.backward(dy);
  g = act2_.backward(g);
  g = norm2_.backward(g);
  g = conv1_.backward(g);
  g = act1_.backward(g);
  g = norm1_.backward(g);
  const float* gskip = shortcut_ ? shortcut_->backward(dy, need_dx) : dy;
  if (!need_dx) return nullptr;
  resize(dx_, in_.numel());
  const int64_t n = in_.numel();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) dx_[i] = g[i] + gskip[i];
  return dx_.data();
}

// ---- Sequential ----

Shape5 Sequential::out_shape(const Shape5& in) const {
  Shape5 s = in;
  for (const auto& l : layers_) s = l->out_shape(s);
  return s;
}

const float* Sequential::forward(const float* x, const Shape5& in) {
  Shape5 s = in;
  for (const auto& l : layers_) {
    x = l->forward(x, s);
    s = l->out_shape(s);
  }
  return x;
}

const float* Sequential::backward(const float* dy, bool need_dx) {
  for (size_t i = layers_.size(); i-- > 0;) dy = layers_[i]->backward(dy, need_dx || i > 0);
  return dy;
}

// ---- config ----

void ConvNetConfig::validate() const {
  auto bad = [](const std::string& what) { throw ConfigError("tokenizer network: " + what); };
  if (in_channels < 1) bad("in_channels must be >= 1");
  if (patch < 1 || patch > 8) bad("patch must be 1 to 8");
  if (block_temporal_kernel != 1 && block_temporal_kernel != 3) bad("block_temporal_kernel must be 1 or 3");
  if (latent_channels < 1) bad("latent_channels must be >= 1");
  if (channels.empty() || channels.size() > 6) bad("channels must list 1 to 6 level widths");
  if (temporal_down.size() != channels.size())
    bad("temporal_down has " + std::to_string(temporal_down.size()) + " entries, channels " +
        std::to_string(channels.size()) + " (one per level)");
  if (res_blocks < 0) bad("res_blocks must be >= 0");
  if (mid_blocks < 0 || mid_blocks > 8) bad("mid_blocks must be 0 to 8");
  if (groups < 1) bad("groups must be >= 1");
  if (encoder_field == Field::Cell && encoder_norm != Norm::Position)
    bad("encoder_field = \"cell\" needs encoder_norm = \"position\" (GroupNorm mixes the whole frame into each code)");
  constexpr int64_t kMaxWidth = int64_t{1} << 16;
  if (latent_channels > kMaxWidth) bad("latent_channels = " + std::to_string(latent_channels) + " is above 65536");
  for (int64_t c : channels)
    if (c > kMaxWidth) bad("channel width " + std::to_string(c) + " is above 65536");
  for (int64_t c : channels)
    if (c < 1 || c % groups != 0)
      bad("channel width " + std::to_string(c) + " is not a positive multiple of groups = " + std::to_string(groups));
}

int64_t ConvNetConfig::temporal_factor() const {
  int64_t f = 1;
  for (bool d : temporal_down) f *= d ? 2 : 1;
  return f;
}

Shape5 ConvNetConfig::latent_shape(const Shape5& clip) const {
  const int64_t tf = temporal_factor(), sf = spatial_factor();
  if (clip.n < 1 || clip.c != in_channels || clip.t < 1 || (clip.t - 1) % tf != 0 || clip.h < sf || clip.h % sf != 0 ||
      clip.w < sf || clip.w % sf != 0)
    throw InputError("tokenizer: clip " + clip.str() + " does not fit the network: it takes [N, " +
                     std::to_string(in_channels) + ", 1 + " + std::to_string(tf) +
                     "k, H, W] with H and W multiples of " + std::to_string(sf));
  return {clip.n, latent_channels, (clip.t - 1) / tf + 1, clip.h / sf, clip.w / sf};
}

// ---- Encoder ----

namespace {
// "mid.block" for the first (the name tokenizers saved before mid_blocks existed use), then
// "mid.block.1", "mid.block.2", ...
std::string mid_block_name(int64_t m) { return m == 0 ? "mid.block" : "mid.block." + std::to_string(m); }
}  // namespace

Encoder::Encoder(ParamStore& store, const ConvNetConfig& config, const std::string& prefix)
    : config_(config), net_(prefix.empty() ? "encoder" : prefix.substr(0, prefix.size() - 1)) {
  config.validate();
  const auto& ch = config.channels;
  const int64_t levels = static_cast<int64_t>(ch.size());
  const int64_t packed = config.in_channels * config.patch * config.patch;
  if (config.patch > 1) net_.append(std::make_unique<PixelShuffle>(prefix + "space_to_depth", config.patch, true));
  // Cell field: 1x1 in space everywhere, downsampling by space-to-depth (see encoder_field).
  const bool cell = config.encoder_field == ConvNetConfig::Field::Cell;
  const int64_t ks = cell ? 1 : 3;
  const std::array<int64_t, 3> block_kernel{config.block_temporal_kernel, ks, ks};
  // Per-position norms normalise all channels of a position together (LayerNorm); see encoder_norm.
  const bool local = config.encoder_norm == ConvNetConfig::Norm::Position;
  const int64_t groups = local ? 1 : config.groups;
  net_.append(std::make_unique<CausalConv3d>(store, prefix + "conv_in", packed, ch[0], block_kernel,
                                             std::array<int64_t, 3>{1, 1, 1}, &ws_));
  int64_t c = ch[0];
  for (int64_t i = 0; i < levels; ++i) {
    const std::string level = prefix + "down." + std::to_string(i);
    for (int64_t j = 0; j < config.res_blocks; ++j) {
      net_.append(
          std::make_unique<ResBlock>(store, level + ".block." + std::to_string(j), c, ch[i], groups, &ws_,
                                     config.block_temporal_kernel, local, ks));
      c = ch[i];
    }
    const int64_t st = config.temporal_down[i] ? 2 : 1;
    if (cell) {
      // A 2x2 stride-2 convolution without overlap: pack 2x2 blocks into channels, then mix them.
      net_.append(std::make_unique<PixelShuffle>(level + ".space_to_depth", 2, true));
      net_.append(std::make_unique<CausalConv3d>(store, level + ".downsample", 4 * c, ch[i],
                                                 std::array<int64_t, 3>{3, 1, 1}, std::array<int64_t, 3>{st, 1, 1},
                                                 &ws_));
    } else {
      net_.append(std::make_unique<CausalConv3d>(store, level + ".downsample", c, ch[i],
                                                 std::array<int64_t, 3>{3, 3, 3}, std::array<int64_t, 3>{st, 2, 2},
                                                 &ws_));
    }
    c = ch[i];
  }
  for (int64_t m = 0; m < config.mid_blocks; ++m)
    net_.append(std::make_unique<ResBlock>(store, prefix + mid_block_name(m), c, c, groups, &ws_,
                                           config.block_temporal_kernel, local, ks));
  net_.append(std::make_unique<GroupNorm>(store, prefix + "norm_out", c, groups, 1e-6f, local));
  net_.append(std::make_unique<SiLU>(prefix + "act_out"));
  net_.append(std::make_unique<CausalConv3d>(store, prefix + "conv_out", c, config.latent_channels, block_kernel,
                                             std::array<int64_t, 3>{1, 1, 1}, &ws_));
}

const float* Encoder::forward(const float* pixels, const Shape5& clip) {
  config_.latent_shape(clip);  // a clear error before any layer runs
  return net_.forward(pixels, clip);
}

const float* Encoder::backward(const float* d_latents, bool need_dx) { return net_.backward(d_latents, need_dx); }

// ---- Decoder ----

Decoder::Decoder(ParamStore& store, const ConvNetConfig& config, const std::string& prefix)
    : config_(config), net_(prefix.empty() ? "decoder" : prefix.substr(0, prefix.size() - 1)) {
  config.validate();
  const auto& ch = config.channels;
  const int64_t levels = static_cast<int64_t>(ch.size());
  int64_t c = ch[levels - 1];
  const std::array<int64_t, 3> block_kernel{config.block_temporal_kernel, 3, 3};
  net_.append(std::make_unique<CausalConv3d>(store, prefix + "conv_in", config.latent_channels, c, block_kernel,
                                             std::array<int64_t, 3>{1, 1, 1}, &ws_));
  for (int64_t m = 0; m < config.mid_blocks; ++m)
    net_.append(std::make_unique<ResBlock>(store, prefix + mid_block_name(m), c, c, config.groups, &ws_,
                                           config.block_temporal_kernel));
  for (int64_t i = levels - 1; i >= 0; --i) {
    const std::string level = prefix + "up." + std::to_string(i);
    for (int64_t j = 0; j < config.res_blocks; ++j) {
      net_.append(
          std::make_unique<ResBlock>(store, level + ".block." + std::to_string(j), c, ch[i], config.groups, &ws_,
                                           config.block_temporal_kernel));
      c = ch[i];
    }
    net_.append(std::make_unique<Upsample>(level + ".upsample", config.temporal_down[i]));
    net_.append(std::make_unique<CausalConv3d>(store, level + ".upsample.conv", c, ch[i],
                                               std::array<int64_t, 3>{3, 3, 3}, std::array<int64_t, 3>{1, 1, 1}, &ws_));
    c = ch[i];
  }
  net_.append(std::make_unique<GroupNorm>(store, prefix + "norm_out", c, config.groups));
  net_.append(std::make_unique<SiLU>(prefix + "act_out"));
  net_.append(std::make_unique<CausalConv3d>(store, prefix + "conv_out", c,
                                             config.in_channels * config.patch * config.patch, block_kernel,
                                             std::array<int64_t, 3>{1, 1, 1}, &ws_));
  if (config.patch > 1) net_.append(std::make_unique<PixelShuffle>(prefix + "depth_to_space", config.patch, false));
}

Shape5 Decoder::out_shape(const Shape5& latents) const {
  if (latents.n < 1 || latents.c != config_.latent_channels || latents.t < 1 || latents.h < 1 || latents.w < 1)
    throw InputError("tokenizer decoder: latents " + latents.str() + " do not fit the network: it takes [N, " +
                     std::to_string(config_.latent_channels) + ", T, h, w]");
  return {latents.n, config_.in_channels, (latents.t - 1) * config_.temporal_factor() + 1,
          latents.h * config_.spatial_factor(), latents.w * config_.spatial_factor()};
}

const float* Decoder::forward(const float* latents, const Shape5& shape) {
  out_shape(shape);
  return net_.forward(latents, shape);
}

const float* Decoder::backward(const float* d_pixels, bool need_dx) { return net_.backward(d_pixels, need_dx); }

}  // namespace loong::tok
