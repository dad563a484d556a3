// The data x pipeline x tensor parallel grid over the worker ranks (docs/architecture.md, Processes).
//
// Under MPI, world rank 0 is the coordinator and world ranks 1..W are workers; worker index
// w = world_rank - 1 is laid out Megatron-style with tensor parallelism innermost (neighbouring
// ranks, which share a node, carry the most traffic) and pipeline parallelism outermost:
//   w = pp_rank * (dp * tp) + dp_rank * tp + tp_rank.
// Each worker gets the communicators of its tp, pp and dp groups, plus `model` (tp x pp: the
// ranks that together hold one model replica) and `workers` (every worker).
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "parallel/communicator.h"

namespace loong {

struct ParallelLayout {
  int tp = 1, pp = 1, dp = 1;
  int workers() const { return tp * pp * dp; }
  std::string text() const;  // "TP=2 x PP=1 x DP=2"
};

struct GridPosition {
  int tp_rank = 0, pp_rank = 0, dp_rank = 0;
  int worker = 0;  // worker index (world rank - 1 under MPI with a coordinator)
};

class ProcessGrid {
 public:
  // The single-process grid: every group is a LocalCommunicator.
  static std::unique_ptr<ProcessGrid> local();
  // Builds the groups from a communicator spanning exactly the worker ranks. ConfigError (with
  // what to change) when layout.workers() differs from its size.
  static std::unique_ptr<ProcessGrid> from_workers(
      std::unique_ptr<Communicator> workers, const ParallelLayout& layout,
      const std::function<std::unique_ptr<Communicator>(int color, int key, const std::string& name)>& split);

  const ParallelLayout& layout() const { return layout_; }
  const GridPosition& position() const { return pos_; }
  Communicator& tp() { return *tp_; }
  Communicator& pp() { return *pp_; }
  Communicator& dp() { return *dp_; }
  Communicator& model() { return *model_; }
  Communicator& workers() { return *workers_; }
  bool first_stage() const { return pos_.pp_rank == 0; }
  bool last_stage() const { return pos_.pp_rank == layout_.pp - 1; }

 private:
  ParallelLayout layout_;
  GridPosition pos_;
  std::unique_ptr<Communicator> tp_, pp_, dp_, model_, workers_;
};

// Worker index of a grid position.
int worker_index(const ParallelLayout& l, int tp_rank, int dp_rank, int pp_rank);

}  // namespace loong
