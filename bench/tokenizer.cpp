// bench/run tokenizer: encode and decode throughput of the default video tokenizer (64x64, 17-frame
// clips -> 5 x 8 x 8 codes) on the CPU threads given. Throughput does not depend on pixel content;
// the clips are moving squares.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <random>

#include "tokenizer/video_tokenizer.h"

using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  CLI::App app{"Video tokenizer benchmark: clips/s encoded and decoded (default config, 64x64, 17 frames)."};
  int64_t batch = 4, reps = 3, frames = 17, threads = 2;
  app.add_option("--batch", batch, "Clips per call")->capture_default_str();
  app.add_option("--reps", reps, "Timed calls")->capture_default_str();
  app.add_option("--frames", frames, "Pixel frames per clip (1 + 4k)")->capture_default_str();
  app.add_option("--threads", threads, "OpenMP threads")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  omp_set_num_threads(static_cast<int>(threads));
  loong::tok::TokenizerConfig cfg;  // defaults: widths 16/32/64, D=16, K=1024
  loong::tok::VideoTokenizer tok(cfg, 1);
  const int64_t r = cfg.resolution;
  std::vector<uint8_t> clips(batch * frames * r * r * 3, 0);
  std::mt19937 rng(1);
  for (auto& p : clips) p = static_cast<uint8_t>(rng() % 2 ? 0 : 255);
  auto codes = tok.encode(clips.data(), batch, frames, r, r);  // warm-up
  const int64_t lf = (frames - 1) / 4 + 1;
  tok.decode(codes.data(), batch, lf, r / 8, r / 8);
  auto t0 = Clock::now();
  for (int64_t i = 0; i < reps; ++i) codes = tok.encode(clips.data(), batch, frames, r, r);
  const double enc = std::chrono::duration<double>(Clock::now() - t0).count();
  t0 = Clock::now();
  for (int64_t i = 0; i < reps; ++i) tok.decode(codes.data(), batch, lf, r / 8, r / 8);
  const double dec = std::chrono::duration<double>(Clock::now() - t0).count();
  const double enc_cps = batch * reps / enc, dec_cps = batch * reps / dec;
  std::printf(
      "tokenizer: %lld parameters, clips of %lld frames at %lldx%lld -> %lld x %lld x %lld codes, batch %lld, %lld "
      "threads\n",
      static_cast<long long>(tok.params().params().size()), static_cast<long long>(frames), static_cast<long long>(r),
      static_cast<long long>(r), static_cast<long long>(lf), static_cast<long long>(r / 8),
      static_cast<long long>(r / 8), static_cast<long long>(batch), static_cast<long long>(threads));
  std::printf("  encode: %.2f clips/s (%.1f frames/s)\n", enc_cps, enc_cps * frames);
  std::printf("  decode: %.2f clips/s (%.1f frames/s)\n", dec_cps, dec_cps * frames);
  std::printf("BENCH encode_clips_per_s %.3f clips/s\n", enc_cps);
  std::printf("BENCH decode_clips_per_s %.3f clips/s\n", dec_cps);
  return 0;
}
