#include "eval/classifier_training.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/progress.h"
#include "ops/cpu/ops.h"
#include "optim/lr_schedule.h"

namespace loong::eval {

void ClassifierTrainOptions::validate() const {
  net.validate();
  if (steps < 1) throw ConfigError("classifier training: steps must be >= 1");
  if (batch < 1 || batch > 4096) throw ConfigError("classifier training: batch must be in [1, 4096]");
  if (!(lr > 0) || !(min_lr >= 0) || min_lr > lr)
    throw ConfigError("classifier training: need 0 <= min_lr <= lr, lr > 0");
  if (warmup_steps < 0) throw ConfigError("classifier training: warmup_steps must be >= 0");
}

Accuracy measure_accuracy(DigitClassifier& classifier, const MnistSplit& split) {
  Accuracy a;
  constexpr int64_t kChunk = 1000;
  std::vector<float> patches(static_cast<size_t>(kChunk * kPatchPixels));
  for (int64_t b0 = 0; b0 < split.count; b0 += kChunk) {
    const int64_t nb = std::min(kChunk, split.count - b0);
    for (int64_t i = 0; i < nb; ++i)
      clean_patch(split.pixels.data() + (b0 + i) * kPatchPixels, classifier.info().ink,
                  patches.data() + i * kPatchPixels);
    const auto pred = classifier.classify_patches(patches.data(), nb);
    for (int64_t i = 0; i < nb; ++i) {
      const int label = split.labels[static_cast<size_t>(b0 + i)];
      const bool ok = pred[static_cast<size_t>(i)] == label;
      ++a.digits, a.correct += ok;
      ++a.per_digit_total[label], a.per_digit_correct[label] += ok;
    }
  }
  return a;
}

DigitClassifier train_digit_classifier(const MnistSplit& train, const MnistSplit& test,
                                       const ClassifierTrainOptions& o) {
  o.validate();
  if (train.count < 1 || test.count < 1) throw InputError("classifier training: empty MNIST split");
  const auto t0 = std::chrono::steady_clock::now();
  DigitClassifier classifier(o.net, o.ink, o.seed);
  DigitNet& net = classifier.net();
  auto params = net.store().params();
  auto grads = net.store().grads();
  const auto n_params = static_cast<int64_t>(params.size());
  std::vector<float> m(params.size(), 0.0f), v(params.size(), 0.0f);
  const WarmupCosineSchedule schedule{o.lr, o.min_lr, o.warmup_steps, o.steps};

  // Epochs of a seeded permutation of the train digits.
  std::mt19937_64 rng(o.seed * 0x9E3779B97F4A7C15ull + 7);
  std::vector<int64_t> order(static_cast<size_t>(train.count));
  std::iota(order.begin(), order.end(), 0);
  size_t cursor = order.size();

  std::vector<float> patches(static_cast<size_t>(o.batch * kPatchPixels));
  std::vector<int32_t> targets(static_cast<size_t>(o.batch));
  std::vector<float> token_loss(static_cast<size_t>(o.batch)), lse(static_cast<size_t>(o.batch));
  std::vector<float> weights(static_cast<size_t>(o.batch), 1.0f), d_logits;
  ProgressBar bar("train-classifier", o.steps, 10.0);
  double loss_avg = 0;
  int64_t correct_recent = 0, seen_recent = 0;
  for (int64_t step = 0; step < o.steps; ++step) {
    for (int64_t i = 0; i < o.batch; ++i) {
      if (cursor == order.size()) std::shuffle(order.begin(), order.end(), rng), cursor = 0;
      const int64_t k = order[cursor++];
      augmented_patch(train.pixels.data() + k * kPatchPixels, o.augment, o.ink, rng, patches.data() + i * kPatchPixels);
      targets[static_cast<size_t>(i)] = train.labels[static_cast<size_t>(k)];
    }
    net.store().zero_grad();
    const float* logits = net.forward(patches.data(), o.batch);
    d_logits.assign(logits, logits + o.batch * kDigitClasses);
    for (int64_t i = 0; i < o.batch; ++i) {
      const float* l = logits + i * kDigitClasses;
      correct_recent += std::max_element(l, l + kDigitClasses) - l == targets[static_cast<size_t>(i)];
    }
    seen_recent += o.batch;
    ops::cpu::cross_entropy_forward(token_loss.data(), lse.data(), d_logits.data(), targets.data(), o.batch,
                                    kDigitClasses);
    double loss = 0;
    for (float l : token_loss) loss += l;
    loss /= static_cast<double>(o.batch);
    ops::cpu::cross_entropy_backward(d_logits.data(), lse.data(), targets.data(), weights.data(),
                                     static_cast<float>(o.batch), o.batch, kDigitClasses);
    net.backward(d_logits.data());
    const ops::cpu::AdamWHyper hyper{static_cast<float>(schedule.at(step)), 0.9f, 0.999f, 1e-8f,
                                     static_cast<float>(o.weight_decay)};
    ops::cpu::adamw_step(params.data(), grads.data(), m.data(), v.data(), n_params, hyper, step + 1, 1.0f,
                         o.weight_decay > 0);
    loss_avg = step == 0 ? loss : 0.98 * loss_avg + 0.02 * loss;
    if (!std::isfinite(loss))
      throw InputError("classifier training: loss is not finite at step " + std::to_string(step));
    if (o.progress) {
      char status[96];
      std::snprintf(status, sizeof status, "loss %.3f train acc %.3f", loss_avg,
                    static_cast<double>(correct_recent) / static_cast<double>(seen_recent));
      bar.update(step + 1, status);
      if (seen_recent >= 2000) correct_recent = seen_recent = 0;
    }
  }
  if (o.progress) bar.finish();
  const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const Accuracy acc = measure_accuracy(classifier, test);
  const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ClassifierInfo& info = classifier.info();
  info.test_accuracy = acc.value();
  info.test_digits = acc.digits;
  for (int d = 0; d < kDigitClasses; ++d)
    info.per_digit_accuracy[d] =
        acc.per_digit_total[d] ? static_cast<double>(acc.per_digit_correct[d]) / acc.per_digit_total[d] : 0.0;
  const auto& a = o.augment;
  info.training = {{"data", "MNIST train split, " + std::to_string(train.count) + " digits"},
                   {"steps", o.steps},
                   {"batch", o.batch},
                   {"lr", o.lr},
                   {"min_lr", o.min_lr},
                   {"warmup_steps", o.warmup_steps},
                   {"weight_decay", o.weight_decay},
                   {"seed", o.seed},
                   {"final_train_loss_ema", loss_avg},
                   {"train_seconds", train_s},
                   {"train_and_test_seconds", total_s},
                   {"augment",
                    {{"max_rotation_deg", a.max_rotation_deg},
                     {"min_scale", a.min_scale},
                     {"max_scale", a.max_scale},
                     {"max_shift_px", a.max_shift_px},
                     {"blur_probability", a.blur_probability},
                     {"max_blur_sigma", a.max_blur_sigma},
                     {"min_gamma", a.min_gamma},
                     {"max_gamma", a.max_gamma},
                     {"min_contrast", a.min_contrast},
                     {"max_noise", a.max_noise}}}};
  return classifier;
}

std::filesystem::path default_cache_dir() {
  if (const char* d = std::getenv("LOONG_CACHE_DIR"); d && *d) return d;
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) return std::filesystem::path(d) / "loong";
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home && *home ? home : "/tmp") / ".cache" / "loong";
}

}  // namespace loong::eval
