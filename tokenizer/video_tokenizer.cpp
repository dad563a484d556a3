#include "tokenizer/video_tokenizer.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "core/checksum.h"
#include "core/error.h"
#include "core/finite.h"
#include "core/fs.h"
#include "core/json_fields.h"
#include "core/safetensors.h"
#include "dataloader/corpus.h"
#include "ops/cpu/ops.h"

namespace loong::tok {

nlohmann::json TokenizerConfig::to_json() const {
  return {{"resolution", resolution},
          {"in_channels", net.in_channels},
          {"patch", net.patch},
          {"block_temporal_kernel", net.block_temporal_kernel},
          {"channels", net.channels},
          {"temporal_down", net.temporal_down},
          {"latent_channels", net.latent_channels},
          {"res_blocks", net.res_blocks},
          {"mid_blocks", net.mid_blocks},
          {"groups", net.groups},
          {"encoder_norm", net.encoder_norm == ConvNetConfig::Norm::Position ? "position" : "group"},
          {"encoder_field", net.encoder_field == ConvNetConfig::Field::Cell ? "cell" : "wide"},
          {"codebook_size", quantizer.codebook_size},
          {"distance", quantizer.cosine ? "cosine" : "l2"},
          {"beta", quantizer.beta},
          {"usage_decay", quantizer.usage_decay},
          {"dead_fraction", quantizer.dead_fraction}};
}

TokenizerConfig TokenizerConfig::from_json(const nlohmann::json& j, const std::string& source) {
  TokenizerConfig c;
  try {
    c.resolution = j.at("resolution").get<int64_t>();
    c.net.in_channels = j.at("in_channels").get<int64_t>();
    // absent in tokenizers saved before they existed
    c.net.patch = j.value("patch", int64_t{1});
    c.net.block_temporal_kernel = j.value("block_temporal_kernel", int64_t{3});
    c.net.mid_blocks = j.value("mid_blocks", int64_t{1});
    const std::string norm = j.value("encoder_norm", std::string("group"));
    if (norm != "group" && norm != "position")
      throw FormatError(source + ": encoder_norm must be \"group\" or \"position\", got \"" + norm + "\"");
    c.net.encoder_norm = norm == "position" ? ConvNetConfig::Norm::Position : ConvNetConfig::Norm::Group;
    const std::string field = j.value("encoder_field", std::string("wide"));
    if (field != "wide" && field != "cell")
      throw FormatError(source + ": encoder_field must be \"wide\" or \"cell\", got \"" + field + "\"");
    c.net.encoder_field = field == "cell" ? ConvNetConfig::Field::Cell : ConvNetConfig::Field::Wide;
    c.net.channels = j.at("channels").get<std::vector<int64_t>>();
    c.net.temporal_down = j.at("temporal_down").get<std::vector<bool>>();
    c.net.latent_channels = j.at("latent_channels").get<int64_t>();
    c.net.res_blocks = j.at("res_blocks").get<int64_t>();
    c.net.groups = j.at("groups").get<int64_t>();
    c.quantizer.codebook_size = j.at("codebook_size").get<int64_t>();
    const std::string d = j.at("distance").get<std::string>();
    if (d != "cosine" && d != "l2")
      throw ConfigError(source + ": distance = \"" + d + "\": expected \"l2\" or \"cosine\"");
    c.quantizer.cosine = d == "cosine";
    c.quantizer.beta = j.at("beta").get<float>();
    c.quantizer.usage_decay = j.at("usage_decay").get<float>();
    c.quantizer.dead_fraction = j.at("dead_fraction").get<float>();
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(source + ": " + e.what());
  }
  c.quantizer.dim = c.net.latent_channels;
  c.validate(source);
  return c;
}

void TokenizerConfig::validate(const std::string& source) const {
  try {
    net.validate();
  } catch (const ConfigError& e) {
    throw ConfigError(source + ": " + e.what());
  }
  if (net.spatial_factor() != 8 || net.temporal_factor() != 4)
    throw ConfigError(source + ": the network compresses x" + std::to_string(net.spatial_factor()) + " in space and x" +
                      std::to_string(net.temporal_factor()) +
                      " in time; video tokens need x8 and x4 (patch * 2^levels = 8, two temporal halvings)");
  // Video-token ids share the model's int32 vocabulary with the text ids.
  if (quantizer.codebook_size < 2 || quantizer.codebook_size > (int64_t{1} << 20))
    throw ConfigError(source + ": codebook_size = " + std::to_string(quantizer.codebook_size) +
                      " is outside [2, 1048576]");
  if (resolution < 8 || resolution > 8192)
    throw ConfigError(source + ": resolution " + std::to_string(resolution) + " is outside [8, 8192]");
  if (resolution % 8 != 0)
    throw ConfigError(source + ": resolution " + std::to_string(resolution) + " is not a multiple of 8");
}

VideoTokenizer::VideoTokenizer(const TokenizerConfig& config, uint64_t seed)
    : config_(config),
      encoder_(store_, config_.net),
      quantizer_(store_,
                 [&] {
                   QuantizerConfig q = config.quantizer;
                   q.dim = config.net.latent_channels;
                   return q;
                 }()),
      decoder_(store_, config_.net) {
  config_.quantizer.dim = config_.net.latent_channels;
  store_.allocate();
  store_.init_random(seed);
  m_.assign(store_.params().size(), 0.0f);
  v_.assign(store_.params().size(), 0.0f);
}

Shape5 VideoTokenizer::latent_shape(int64_t n, int64_t frames, int64_t h, int64_t w) const {
  if (h != config_.resolution || w != config_.resolution)
    throw InputError("clips of " + std::to_string(h) + "x" + std::to_string(w) +
                     " pixels, the tokenizer was built for " + std::to_string(config_.resolution) + "x" +
                     std::to_string(config_.resolution));
  return config_.net.latent_shape({n, config_.net.in_channels, frames, h, w});
}

void VideoTokenizer::to_float(const uint8_t* clips, const Shape5& s) {
  x_.resize(s.numel());
  const int64_t HW = s.h * s.w;
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t t = 0; t < s.t; ++t)
      for (int64_t p = 0; p < HW; ++p)
        for (int64_t c = 0; c < 3; ++c)
          x_[((n * 3 + c) * s.t + t) * HW + p] = clips[((n * s.t + t) * HW + p) * 3 + c] / 127.5f - 1.0f;
}

