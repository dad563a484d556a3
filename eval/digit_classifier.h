// The digit classifier of the caption-fidelity evaluator: a small CNN on the tokenizer's layers
// (tokenizer/conv_net.h, frames of one time step) with a dense head (eval/dense.h):
//
//   patch [N, 1, 1, 28, 28]
//   conv 3x3 -> GroupNorm -> SiLU                      channels[0] x 28 x 28
//   conv 3x3 stride 2 -> GroupNorm -> SiLU             channels[1] x 14 x 14
//   conv 3x3 stride 2 -> GroupNorm -> SiLU             channels[2] x 7 x 7
//   dense (flattened) -> 10 logits
//
// A trained classifier is a directory holding classifier.safetensors (the weights) and
// classifier.json (this config, the ink options used to find digits, how it was trained and the
// accuracy it measured on the MNIST test digits), plus the DONE marker of an atomic directory.
#pragma once
#include <array>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/digit_patch.h"
#include "tokenizer/conv_net.h"

namespace loong::eval {

inline constexpr int kDigitClasses = 10;

struct DigitNetConfig {
  std::vector<int64_t> channels = {16, 32, 64};  // widths of the three convolutions
  int64_t groups = 4;                            // GroupNorm groups; must divide every width
  void validate() const;                         // ConfigError naming the field
};

// The network with its parameters; trainable (forward/backward follow the layer contract of
// tokenizer/conv_net.h).
class DigitNet {
 public:
  explicit DigitNet(const DigitNetConfig& config);
  const DigitNetConfig& config() const { return config_; }
  tok::ParamStore& store() { return store_; }
  const tok::ParamStore& store() const { return store_; }
  // patches: n x kPatchPixels floats; returns logits [n, 10], valid until the next forward.
  const float* forward(const float* patches, int64_t n);
  // Accumulates parameter gradients from d(loss)/d(logits) of the last forward.
  void backward(const float* d_logits);

 private:
  DigitNetConfig config_;
  tok::ParamStore store_;
  tok::Workspace ws_;
  tok::Sequential net_{"digit_net"};
};

// What classify() says about one frame.
struct FramePrediction {
  bool digit_found = false;  // enough ink (InkOptions); when false, digit is -1
  int digit = -1;            // 0..9
  float confidence = 0;      // softmax probability of `digit`
  DigitLocation location;    // centre of mass of the ink, frame pixels
};

// Everything a classifier directory records besides the weights.
struct ClassifierInfo {
  DigitNetConfig net;
  InkOptions ink;
  double test_accuracy = 0;  // on the MNIST test digits, measured after training
  int64_t test_digits = 0;
  std::array<double, kDigitClasses> per_digit_accuracy{};
  nlohmann::json training;  // steps, batch, seed, learning rates, augmentation, seconds
  nlohmann::json to_json() const;
  // ConfigError naming `source` and the key when a field is missing or of the wrong type.
  static ClassifierInfo from_json(const nlohmann::json& j, const std::string& source);
};

class DigitClassifier {
 public:
  // A classifier with random weights (to be trained).
  DigitClassifier(const DigitNetConfig& net, const InkOptions& ink, uint64_t seed);
  // IoError naming the directory when it or one of its files is missing (or lacks DONE);
  // ConfigError / FormatError naming the file when classifier.json or the weights are malformed.
  static DigitClassifier load(const std::filesystem::path& dir);
  // Writes dir/ atomically (core/fs.h write_directory_atomic), replacing an existing one.
  void save(const std::filesystem::path& dir) const;

  ClassifierInfo& info() { return info_; }
  const ClassifierInfo& info() const { return info_; }
  DigitNet& net() { return *net_; }

  // Most likely digit of each of n patches (n x kPatchPixels floats); confidences (softmax
  // probability of that digit) into `confidence` when not null.
  std::vector<int> classify_patches(const float* patches, int64_t n, std::vector<float>* confidence = nullptr);
  // One prediction per frame; frames are RGB uint8 [height, width, 3] (dataloader/video_decoder.h).
  std::vector<FramePrediction> classify(const std::vector<std::vector<uint8_t>>& frames, int64_t width, int64_t height);

 private:
  ClassifierInfo info_;
  std::unique_ptr<DigitNet> net_;  // layers hold references into the net's ParamStore: not movable by value
};

}  // namespace loong::eval
