// A worker of the video job: holds its model shard, optimizer and trainer, and executes the work
// units the coordinator sends (train, evaluate, checkpoint, load). Samples are fetched from the
// SampleSource by clip id and built into sequences here (docs/architecture.md, Sequence format).
#pragma once
#include <memory>

#include "model/llama_model.h"
#include "optim/adamw_optimizer.h"
#include "parallel/process_grid.h"
#include "sequence/sample_source.h"
#include "training.pb.h"
#include "worker/parallel_trainer.h"

namespace loong {

struct VideoWorkerOptions {
  LlamaConfig model;
  bool zero1 = false;
  AdamWConfig adamw;
  LossWeighting weighting;
  int64_t text_budget = 16;
  uint64_t init_seed = 1;
};

class VideoWorker {
 public:
  // `grid` and `source` are borrowed and must outlive the worker.
  VideoWorker(const VideoWorkerOptions& options, ProcessGrid& grid, SampleSource& source);

  // Runs one unit. TRAIN and EVAL return the report (identical on every worker: all sums are
  // reduced over the workers); CHECKPOINT and LOAD return an empty report.
  proto::StepReport execute(const proto::WorkUnit& unit);

  LlamaModel& model() { return *model_; }
  AdamWOptimizer& optimizer() { return *opt_; }

 private:
  proto::StepReport run_batch(const proto::WorkUnit& unit, bool train);
  VideoWorkerOptions options_;
  ProcessGrid& grid_;
  SampleSource& source_;
  std::unique_ptr<LlamaModel> model_;
  std::unique_ptr<AdamWOptimizer> opt_;
  std::unique_ptr<ParallelTrainer> trainer_;
};

}  // namespace loong
