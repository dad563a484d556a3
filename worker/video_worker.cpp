#include "worker/video_worker.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "core/error.h"
#include "model/model_checkpoint.h"

namespace loong {

VideoWorker::VideoWorker(const VideoWorkerOptions& options, ProcessGrid& grid, SampleSource& source)
    : options_(options), grid_(grid), source_(source) {
  const auto& pos = grid.position();
  const auto& l = grid.layout();
  model_ = std::make_unique<LlamaModel>(
      options.model, ModelShard::for_grid(options.model, pos.tp_rank, l.tp, pos.pp_rank, l.pp), &grid.tp());
  model_->init_random(options.init_seed);
  opt_ = std::make_unique<AdamWOptimizer>(model_->tensors(), static_cast<int64_t>(model_->params().size()),
                                          options.adamw, &grid.dp(), options.zero1);
  trainer_ = std::make_unique<ParallelTrainer>(*model_, grid, *opt_);
}

proto::StepReport VideoWorker::execute(const proto::WorkUnit& unit) {
  switch (unit.kind()) {
    case proto::WorkUnit::TRAIN:
      return run_batch(unit, true);
    case proto::WorkUnit::EVAL:
      return run_batch(unit, false);
    case proto::WorkUnit::CHECKPOINT:
      save_model_files(*model_, grid_, opt_.get(), unit.checkpoint_dir());
      return {};
    case proto::WorkUnit::LOAD:
      load_model_files(*model_, opt_.get(), unit.checkpoint_dir());
      return {};
    default:
      return {};
  }
}

proto::StepReport VideoWorker::run_batch(const proto::WorkUnit& unit, bool train) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const int dp = grid_.layout().dp, dp_rank = grid_.position().dp_rank;
  const int64_t total = unit.samples_size();
  if (total % dp != 0)
    throw InputError("work unit of " + std::to_string(total) + " samples for dp " + std::to_string(dp));
  const int64_t mine = total / dp;
  const int64_t M = std::max<int64_t>(1, unit.micro_batches());
  if (mine % M != 0)
    throw InputError("work unit: " + std::to_string(mine) + " samples per dp rank do not split into " +
                     std::to_string(M) + " micro-batches");
  const int64_t per_mb = mine / M;
  const int64_t frames = unit.samples(0).latent_frames();
  const SampleShape shape{options_.text_budget, frames, source_.grid_h(), source_.grid_w()};
  const int64_t L = shape.model_length();
  const VocabLayout vocab = source_.vocab();