namespace {
std::vector<uint8_t> to_uint8(const float* x, const Shape5& s) {
  std::vector<uint8_t> out(s.numel());
  const int64_t HW = s.h * s.w;
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t t = 0; t < s.t; ++t)
      for (int64_t p = 0; p < HW; ++p)
        for (int64_t c = 0; c < 3; ++c) {
          const float v = (x[((n * 3 + c) * s.t + t) * HW + p] + 1.0f) * 127.5f;
          out[((n * s.t + t) * HW + p) * 3 + c] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
        }
  return out;
}
}  // namespace

std::vector<int32_t> VideoTokenizer::encode(const uint8_t* clips, int64_t n, int64_t frames, int64_t h, int64_t w) {
  const Shape5 lat = latent_shape(n, frames, h, w);
  const Shape5 px{n, 3, frames, h, w};
  to_float(clips, px);
  const float* z = encoder_.forward(x_.data(), px);
  quantizer_.forward(z, lat, false);
  return {quantizer_.codes().begin(), quantizer_.codes().end()};
}

std::vector<uint8_t> VideoTokenizer::decode(const int32_t* codes, int64_t n, int64_t latent_frames, int64_t h,
                                            int64_t w) {
  const Shape5 lat{n, config_.net.latent_channels, latent_frames, h, w};
  std::vector<float> zq(lat.numel());
  quantizer_.lookup(codes, lat, zq.data());
  const float* px = decoder_.forward(zq.data(), lat);
  return to_uint8(px, decoder_.out_shape(lat));
}

std::vector<uint8_t> VideoTokenizer::reconstruct(const uint8_t* clips, int64_t n, int64_t frames, int64_t h,
                                                 int64_t w) {
  const Shape5 lat = latent_shape(n, frames, h, w);
  const Shape5 px{n, 3, frames, h, w};
  to_float(clips, px);
  const float* zq = quantizer_.forward(encoder_.forward(x_.data(), px), lat, false);
  return to_uint8(decoder_.forward(zq, lat), px);
}

