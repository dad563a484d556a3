// One training step of a (possibly) tensor/pipeline/data-parallel model: runs the 1F1B schedule
// over this data-parallel rank's micro-batches with point-to-point activation exchange between
// stages, reduces gradients over the data-parallel group (all-reduce or ZeRO-1), computes the
// global gradient norm over every rank, clips, and steps the optimizer. With the local grid it is
// plain gradient accumulation in one process.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/llama_model.h"
#include "optim/adamw_optimizer.h"
#include "parallel/process_grid.h"

namespace loong {

// One micro-batch: `batch` sequences of `seq` tokens, row-major. Stages read what they need
// (first: tokens; last: targets and weights); the pointers must stay valid during the step.
struct MicroBatch {
  const int32_t* tokens = nullptr;
  const int32_t* targets = nullptr;
  const float* weights = nullptr;
};

struct StepTimes {
  double total = 0;      // wall time of the step (s)
  double tp_comm = 0;    // tensor-parallel all-reduces inside forward/backward
  double pp_wait = 0;    // blocked receiving activations/gradients (includes the pipeline bubble)
  double pp_send = 0;    // waiting for sends to complete
  double dp_comm = 0;    // data-parallel gradient reduction and ZeRO-1 parameter all-gather
  double norm_comm = 0;  // all-reduce of the gradient norm and the loss
  double compute() const { return total - tp_comm - pp_wait - pp_send - dp_comm - norm_comm; }
};

struct StepResult {
  double loss_sum = 0;    // sum over the global batch of weight * token loss
  double weight_sum = 0;  // sum of weights over the global batch
  double grad_norm = 0;   // before clipping
  bool skipped = false;   // non-finite loss or gradient norm: the update was not applied
  // Per-token unweighted losses of this rank's micro-batches (last stage only), in order.
  std::vector<float> token_losses;
  StepTimes times;
};

class ParallelTrainer {
 public:
  ParallelTrainer(LlamaModel& model, ProcessGrid& grid, AdamWOptimizer& optimizer);

  // Runs forward+backward over `micro_batches` (this dp rank's share of the global batch), then
  // the optimizer step at `lr`. `normalizer` is the weight sum of the whole global batch.
  // If `apply` is false the gradients are computed and reduced but no update is made.
  // A non-finite loss or gradient norm (the same on every rank: both are all-reduced) skips the
  // update on every rank and sets `skipped`.
  StepResult step(const std::vector<MicroBatch>& micro_batches, int64_t batch, int64_t seq, float normalizer, float lr,
                  bool apply = true);
  // Fault injection: the next step puts a NaN into this rank's gradient before the reduction.
  void poison_next_step() { poison_ = true; }
  // Forward only (evaluation): the pipeline passes activations forward; losses as in step().
  StepResult evaluate(const std::vector<MicroBatch>& micro_batches, int64_t batch, int64_t seq);

 private:
  LlamaModel& model_;
  ProcessGrid& grid_;
  AdamWOptimizer& opt_;
  std::vector<float> recv_buf_;
  bool poison_ = false;
};

}  // namespace loong
