#include "worker/parallel_trainer.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>

#include "core/error.h"
#include "parallel/pipeline_schedule.h"

namespace loong {
namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
}  // namespace

ParallelTrainer::ParallelTrainer(LlamaModel& model, ProcessGrid& grid, AdamWOptimizer& optimizer)
    : model_(model), grid_(grid), opt_(optimizer) {}

StepResult ParallelTrainer::step(const std::vector<MicroBatch>& micro_batches, int64_t batch, int64_t seq,
                                 float normalizer, float lr, bool apply) {
  const auto t_step = Clock::now();
  StepResult result;
  std::map<std::string, double> op_times;
  model_.set_op_times(&op_times);
  const int M = static_cast<int>(micro_batches.size());
  const int stages = grid_.layout().pp, stage = grid_.position().pp_rank;
  const int64_t act = batch * seq * model_.config().hidden_size;
  const int slots = schedule_1f1b_max_in_flight(stage, stages, M);
  model_.set_slots(slots);
  model_.zero_grad();
  recv_buf_.resize(act);
  Communicator& pp = grid_.pp();
  std::vector<std::unique_ptr<PendingSend>> sends;
  auto recv = [&](int peer) {
    const auto t = Clock::now();
    pp.recv(recv_buf_.data(), act, peer);
    result.times.pp_wait += since(t);
    return recv_buf_.data();
  };

  for (const PipelineAction& a : schedule_1f1b(stage, stages, M)) {
    const MicroBatch& mb = micro_batches[a.micro_batch];
    const int slot = a.micro_batch % slots;
    if (a.op == PipelineAction::Op::Forward) {
      const float* input = grid_.first_stage() ? nullptr : recv(stage - 1);
      ForwardLoss l = model_.forward_slot(slot, mb.tokens, input, mb.targets, mb.weights, batch, seq);
      result.loss_sum += l.weighted_sum;
      result.weight_sum += l.weight_sum;
      if (grid_.last_stage()) {
        auto tl = model_.token_losses(slot);
        result.token_losses.insert(result.token_losses.end(), tl.begin(), tl.end());
      } else {
        sends.push_back(pp.send_async(model_.stage_output(slot), act, stage + 1));
      }
    } else {
      const float* d_out = grid_.last_stage() ? nullptr : recv(stage + 1);
      const float* d_in = model_.backward_slot(slot, d_out, normalizer);
      if (!grid_.first_stage()) sends.push_back(pp.send_async(d_in, act, stage - 1));
    }
  }
  {
    const auto t = Clock::now();
    for (auto& s : sends) s->wait();
    result.times.pp_send += since(t);
  }
  model_.set_op_times(nullptr);
  result.times.tp_comm = op_times["tp_comm"];

  if (poison_ && !model_.grads().empty()) model_.grads()[0] = std::numeric_limits<float>::quiet_NaN();
  poison_ = false;
  auto t = Clock::now();
  opt_.reduce_gradients(model_.grads());
  result.times.dp_comm += since(t);

  // Global gradient norm: every rank counts the elements it alone is responsible for; the model
  // group (tp x pp) holds distinct parts, and with ZeRO-1 the dp ranks hold distinct shards.
  t = Clock::now();
  double sums[3] = {opt_.local_grad_sum_squares(model_.grads(), grid_.position().tp_rank), 0, 0};
  grid_.model().all_reduce_sum(sums, 1);
  if (opt_.zero1()) grid_.dp().all_reduce_sum(sums, 1);
  // Loss over the global batch: last stages hold it (once per tp rank: count tp rank 0).
  const bool counts_loss = grid_.last_stage() && grid_.position().tp_rank == 0;
  sums[1] = counts_loss ? result.loss_sum : 0.0;
  sums[2] = counts_loss ? result.weight_sum : 0.0;
  grid_.workers().all_reduce_sum(sums + 1, 2);
  result.times.norm_comm += since(t);
  result.grad_norm = std::sqrt(sums[0]);
  result.loss_sum = sums[1];
  result.weight_sum = sums[2];

  result.skipped = !std::isfinite(result.grad_norm) || !std::isfinite(result.loss_sum);
  if (apply && !result.skipped) {
    t = Clock::now();
    opt_.step(model_.params(), model_.grads(), lr, opt_.clip_coefficient(result.grad_norm));
    // The ZeRO-1 all-gather happens inside step(); attribute the whole step there: it is small.
    if (opt_.zero1()) result.times.dp_comm += since(t);
  }
  result.times.total = since(t_step);
  return result;
}

StepResult ParallelTrainer::evaluate(const std::vector<MicroBatch>& micro_batches, int64_t batch, int64_t seq) {
  const auto t_step = Clock::now();
  StepResult result;
  const int stage = grid_.position().pp_rank;
  const int64_t act = batch * seq * model_.config().hidden_size;
  model_.set_slots(1);
  recv_buf_.resize(act);
  Communicator& pp = grid_.pp();
  std::vector<std::unique_ptr<PendingSend>> sends;
  for (const MicroBatch& mb : micro_batches) {
    const float* input = nullptr;
    if (!grid_.first_stage()) {
      const auto t = Clock::now();
      pp.recv(recv_buf_.data(), act, stage - 1);
      result.times.pp_wait += since(t);
      input = recv_buf_.data();
    }
    ForwardLoss l = model_.forward_slot(0, mb.tokens, input, mb.targets, mb.weights, batch, seq);
    result.loss_sum += l.weighted_sum;
    result.weight_sum += l.weight_sum;
    if (grid_.last_stage()) {
      auto tl = model_.token_losses(0);
      result.token_losses.insert(result.token_losses.end(), tl.begin(), tl.end());
    } else {
      sends.push_back(pp.send_async(model_.stage_output(0), act, stage + 1));  // a copy: the slot is reused
    }
  }
  for (auto& s : sends) s->wait();
  const bool counts_loss = grid_.last_stage() && grid_.position().tp_rank == 0;
  double sums[2] = {counts_loss ? result.loss_sum : 0.0, counts_loss ? result.weight_sum : 0.0};
  grid_.workers().all_reduce_sum(sums, 2);
  result.loss_sum = sums[0];
  result.weight_sum = sums[1];
  result.times.total = since(t_step);
  return result;
}

}  // namespace loong