  // Build this dp rank's micro-batches. A corrupt record keeps its place (shapes stay fixed) but
  // carries no loss weight; every rank of the replica reads the same record and agrees.
  std::vector<std::vector<int32_t>> tokens(M), targets(M);
  std::vector<std::vector<float>> weights(M);
  std::vector<std::vector<int16_t>> frame_of(M);
  uint64_t corrupt = 0;
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t i = 0; i < per_mb; ++i) {
      const auto& ref = unit.samples(dp_rank * mine + m * per_mb + i);
      if (static_cast<int64_t>(ref.latent_frames()) != frames)
        throw InputError("work unit mixes sample lengths " + std::to_string(frames) + " and " +
                         std::to_string(ref.latent_frames()));
      BuiltSample s;
      try {
        ClipTokens ct = source_.fetch(ref.clip_id(), frames);
        if (ref.caption_clip_id() != 0) ct.text = source_.fetch_text(ref.caption_clip_id());
        if (ref.drop_caption()) ct.text.clear();  // the empty caption: text_prefix pads it with <pad>
        s = build_sample(vocab, shape, options_.weighting, ct.text, ct.codes);
      } catch (const Error& e) {
        ++corrupt;
        if (grid_.position().tp_rank == 0 && grid_.first_stage())
          spdlog::warn("step {}: skipping sample {} (clip {}): {}", unit.step(), ref.sample_index(), ref.clip_id(),
                       e.what());
        s.tokens.assign(L, vocab.pad());
        s.targets.assign(L, vocab.pad());
        s.weights.assign(L, 0.0f);
        s.frame_of_target.assign(L, -1);
      }
      tokens[m].insert(tokens[m].end(), s.tokens.begin(), s.tokens.end());
      targets[m].insert(targets[m].end(), s.targets.begin(), s.targets.end());
      weights[m].insert(weights[m].end(), s.weights.begin(), s.weights.end());
      frame_of[m].insert(frame_of[m].end(), s.frame_of_target.begin(), s.frame_of_target.end());
    }
  }
  std::vector<MicroBatch> mbs;
  for (int64_t m = 0; m < M; ++m) mbs.push_back({tokens[m].data(), targets[m].data(), weights[m].data()});
  const double data_s = std::chrono::duration<double>(Clock::now() - t0).count();

  if (train && unit.inject_nonfinite() &&
      (unit.inject_nonfinite_dp_rank() < 0 || unit.inject_nonfinite_dp_rank() == dp_rank))
    trainer_->poison_next_step();
  StepResult r =
      train ? trainer_->step(mbs, per_mb, L, static_cast<float>(unit.normalizer()), static_cast<float>(unit.lr()))
            : trainer_->evaluate(mbs, per_mb, L);

  // Per-latent-frame loss sums (last bucket: <eov>), from the last stage's per-token losses.
  const int64_t buckets = frames + 1;
  std::vector<double> sums(2 * buckets + 1, 0.0);
  const bool counts = grid_.last_stage() && grid_.position().tp_rank == 0;
  if (counts) {
    size_t k = 0;
    for (int64_t m = 0; m < M; ++m)
      for (size_t i = 0; i < frame_of[m].size(); ++i, ++k) {
        const int16_t f = frame_of[m][i];
        if (f < 0 || weights[m][i] == 0.0f) continue;
        sums[f] += r.token_losses[k];
        sums[buckets + f] += 1;
      }
  }
  sums[2 * buckets] = grid_.position().tp_rank == 0 && grid_.first_stage() ? static_cast<double>(corrupt) : 0.0;
  // Per-rank timings ride along in the same reduction: each worker fills its own row.
  const int W = grid_.workers().size(), me = grid_.position().worker;
  const size_t base = sums.size();
  sums.resize(base + 3 * W, 0.0);
  sums[base + 3 * me] = r.times.compute();
  sums[base + 3 * me + 1] = r.times.total - r.times.compute();
  sums[base + 3 * me + 2] = data_s;
  grid_.workers().all_reduce_sum(sums.data(), static_cast<int64_t>(sums.size()));

  proto::StepReport rep;
  rep.set_step(unit.step());
  rep.set_loss_weighted_sum(r.loss_sum);
  rep.set_weight_sum(r.weight_sum);
  rep.set_grad_norm(r.grad_norm);
  rep.set_skipped(r.skipped);
  for (int64_t f = 0; f < buckets; ++f) {
    rep.add_frame_loss_sum(sums[f]);
    rep.add_frame_token_count(sums[buckets + f]);
  }
  rep.set_corrupt_samples(static_cast<uint64_t>(sums[2 * buckets]));
  rep.set_compute_s(r.times.compute());
  rep.set_tp_comm_s(r.times.tp_comm);
  rep.set_pp_wait_s(r.times.pp_wait + r.times.pp_send);
  rep.set_dp_comm_s(r.times.dp_comm + r.times.norm_comm);
  rep.set_data_wait_s(data_s);
  for (int w = 0; w < W; ++w) {
    auto* rt = rep.add_ranks();
    rt->set_worker(static_cast<uint32_t>(w));
    rt->set_compute_s(sums[base + 3 * w]);
    rt->set_communication_s(sums[base + 3 * w + 1]);
    rt->set_data_wait_s(sums[base + 3 * w + 2]);
  }
  rep.set_step_s(std::chrono::duration<double>(Clock::now() - t0).count());
  return rep;
}

}  // namespace loong
