// `loong eval videos` as a library call: score every video of a manifest (dataloader/manifest.h:
// CSV `path,caption[,split]` or JSONL) with a trained digit classifier.
//
// Entries that cannot be scored are skipped with a reason naming the manifest line (malformed
// line, caption that does not parse, two-digit caption, video that cannot be decoded) and
// counted in the report; with `strict` the first one is an error instead. No video scored at
// all is an InputError listing the first reasons.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "eval/digit_classifier.h"
#include "eval/evaluation_report.h"
#include "tokenizer/video_tokenizer.h"

namespace loong::eval {

struct ManifestEvaluationOptions {
  ScoreOptions score;
  int resolution = 64;                  // frames are decoded to resolution x resolution (Moving MNIST: 64)
  std::filesystem::path contact_sheet;  // also write this PNG ("" = none)
  std::string label;                    // names the set in the report
  bool strict = false;                  // a skipped entry is an error
  // When set, videos are scored after a round trip through this video tokenizer
  // (eval/tokenizer_round_trip.h): the ceiling of generation with it. Not owned.
  tok::VideoTokenizer* round_trip = nullptr;
  std::string round_trip_name;  // its directory, for the report
  bool progress = true;         // progress bar on stderr
};

// IoError / FormatError naming the manifest when it cannot be read; InputError naming the entry
// under `strict`; ConfigError for bad options.
EvaluationReport evaluate_manifest(const std::filesystem::path& manifest, DigitClassifier& classifier,
                                   const std::filesystem::path& classifier_dir,
                                   const ManifestEvaluationOptions& options);

}  // namespace loong::eval
