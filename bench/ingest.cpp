// bench/run ingest [--count N] [--threads T]: ingest frames/s on a Moving-MNIST set against the
// ffmpeg CLI decoding the same files to raw RGB at the same size (T processes at a time, the
// same parallelism as the ingest), and CorpusReader random 17-frame window reads per second.
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <random>

#include "dataloader/corpus.h"
#include "dataloader/ingest.h"
#include "dataloader/moving_mnist.h"

namespace fs = std::filesystem;
using namespace loong;
using clk = std::chrono::steady_clock;

int main(int argc, char** argv) {
  CLI::App app{"Ingest and corpus-reader throughput on Moving-MNIST"};
  int64_t count = 200;
  int threads = 2;
  std::string work = "/tmp/loong-bench-ingest";
  app.add_option("--count", count, "Moving-MNIST videos (65 frames each)")->capture_default_str();
  app.add_option("--threads", threads, "Ingest threads and concurrent ffmpeg processes")->capture_default_str();
  app.add_option("--work", work, "Scratch directory (MNIST cache, videos, corpus)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  fs::remove_all(fs::path(work) / "data");
  fs::remove_all(fs::path(work) / "db");
  MnistSplit m = load_mnist(fetch_mnist(work), "train");
  MovingMnistOptions mo;
  mo.count = count;
  mo.digits = 2;
  fs::path manifest = write_moving_mnist(m, mo, fs::path(work) / "data", false);

  IngestOptions o;
  o.threads = threads;
  o.progress = false;
  auto t0 = clk::now();
  IngestSummary s = ingest(manifest, fs::path(work) / "db", o);
  double t_ingest = std::chrono::duration<double>(clk::now() - t0).count();
  double ingest_fps = s.frames / t_ingest;

  // ffmpeg CLI on the same files, `threads` processes at a time.
  t0 = clk::now();
  int64_t running = 0;
  for (int64_t i = 0; i < count; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "%s/data/train/%06lld.mp4", work.c_str(), static_cast<long long>(i));
    if (running == threads) {
      wait(nullptr);
      --running;
    }
    pid_t pid = fork();
    if (pid == 0) {
      execlp("ffmpeg", "ffmpeg", "-v", "error", "-threads", "1", "-i", name, "-vf", "fps=8,scale=64:64:flags=area",
             "-f", "rawvideo", "-pix_fmt", "rgb24", "-y", "/dev/null", static_cast<char*>(nullptr));
      _exit(127);
    }
    ++running;
  }
  while (running-- > 0) wait(nullptr);
  double t_ff = std::chrono::duration<double>(clk::now() - t0).count();
  double ff_fps = s.frames / t_ff;

  CorpusReader r(fs::path(work) / "db");
  auto clips = r.list_clips();
  std::mt19937 rng(1);
  const int window = 17, reads = 2000;
  t0 = clk::now();
  size_t bytes = 0;
  for (int i = 0; i < reads; ++i) {
    const ClipInfo& c = clips[rng() % clips.size()];
    int first = static_cast<int>(rng() % (c.pixel_frames - window + 1));
    bytes += r.read_frames(c.id, first, window).size();
  }
  double t_read = std::chrono::duration<double>(clk::now() - t0).count();

  std::printf("Moving-MNIST: %lld videos, %lld frames (64x64, 8 fps), %d threads\n", static_cast<long long>(count),
              static_cast<long long>(s.frames), threads);
  std::printf("  loong ingest (decode + scale + write corpus): %.2f s = %.0f frames/s\n", t_ingest, ingest_fps);
  std::printf("  ffmpeg CLI decode to raw RGB 64x64:          %.2f s = %.0f frames/s\n", t_ff, ff_fps);
  std::printf("  ingest / ffmpeg: %.2fx\n", ingest_fps / ff_fps);
  std::printf("  CorpusReader: %d random %d-frame windows in %.2f s = %.0f windows/s (%.1f MB/s)\n", reads, window,
              t_read, reads / t_read, bytes / t_read / 1e6);
  std::printf("BENCH ingest_frames_per_s %.0f frames/s\n", ingest_fps);
  std::printf("BENCH ffmpeg_cli_frames_per_s %.0f frames/s\n", ff_fps);
  std::printf("BENCH ingest_vs_ffmpeg %.2f x\n", ingest_fps / ff_fps);
  std::printf("BENCH reader_windows_per_s %.0f windows/s\n", reads / t_read);
  return 0;
}
