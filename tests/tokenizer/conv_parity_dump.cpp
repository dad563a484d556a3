// Produces what the PyTorch parity check (conv_parity.py) compares against, for a small causal
// encoder + decoder (tokenizer/conv_net.h) with the decoder fed the encoder output directly:
//   <dir>/config.json           the network config
//   <dir>/init.safetensors      the initial parameters (random, seeded; random GroupNorm affines)
//   <dir>/data.safetensors      clip, the loss weights r_latent / r_pixels, our latents and
//                               reconstruction, d(loss)/d(clip), and grad.<name> for every parameter,
// for loss = sum(latents * r_latent) + sum(decoder(latents) * r_pixels).
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "core/safetensors.h"
#include "tokenizer/conv_net.h"

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) {
    std::fprintf(stderr, "usage: %s OUT_DIR [PATCH]\n", argv[0]);
    return 2;
  }
  namespace fs = std::filesystem;
  using loong::tok::Shape5;
  const fs::path dir = argv[1];
  fs::create_directories(dir);

  loong::tok::ConvNetConfig cfg;
  cfg.in_channels = 3;
  cfg.channels = {8, 16, 16};  // level 1 widens: a ResBlock with a 1x1x1 shortcut
  cfg.temporal_down = {true, true, false};
  // PATCH "2p": patch 2 with the encoder's per-position norms (LayerNorm over channels); "2c" adds the
  // cell-local encoder (encoder_field = Cell).
  const std::string variant = argc == 3 ? argv[2] : "1";
  if (variant != "1") {                              // space-to-depth in, depth-to-space out, two levels,
    cfg.patch = std::stoll(variant);                 // 2D res blocks (time mixes in the resampling convs)
    if (variant.back() == 'p' || variant.back() == 'c') cfg.encoder_norm = loong::tok::ConvNetConfig::Norm::Position;
    if (variant.back() == 'c') cfg.encoder_field = loong::tok::ConvNetConfig::Field::Cell;
    cfg.block_temporal_kernel = 1;
    cfg.mid_blocks = 2;
    cfg.channels = {8, 16};
    cfg.temporal_down = {true, true};
  }
  cfg.latent_channels = 8;
  cfg.res_blocks = 1;
  cfg.groups = 4;
  const Shape5 clip{2, 3, 9, 16, 16};  // 1 + 4*2 frames -> 3 latent frames of 2x2

  loong::tok::ParamStore store;
  loong::tok::Encoder enc(store, cfg);
  loong::tok::Decoder dec(store, cfg);
  store.allocate();
  store.init_random(1234);
  std::mt19937 rng(77);
  std::uniform_real_distribution<float> gain(0.5f, 1.5f), offset(-0.3f, 0.3f);
  for (size_t i = 0; i < store.tensors().size(); ++i) {
    const auto& t = store.tensors()[i];
    if (t.init == loong::tok::Init::kOnes || t.init == loong::tok::Init::kZeros) {
      float* p = store.param(static_cast<int64_t>(i));
      for (int64_t j = 0; j < t.numel; ++j) p[j] = t.init == loong::tok::Init::kOnes ? gain(rng) : offset(rng);
    }
  }
  store.save(dir / "init.safetensors");

  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> pixels(clip.numel());
  for (auto& v : pixels) v = nd(rng);
  const Shape5 ls = enc.out_shape(clip);
  const Shape5 ps = dec.out_shape(ls);
  std::vector<float> r_latent(ls.numel()), r_pixels(ps.numel());
  for (auto& v : r_latent) v = nd(rng);
  for (auto& v : r_pixels) v = nd(rng);

  store.zero_grad();
  const float* lat = enc.forward(pixels.data(), clip);
  std::vector<float> latents(lat, lat + ls.numel());
  const float* rec = dec.forward(latents.data(), ls);
  std::vector<float> recon(rec, rec + ps.numel());
  const float* d_lat = dec.backward(r_pixels.data(), true);
  std::vector<float> d_latents(ls.numel());
  for (int64_t i = 0; i < ls.numel(); ++i) d_latents[i] = d_lat[i] + r_latent[i];
  const float* d_pix = enc.backward(d_latents.data(), true);
  std::vector<float> d_pixels(d_pix, d_pix + clip.numel());

  loong::SafetensorsWriter w;
  w.add_f32("clip", {clip.n, clip.c, clip.t, clip.h, clip.w}, pixels.data());
  w.add_f32("r_latent", {ls.n, ls.c, ls.t, ls.h, ls.w}, r_latent.data());
  w.add_f32("r_pixels", {ps.n, ps.c, ps.t, ps.h, ps.w}, r_pixels.data());
  w.add_f32("latents", {ls.n, ls.c, ls.t, ls.h, ls.w}, latents.data());
  w.add_f32("recon", {ps.n, ps.c, ps.t, ps.h, ps.w}, recon.data());
  w.add_f32("d_clip", {clip.n, clip.c, clip.t, clip.h, clip.w}, d_pixels.data());
  std::vector<std::string> names;
  for (size_t i = 0; i < store.tensors().size(); ++i) names.push_back("grad." + store.tensors()[i].name);
  for (size_t i = 0; i < store.tensors().size(); ++i)
    w.add_f32(names[i], store.tensors()[i].shape, store.grad(static_cast<int64_t>(i)));
  w.write(dir / "data.safetensors");

  nlohmann::json j;
  j["in_channels"] = cfg.in_channels;
  j["patch"] = cfg.patch;
  j["mid_blocks"] = cfg.mid_blocks;
  j["channels"] = cfg.channels;
  j["temporal_down"] = cfg.temporal_down;
  j["latent_channels"] = cfg.latent_channels;
  j["res_blocks"] = cfg.res_blocks;
  j["groups"] = cfg.groups;
  j["groupnorm_eps"] = 1e-6;
  j["encoder_norm"] = cfg.encoder_norm == loong::tok::ConvNetConfig::Norm::Position ? "position" : "group";
  j["encoder_field"] = cfg.encoder_field == loong::tok::ConvNetConfig::Field::Cell ? "cell" : "wide";
  std::ofstream(dir / "config.json") << j.dump(2) << "\n";
  std::printf("wrote %s: %zu parameter tensors, %zu floats; latents %s, recon %s\n", dir.c_str(),
              store.tensors().size(), store.params().size(), ls.str().c_str(), ps.str().c_str());
  return 0;
}
