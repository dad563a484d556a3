#include "eval/digit_classifier.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/fs.h"
#include "eval/dense.h"

namespace loong::eval {
namespace fs = std::filesystem;

namespace {

constexpr const char* kWeightsFile = "classifier.safetensors";
constexpr const char* kInfoFile = "classifier.json";
constexpr const char* kFormat = "loong-digit-classifier";

// j[key] as T; ConfigError naming the file and key when it is missing or has another type.
template <typename T>
T field(const nlohmann::json& j, const std::string& key, const std::string& source) {
  if (!j.is_object() || !j.contains(key)) throw ConfigError(source + ": key '" + key + "' is missing");
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(source + ": key '" + key + "' has the wrong type (" + e.what() + ")");
  }
}

}  // namespace

void DigitNetConfig::validate() const {
  if (channels.size() != 3) throw ConfigError("digit classifier: network.channels must list 3 widths");
  for (int64_t c : channels)
    if (c < 1 || c > 1024) throw ConfigError("digit classifier: network.channels must be in [1, 1024]");
  if (groups < 1) throw ConfigError("digit classifier: network.groups must be >= 1");
  for (int64_t c : channels)
    if (c % groups != 0)
      throw ConfigError("digit classifier: network.groups " + std::to_string(groups) + " does not divide width " +
                        std::to_string(c));
}

// ---- DigitNet ----

DigitNet::DigitNet(const DigitNetConfig& config) : config_(config) {
  config.validate();
  int64_t cin = 1, size = kPatchSize;
  for (size_t i = 0; i < config.channels.size(); ++i) {
    const std::string level = "conv" + std::to_string(i);
    const int64_t stride = i == 0 ? 1 : 2;  // 28 -> 28 -> 14 -> 7
    const int64_t cout = config.channels[i];
    net_.append(std::make_unique<tok::CausalConv3d>(store_, level, cin, cout, std::array<int64_t, 3>{1, 3, 3},
                                                    std::array<int64_t, 3>{1, stride, stride}, &ws_));
    net_.append(std::make_unique<tok::GroupNorm>(store_, level + ".norm", cout, config.groups));
    net_.append(std::make_unique<tok::SiLU>(level + ".act"));
    cin = cout;
    size = (size - 1) / stride + 1;
  }
  net_.append(std::make_unique<Dense>(store_, "head", cin * size * size, kDigitClasses));
  store_.allocate();
}

const float* DigitNet::forward(const float* patches, int64_t n) {
  return net_.forward(patches, tok::Shape5{n, 1, 1, kPatchSize, kPatchSize});
}

void DigitNet::backward(const float* d_logits) { net_.backward(d_logits, false); }

// ---- ClassifierInfo ----

nlohmann::json ClassifierInfo::to_json() const {
  nlohmann::json j;
  j["format"] = kFormat;
  j["version"] = 1;
  j["network"] = {{"channels", net.channels}, {"groups", net.groups}, {"patch_size", kPatchSize}};
  j["ink"] = {{"threshold", ink.threshold}, {"min_pixels", ink.min_pixels}};
  j["test_accuracy"] = test_accuracy;
  j["test_digits"] = test_digits;
  j["per_digit_accuracy"] = per_digit_accuracy;
  j["training"] = training;
  return j;
}

ClassifierInfo ClassifierInfo::from_json(const nlohmann::json& j, const std::string& source) {
  if (field<std::string>(j, "format", source) != kFormat)
    throw ConfigError(source + ": key 'format' is not '" + kFormat + "'");
  if (field<int>(j, "version", source) != 1) throw ConfigError(source + ": key 'version': only version 1 is known");
  ClassifierInfo info;
  const auto net = field<nlohmann::json>(j, "network", source);
  info.net.channels = field<std::vector<int64_t>>(net, "channels", source + ": network");
  info.net.groups = field<int64_t>(net, "groups", source + ": network");
  if (field<int64_t>(net, "patch_size", source + ": network") != kPatchSize)
    throw ConfigError(source + ": key 'network.patch_size' must be " + std::to_string(kPatchSize));
  try {
    info.net.validate();
  } catch (const ConfigError& e) {
    throw ConfigError(source + ": " + e.what());
  }
  const auto ink = field<nlohmann::json>(j, "ink", source);
  info.ink.threshold = field<float>(ink, "threshold", source + ": ink");
  info.ink.min_pixels = field<int64_t>(ink, "min_pixels", source + ": ink");
  if (!(info.ink.threshold >= 0 && info.ink.threshold < 1) || info.ink.min_pixels < 1)
    throw ConfigError(source + ": keys 'ink.threshold' must be in [0, 1) and 'ink.min_pixels' >= 1");
  info.test_accuracy = field<double>(j, "test_accuracy", source);
  info.test_digits = field<int64_t>(j, "test_digits", source);
  info.per_digit_accuracy = field<std::array<double, kDigitClasses>>(j, "per_digit_accuracy", source);
  info.training = j.value("training", nlohmann::json::object());
  return info;
}