TokenizerLosses VideoTokenizer::train_step(const uint8_t* clips, int64_t n, int64_t frames, int64_t h, int64_t w,
                                           const TokenizerOptim& opt, float lr) {
  const Shape5 lat = latent_shape(n, frames, h, w);
  const Shape5 px{n, 3, frames, h, w};
  to_float(clips, px);
  store_.zero_grad();
  const float* z = encoder_.forward(x_.data(), px);
  if (step_ == 0 && opt.seed_codebook) {
    quantizer_.forward(z, lat, false);
    quantizer_.seed_all_codes();
  }
  const float* zq = quantizer_.forward(z, lat, true);
  const float* xr = decoder_.forward(zq, lat);
  TokenizerLosses L;
  const int64_t P = px.numel();
  dx_.resize(P);
  double l1 = 0, l2 = 0;
  for (int64_t i = 0; i < P; ++i) {
    const float d = xr[i] - x_[i];
    l1 += std::fabs(d), l2 += static_cast<double>(d) * d;
    dx_[i] = (opt.l1_weight * static_cast<float>((d > 0) - (d < 0)) + opt.l2_weight * 2.0f * d) / static_cast<float>(P);
  }
  L.l1 = l1 / P, L.l2 = l2 / P;
  L.codebook = quantizer_.codebook_loss(), L.commitment = quantizer_.commitment_loss();
  L.perplexity = quantizer_.batch_perplexity();
  const float* d_zq = decoder_.backward(dx_.data(), true);
  const float* dz = quantizer_.backward(d_zq);
  encoder_.backward(dz, false);

  auto grads = store_.grads();
  auto params = store_.params();
  const double norm = std::sqrt(ops::cpu::sum_squares(grads.data(), static_cast<int64_t>(grads.size())));
  const float clip =
      opt.max_grad_norm > 0 && norm > opt.max_grad_norm ? static_cast<float>(opt.max_grad_norm / (norm + 1e-6)) : 1.0f;
  ++step_;
  const ops::cpu::AdamWHyper hyper{lr, opt.beta1, opt.beta2, opt.eps, opt.weight_decay};
  if (std::isfinite(norm))
    ops::cpu::adamw_step(params.data(), grads.data(), m_.data(), v_.data(), static_cast<int64_t>(params.size()), hyper,
                         step_, clip, opt.weight_decay > 0);
  if (opt.revive_every > 0 && step_ % opt.revive_every == 0) L.revived = quantizer_.revive_dead_codes();
  L.codes_in_use = quantizer_.codes_in_use();
  return L;
}

std::string VideoTokenizer::fingerprint() const {
  const auto p = store_.params();
  return hex64(fnv1a64(std::string_view(reinterpret_cast<const char*>(p.data()), p.size() * sizeof(float))));
}

void VideoTokenizer::save(const std::filesystem::path& dir) const {
  const std::string where = "tokenizer " + dir.string();
  if (const int64_t bad = count_non_finite(store_.params()); bad > 0)
    throw DivergedError("refusing to save " + where + ": its weights hold " + std::to_string(bad) +
                        " non-finite values (NaN or Inf): training diverged");
  prepare_output_directory(dir, where);
  finish_interrupted_save(dir);
  // Every file of one step is written into a staging directory and committed as a set.
  const std::filesystem::path staging = begin_directory_atomic(dir / kStagingDir);
  store_.save(staging / "tokenizer.safetensors", {{"step", std::to_string(step_)}});
  SafetensorsWriter w;
  for (const auto& t : store_.tensors()) {
    w.add_f32("exp_avg." + t.name, t.shape, m_.data() + t.offset);
    w.add_f32("exp_avg_sq." + t.name, t.shape, v_.data() + t.offset);
  }
  w.add_f32("quantizer.usage", {config_.quantizer.codebook_size}, quantizer_.usage().data());
  w.set_metadata("quantizer.rng", quantizer_.rng_state());
  w.write(staging / "tokenizer_optimizer.safetensors");
  nlohmann::json j = {{"config", config_.to_json()}, {"steps", step_}};
  write_file_atomic(staging / "tokenizer.json", j.dump(2) + "\n");
  nlohmann::json sums = nlohmann::json::object();
  for (const char* f : kSavedFiles) sums[f] = std::to_string(file_checksum(staging / f));
  write_file_atomic(staging / "checksums.json", sums.dump(2) + "\n");
  // The commit point: the staging directory becomes the (complete) pending save in one rename.
  commit_directory_atomic(dir / kStagingDir);  // dir/.save -> complete with DONE
  finish_interrupted_save(dir);
}

void VideoTokenizer::finish_interrupted_save(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path pending = dir / kStagingDir;
  fs::path partial = pending;
  partial += ".tmp";
  fs::remove_all(partial, ec);  // an uncommitted save: the previous files are still whole
  if (!fs::exists(pending / "DONE", ec)) {
    fs::remove_all(pending, ec);
    return;
  }
  // A committed save whose files were not all moved into place yet: roll it forward.
  for (const char* f : {"tokenizer.safetensors", "tokenizer_optimizer.safetensors", "tokenizer.json", "checksums.json"}) {
    if (!fs::exists(pending / f, ec)) continue;  // moved before the interruption
    fs::rename(pending / f, dir / f, ec);
    if (ec) throw IoError("tokenizer " + dir.string() + ": cannot finish an interrupted save (" + f + "): " + ec.message());
  }
  fsync_directory(dir);
  fs::remove_all(pending, ec);
}

