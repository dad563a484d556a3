// Training the evaluator's digit classifier (eval/digit_classifier.h) on the MNIST train digits,
// with the augmentation of eval/digit_augment.h, and measuring it on the MNIST test digits.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

#include "dataloader/moving_mnist.h"
#include "eval/digit_augment.h"
#include "eval/digit_classifier.h"

namespace loong::eval {

struct ClassifierTrainOptions {
  DigitNetConfig net;
  InkOptions ink;
  AugmentOptions augment;
  int64_t steps = 1200;             // AdamW steps
  int64_t batch = 64;               // digits per step
  double lr = 4e-3, min_lr = 1e-4;  // warmup-cosine schedule (optim/lr_schedule.h)
  int64_t warmup_steps = 50;
  double weight_decay = 1e-4;
  uint64_t seed = 1;      // weights, digit order and augmentation
  bool progress = true;   // a progress bar on stderr (core/progress.h)
  void validate() const;  // ConfigError naming the option
};

struct Accuracy {
  int64_t digits = 0, correct = 0;
  std::array<int64_t, kDigitClasses> per_digit_total{}, per_digit_correct{};
  double value() const { return digits ? static_cast<double>(correct) / static_cast<double>(digits) : 0.0; }
};

// Accuracy on every digit of `split` (clean, centred as at scoring time).
Accuracy measure_accuracy(DigitClassifier& classifier, const MnistSplit& split);

// Trains a classifier on `train`, measures it on `test` and records both in its info()
// (training options, seconds, test accuracy).
DigitClassifier train_digit_classifier(const MnistSplit& train, const MnistSplit& test,
                                       const ClassifierTrainOptions& options);

// Where MNIST is cached when no directory is given: $LOONG_CACHE_DIR, else $XDG_CACHE_HOME/loong,
// else ~/.cache/loong (as `loong dataset moving-mnist`).
std::filesystem::path default_cache_dir();

}  // namespace loong::eval
