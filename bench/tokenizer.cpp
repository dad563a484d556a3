// bench/run tokenizer: encode and decode throughput of two video tokenizer networks on the same
// clips and threads, measured in one run: the library default (full 3D convolutions at full
// resolution, widths 16/32/64) and the network of a TOML job file (default: the demo's
// configs/tokenizer_mnist.toml: 2x2 pixel blocks packed into channels, frames mixed only in the
// resampling convolutions). 64x64 clips of 17 frames -> 5 x 8 x 8 codes. Throughput does not
// depend on pixel content; the clips are random binary pixels.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <random>

#include "core/error.h"
#include "tokenizer/tokenizer_config_toml.h"
#include "tokenizer/video_tokenizer.h"

using Clock = std::chrono::steady_clock;

namespace {

struct Throughput {
  double encode = 0, decode = 0;  // clips/s
  size_t params = 0;
};

Throughput measure(const loong::tok::TokenizerConfig& cfg, int64_t batch, int64_t frames, int64_t reps) {
  loong::tok::VideoTokenizer tok(cfg, 1);
  const int64_t r = cfg.resolution, lf = (frames - 1) / 4 + 1;
  std::vector<uint8_t> clips(batch * frames * r * r * 3, 0);
  std::mt19937 rng(1);
  for (auto& p : clips) p = static_cast<uint8_t>(rng() % 2 ? 0 : 255);
  auto codes = tok.encode(clips.data(), batch, frames, r, r);  // warm-up
  tok.decode(codes.data(), batch, lf, r / 8, r / 8);
  auto t0 = Clock::now();
  for (int64_t i = 0; i < reps; ++i) codes = tok.encode(clips.data(), batch, frames, r, r);
  const double enc = std::chrono::duration<double>(Clock::now() - t0).count();
  t0 = Clock::now();
  for (int64_t i = 0; i < reps; ++i) tok.decode(codes.data(), batch, lf, r / 8, r / 8);
  const double dec = std::chrono::duration<double>(Clock::now() - t0).count();
  return {batch * reps / enc, batch * reps / dec, tok.params().params().size()};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Video tokenizer benchmark: clips/s encoded and decoded by the default network and by the network of a "
      "TOML config (64x64, 17 frames), in one run."};
  int64_t batch = 4, reps = 3, frames = 17, threads = 2;
  std::string config = LOONG_DEMO_TOKENIZER_CONFIG;
  app.add_option("--config", config, "TOML job file whose [tokenizer] network is compared")->capture_default_str();
  app.add_option("--batch", batch, "Clips per call")->capture_default_str();
  app.add_option("--reps", reps, "Timed calls")->capture_default_str();
  app.add_option("--frames", frames, "Pixel frames per clip (1 + 4k)")->capture_default_str();
  app.add_option("--threads", threads, "OpenMP threads")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  omp_set_num_threads(static_cast<int>(threads));
  try {
    loong::tok::TokenizerConfig base;  // library defaults: 3D everywhere, widths 16/32/64, D=16, K=1024
    const auto demo = loong::tok::tokenizer_config_from_toml(loong::TomlConfig::parse_file(config), base.resolution);
    std::printf("clips of %lld frames at %lldx%lld -> %lld x 8 x 8 codes, batch %lld, %lld threads\n",
                static_cast<long long>(frames), static_cast<long long>(base.resolution),
                static_cast<long long>(base.resolution), static_cast<long long>((frames - 1) / 4 + 1),
                static_cast<long long>(batch), static_cast<long long>(threads));
    const Throughput a = measure(base, batch, frames, reps);
    const Throughput b = measure(demo, batch, frames, reps);
    std::printf("  default network (%zu parameters): encode %.2f clips/s, decode %.2f clips/s\n", a.params, a.encode,
                a.decode);
    std::printf("  %s (%zu parameters): encode %.2f clips/s, decode %.2f clips/s\n", config.c_str(), b.params, b.encode,
                b.decode);
    std::printf("  config / default: encode %.2fx, decode %.2fx\n", b.encode / a.encode, b.decode / a.decode);
    std::printf("BENCH encode_clips_per_s %.3f clips/s\n", b.encode);
    std::printf("BENCH decode_clips_per_s %.3f clips/s\n", b.decode);
    std::printf("BENCH default_encode_clips_per_s %.3f clips/s\n", a.encode);
    std::printf("BENCH default_decode_clips_per_s %.3f clips/s\n", a.decode);
  } catch (const loong::Error& e) {
    std::fprintf(stderr, "bench_tokenizer: %s\n", e.what());
    return 2;
  }
  return 0;
}
