#include "parallel/process_grid.h"

#include "core/error.h"

namespace loong {

std::string ParallelLayout::text() const {
  return "TP=" + std::to_string(tp) + " x PP=" + std::to_string(pp) + " x DP=" + std::to_string(dp);
}

int worker_index(const ParallelLayout& l, int tp_rank, int dp_rank, int pp_rank) {
  return pp_rank * (l.dp * l.tp) + dp_rank * l.tp + tp_rank;
}

std::unique_ptr<ProcessGrid> ProcessGrid::local() {
  auto g = std::make_unique<ProcessGrid>();
  g->tp_ = std::make_unique<LocalCommunicator>("tp group");
  g->pp_ = std::make_unique<LocalCommunicator>("pp group");
  g->dp_ = std::make_unique<LocalCommunicator>("dp group");
  g->model_ = std::make_unique<LocalCommunicator>("model group");
  g->workers_ = std::make_unique<LocalCommunicator>("workers");
  return g;
}

std::unique_ptr<ProcessGrid> ProcessGrid::from_workers(
    std::unique_ptr<Communicator> workers, const ParallelLayout& layout,
    const std::function<std::unique_ptr<Communicator>(int, int, const std::string&)>& split) {
  if (layout.tp < 1 || layout.pp < 1 || layout.dp < 1)
    throw ConfigError("parallel layout " + layout.text() + ": every degree must be at least 1");
  if (layout.workers() != workers->size())
    throw ConfigError("parallel layout " + layout.text() + " needs " + std::to_string(layout.workers()) +
                      " worker ranks but the job has " + std::to_string(workers->size()) +
                      " (world size minus the coordinator); launch with -np " + std::to_string(layout.workers() + 1) +
                      " or change parallel.tp/pp/dp so that tp*pp*dp = " + std::to_string(workers->size()));
  auto g = std::make_unique<ProcessGrid>();
  g->layout_ = layout;
  const int w = workers->rank();
  g->pos_.worker = w;
  g->pos_.tp_rank = w % layout.tp;
  g->pos_.dp_rank = (w / layout.tp) % layout.dp;
  g->pos_.pp_rank = w / (layout.tp * layout.dp);
  const auto& p = g->pos_;
  const std::string who = " of worker " + std::to_string(w);
  // Every split is collective over all workers, so every worker makes each one in this order.
  g->tp_ = split(p.pp_rank * layout.dp + p.dp_rank, p.tp_rank, "tp group" + who);
  g->pp_ = split(p.dp_rank * layout.tp + p.tp_rank, p.pp_rank, "pp group" + who);
  g->dp_ = split(p.pp_rank * layout.tp + p.tp_rank, p.dp_rank, "dp group" + who);
  g->model_ = split(p.dp_rank, p.pp_rank * layout.tp + p.tp_rank, "model group" + who);
  g->workers_ = std::move(workers);
  return g;
}

}  // namespace loong