// ---- DigitClassifier ----

DigitClassifier::DigitClassifier(const DigitNetConfig& net, const InkOptions& ink, uint64_t seed)
    : net_(std::make_unique<DigitNet>(net)) {
  info_.net = net;
  info_.ink = ink;
  net_->store().init_random(seed);
}

DigitClassifier DigitClassifier::load(const fs::path& dir) {
  const std::string hint = " (train one with `loong eval train-classifier --out " + dir.string() + "`)";
  if (!fs::is_directory(dir)) throw IoError("classifier directory " + dir.string() + " does not exist" + hint);
  for (const char* f : {kInfoFile, kWeightsFile, "DONE"})
    if (!fs::exists(dir / f))
      throw IoError("classifier directory " + dir.string() + " has no " + f + " (incomplete or not a classifier)" +
                    hint);
  const fs::path info_path = dir / kInfoFile;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(info_path));
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(info_path.string() + ": not valid JSON: " + e.what());
  }
  const ClassifierInfo info = ClassifierInfo::from_json(j, info_path.string());
  DigitClassifier c(info.net, info.ink, 0);
  c.info_ = info;
  c.net_->store().load(dir / kWeightsFile);
  return c;
}

void DigitClassifier::save(const fs::path& dir) const {
  write_directory_atomic(dir, [&](const fs::path& tmp) {
    net_->store().save(tmp / kWeightsFile, {{"format", kFormat}});
    write_file_atomic(tmp / kInfoFile, info_.to_json().dump(2) + "\n");
  });
}

std::vector<int> DigitClassifier::classify_patches(const float* patches, int64_t n, std::vector<float>* confidence) {
  std::vector<int> digits(static_cast<size_t>(n));
  if (confidence) confidence->assign(static_cast<size_t>(n), 0.0f);
  constexpr int64_t kBatch = 256;  // bounds the activation memory (~0.2 MB per patch)
  for (int64_t b0 = 0; b0 < n; b0 += kBatch) {
    const int64_t nb = std::min(kBatch, n - b0);
    const float* logits = net_->forward(patches + b0 * kPatchPixels, nb);
    for (int64_t i = 0; i < nb; ++i) {
      const float* l = logits + i * kDigitClasses;
      const int best = static_cast<int>(std::max_element(l, l + kDigitClasses) - l);
      digits[static_cast<size_t>(b0 + i)] = best;
      if (confidence) {
        double z = 0;
        for (int k = 0; k < kDigitClasses; ++k) z += std::exp(static_cast<double>(l[k] - l[best]));
        (*confidence)[static_cast<size_t>(b0 + i)] = static_cast<float>(1.0 / z);
      }
    }
  }
  return digits;
}

std::vector<FramePrediction> DigitClassifier::classify(const std::vector<std::vector<uint8_t>>& frames, int64_t width,
                                                       int64_t height) {
  std::vector<FramePrediction> out(frames.size());
  std::vector<float> patches;
  std::vector<size_t> with_digit;
  for (size_t f = 0; f < frames.size(); ++f) {
    if (static_cast<int64_t>(frames[f].size()) != width * height * 3)
      throw InputError("classify: frame " + std::to_string(f) + " has " + std::to_string(frames[f].size()) +
                       " bytes, expected " + std::to_string(width) + "x" + std::to_string(height) + "x3");
    const GrayImage g = gray_from_rgb(frames[f].data(), width, height);
    out[f].location = locate_digit(g, info_.ink);
    if (!out[f].location.found) continue;
    out[f].digit_found = true;
    patches.resize(patches.size() + kPatchPixels);
    centred_patch(g, out[f].location, PatchJitter{}, patches.data() + patches.size() - kPatchPixels);
    with_digit.push_back(f);
  }
  std::vector<float> conf;
  const auto digits = classify_patches(patches.data(), static_cast<int64_t>(with_digit.size()), &conf);
  for (size_t i = 0; i < with_digit.size(); ++i) {
    out[with_digit[i]].digit = digits[i];
    out[with_digit[i]].confidence = conf[i];
  }
  return out;
}

}  // namespace loong::eval