namespace {
nlohmann::json read_saved_json(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  require_input_directory(dir, "tokenizer");
  std::error_code ec;
  if (fs::exists(dir / VideoTokenizer::kStagingDir / "DONE", ec)) {
    // An interrupted save: finish it if we may write here, otherwise say what to do.
    if (::access(dir.c_str(), W_OK) != 0)
      throw IoError("tokenizer " + dir.string() + " holds an interrupted save; run `loong tokenizer train` with --out " +
                    dir.string() + " (or any command as a user who may write there) to finish it");
    VideoTokenizer::finish_interrupted_save(dir);
  }
  const auto path = dir / "tokenizer.json";
  if (!fs::exists(path, ec))
    throw InputError("tokenizer " + dir.string() + " holds no tokenizer.json (a `loong tokenizer train` output)");
  // Every file of the save must be the one checksums.json records: a directory mixing two steps
  // (or a damaged file) is refused instead of being used silently.
  const auto sums_path = dir / "checksums.json";
  if (fs::exists(sums_path, ec)) {
    const nlohmann::json sums = read_json_file(sums_path);
    const JsonField root(sums, sums_path.string());
    for (const char* f : VideoTokenizer::kSavedFiles) {
      const std::string want = root.at(f).as_string();
      if (!fs::exists(dir / f, ec)) throw FormatError("tokenizer " + dir.string() + ": " + f + " is missing");
      if (std::to_string(file_checksum(dir / f)) != want)
        throw FormatError("tokenizer " + dir.string() + ": " + f + " does not match checksums.json (a damaged file, "
                          "or files from different saves)");
    }
  } else {
    spdlog::warn("tokenizer {} has no checksums.json (saved by an older version): its files are not verified",
                 dir.string());
  }
  const nlohmann::json j = read_json_file(path);
  JsonField(j, path.string()).at("config").object();
  return j;
}
}  // namespace

VideoTokenizer::VideoTokenizer(const std::filesystem::path& dir) : VideoTokenizer(read_saved_json(dir), dir) {}

VideoTokenizer::VideoTokenizer(const nlohmann::json& j, const std::filesystem::path& dir)
    : VideoTokenizer(TokenizerConfig::from_json(j["config"], (dir / "tokenizer.json").string())) {
  store_.load(dir / "tokenizer.safetensors");
  if (const int64_t bad = count_non_finite(store_.params()); bad > 0)
    throw FormatError((dir / "tokenizer.safetensors").string() + ": " + std::to_string(bad) +
                      " non-finite weights (NaN or Inf): it comes from a diverged run");
  step_ = JsonField(j, (dir / "tokenizer.json").string()).int_or("steps", 0, 0);
  const auto opt_path = dir / "tokenizer_optimizer.safetensors";
  if (std::filesystem::exists(opt_path)) {
    auto f = SafetensorsFile::open(opt_path);
    for (const auto& nt : store_.tensors()) {
      f.read_f32("exp_avg." + nt.name, nt.shape, std::span<float>(m_.data() + nt.offset, nt.numel));
      f.read_f32("exp_avg_sq." + nt.name, nt.shape, std::span<float>(v_.data() + nt.offset, nt.numel));
    }
    // The quantizer's revival state, so that a resumed run revives codes as an uninterrupted one
    // (saves without it, from before it was saved, resume with a fresh one).
    const auto rng = f.metadata().find("quantizer.rng");
    if (f.contains("quantizer.usage") && rng != f.metadata().end()) {
      std::vector<float> usage(static_cast<size_t>(config_.quantizer.codebook_size));
      f.read_f32("quantizer.usage", {config_.quantizer.codebook_size}, usage);
      quantizer_.restore(std::move(usage), rng->second, opt_path.string());
    }
  }
}

double psnr(const uint8_t* a, const uint8_t* b, int64_t n) {
  double se = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    se += d * d;
  }
  const double mse = se / static_cast<double>(n);
  return mse == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

double ssim(const uint8_t* a, const uint8_t* b, int64_t frames, int64_t h, int64_t w) {
  const double C1 = 6.5025, C2 = 58.5225;  // (0.01*255)^2, (0.03*255)^2
  constexpr int64_t kWin = 8, kStride = 4;
  double total = 0;
  int64_t count = 0;
  auto luma = [](const uint8_t* p) { return 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]; };
  for (int64_t f = 0; f < frames; ++f)
    for (int64_t y0 = 0; y0 + kWin <= h; y0 += kStride)
      for (int64_t x0 = 0; x0 + kWin <= w; x0 += kStride) {
        double ma = 0, mb = 0, va = 0, vb = 0, cov = 0;
        for (int64_t y = y0; y < y0 + kWin; ++y)
          for (int64_t x = x0; x < x0 + kWin; ++x) {
            const double pa = luma(a + ((f * h + y) * w + x) * 3), pb = luma(b + ((f * h + y) * w + x) * 3);
            ma += pa, mb += pb, va += pa * pa, vb += pb * pb, cov += pa * pb;
          }
        const double n = kWin * kWin;
        ma /= n, mb /= n;
        va = va / n - ma * ma, vb = vb / n - mb * mb, cov = cov / n - ma * mb;
        total += ((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
        ++count;
      }
  return count ? total / count : 1.0;
}

}  // namespace loong::tok
