// The job config of `loong train` (TOML; one file per job, torchtitan-style). Every key is
// documented in configs/train_mnist.toml; unknown keys are errors naming the key.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "coordinator/curriculum.h"
#include "model/llama_config.h"
#include "optim/adamw_optimizer.h"
#include "parallel/process_grid.h"
#include "sequence/sequence_format.h"

namespace loong {

struct TrainJob {
  std::string source;  // the config file, for messages
  // [model]: LlamaConfig without vocab_size / max_position_embeddings (derived from the data).
  LlamaConfig model;
  // [parallel]
  ParallelLayout layout;
  bool zero1 = false;
  // [data]
  std::string db;
  std::string tokenizer = "default";
  int64_t text_budget = 16;
  // [train]
  uint64_t seed = 1;
  int64_t micro_batch_size = 1;  // samples per micro-batch
  LossWeighting weighting;
  AdamWConfig adamw;
  int64_t eval_every = 50;              // steps; 0 disables
  int64_t eval_samples = 16;            // held-out samples per evaluation (test split)
  std::string log = "train_log.jsonl";  // relative paths resolve against checkpoint.dir
  // Fraction of training samples whose caption is replaced by the empty caption (<pad>s), so the
  // model also learns p(video) and generation can use classifier-free guidance. In [0, 1).
  double caption_dropout = 0.0;
  // Steps in a row with a non-finite loss or gradient (each skipped, weights unchanged) after
  // which the job stops with DivergedError (exit status kExitNonFinite) instead of going on.
  int64_t max_consecutive_skips = 20;
  // Each evaluation also scores the held-out clips with captions shuffled across them: if the two
  // losses agree, the model ignores the text.
  bool eval_caption_control = true;
  // [curriculum]
  Curriculum curriculum;
  // [checkpoint]
  std::string checkpoint_dir = "checkpoints";
  int64_t checkpoint_every = 100;
  int64_t keep_last = 3;
  // [coordinator] under MPI (coordinator/worker_liveness.h): a worker whose heartbeat the
  // coordinator has not received for this many seconds while waiting is named and the job ends
  // with exit status 4 (requeue); likewise when one work unit takes longer than the deadline (0 = none).
  double heartbeat_timeout_s = 30;
  double work_unit_timeout_s = 600;
  // [metrics] (Prometheus exporter; empty address disables)
  std::string metrics_address = "127.0.0.1";
  int64_t metrics_port = 0;                // 0: pick a free port
  std::string metrics_job_name = "loong";  // label and file-SD target file name
  std::string metrics_targets_dir;         // where Prometheus's file_sd looks ("" = no target file)
  double metrics_peak_flops = 0;           // per worker, for the utilisation gauge (0 = off)
  // [debug] fault injection for tests: poison the gradient of this global step (1-based; -1 off)
  int64_t nonfinite_at_step = -1;
  int64_t nonfinite_steps = 1;  // poisoned steps from nonfinite_at_step on
  int nonfinite_dp_rank = -1;   // the one dp rank that poisons its gradient; -1: every rank
  // [debug] milliseconds the coordinator waits before each training step, so a test can signal a
  // run that is still going (a tiny job otherwise finishes within the test's polling interval)
  int64_t step_delay_ms = 0;

  // ConfigError naming the file and key for any problem, before any work starts.
  static TrainJob from_toml(const TomlConfig& config);
  // The model config for a data source with this vocabulary and latent grid.
  LlamaConfig model_for(const VocabLayout& vocab, int64_t grid_h, int64_t grid_w) const;
  SampleShape shape(int64_t frames, int64_t grid_h, int64_t grid_w) const;
};

}  // namespace loong
