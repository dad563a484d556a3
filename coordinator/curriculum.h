// Progressive short-to-long training as data (docs/architecture.md, Curriculum): each stage names how many
// latent frames a sample holds, its global batch in tokens, its step budget and its LR schedule.
//
// TOML (every key optional; the defaults are the paper-like three stages):
//   [[curriculum.stage]]
//   name = "image"          # for logs and metrics
//   latent_frames = 1       # 1 = text + first frame; 5 = 17 pixel frames; 17 = 65 pixel frames
//   batch_tokens = 4096     # global batch, in model tokens (rounded down to whole samples, >= dp)
//   steps = 300
//   lr = 1e-3               # peak; warmup_steps linear from ~0, cosine to min_lr
//   min_lr = 1e-4
//   warmup_steps = 30
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/toml_config.h"
#include "optim/lr_schedule.h"

namespace loong {

struct CurriculumStage {
  std::string name;
  int64_t latent_frames = 1;
  int64_t batch_tokens = 4096;
  int64_t steps = 100;
  double lr = 1e-3, min_lr = 1e-4;
  int64_t warmup_steps = 10;

  WarmupCosineSchedule schedule() const { return {lr, min_lr, warmup_steps, steps}; }
};

struct Curriculum {
  std::vector<CurriculumStage> stages;

  // The docs/architecture.md default: 1, 5, 17 latent frames.
  static Curriculum paper_default();
  // Reads [[curriculum.stage]] tables; ConfigError naming the stage index and key. Stages must
  // have non-decreasing latent_frames (short to long).
  static Curriculum from_toml(const TomlConfig& config);
  int64_t total_steps() const;
  // Stage index and step within it of global optimizer step `step` (0-based); the stage count
  // when past the end.
  std::pair<size_t, int64_t> locate(int64_t step) const;
  // Every key from_toml reads, for TomlConfig::reject_unknown_keys (array entries are checked there).
  static const std::vector<std::string>& stage_keys();
};

}  // namespace loong
