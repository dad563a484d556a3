#include "coordinator/metrics_exporter.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

namespace loong {

using prometheus::BuildCounter;
using prometheus::BuildGauge;

struct MetricsExporter::Families {
  prometheus::Family<prometheus::Gauge>& loss;
  prometheus::Family<prometheus::Gauge>& frame_loss;
  prometheus::Family<prometheus::Gauge>& segment_loss;
  prometheus::Family<prometheus::Gauge>& heldout_loss;
  prometheus::Gauge& stage;
  prometheus::Gauge& stage_progress;
  prometheus::Gauge& step;
  prometheus::Counter& tokens;
  prometheus::Gauge& tokens_per_s;
  prometheus::Gauge& flops;
  prometheus::Gauge& mfu;
  prometheus::Family<prometheus::Gauge>& step_seconds;
  prometheus::Gauge& grad_norm;
  prometheus::Gauge& lr;
  prometheus::Counter& skipped;
  prometheus::Counter& corrupt;
  prometheus::Counter& samples;
  prometheus::Counter& checkpoints;
  prometheus::Gauge& checkpoint_seconds;
  prometheus::Family<prometheus::Gauge>& worker_up;
  prometheus::Family<prometheus::Gauge>& worker_last_report;
};

MetricsExporter::MetricsExporter(const MetricsOptions& options, std::function<double(int64_t)> flops_per_token,
                                 int workers)
    : options_(options), flops_per_token_(std::move(flops_per_token)), workers_(workers) {
  endpoint_ = std::make_unique<MetricsEndpoint>(options_);
  auto& r = endpoint_->registry();
  f_ = std::unique_ptr<Families>(new Families{
      BuildGauge()
          .Name("loong_train_loss")
          .Help("Training loss of the last step, per stage; kind=weighted is the "
                "optimised (re-weighted) loss, kind=unweighted the mean token loss")
          .Register(r),
      BuildGauge()
          .Name("loong_train_frame_loss")
          .Help("Mean unweighted token loss per latent-frame index (frame=eov for the end token), split=train|heldout")
          .Register(r),
      BuildGauge()
          .Name("loong_train_segment_loss")
          .Help("Mean unweighted token loss per segment: first frame, short clip, beyond")
          .Register(r),
      BuildGauge()
          .Name("loong_heldout_video_token_loss")
          .Help("Held-out (test split) video-token loss at the last evaluation, per stage")
          .Register(r),
      BuildGauge().Name("loong_train_stage").Help("Current curriculum stage (1-based)").Register(r).Add({}),
      BuildGauge()
          .Name("loong_train_stage_progress_ratio")
          .Help("Fraction of the current stage's steps done")
          .Register(r)
          .Add({}),
      BuildGauge().Name("loong_train_step").Help("Optimizer steps done").Register(r).Add({}),
      BuildCounter().Name("loong_train_tokens_total").Help("Model tokens trained on").Register(r).Add({}),
      BuildGauge()
          .Name("loong_train_tokens_per_second")
          .Help("Model tokens per second in the last step")
          .Register(r)
          .Add({}),
      BuildGauge()
          .Name("loong_train_model_flops_per_second")
          .Help("Model FLOP/s in the last step (6N + attention per token)")
          .Register(r)
          .Add({}),
      BuildGauge()
          .Name("loong_train_mfu_ratio")
          .Help("Model FLOP/s over the configured peak of all workers")
          .Register(r)
          .Add({}),
      BuildGauge()
          .Name("loong_train_step_seconds")
          .Help("Step time per worker rank and part: compute, communication, data_wait")
          .Register(r),
      BuildGauge().Name("loong_train_grad_norm").Help("Global gradient norm before clipping").Register(r).Add({}),
      BuildGauge().Name("loong_train_learning_rate").Help("Learning rate of the last step").Register(r).Add({}),
      BuildCounter()
          .Name("loong_train_skipped_steps_total")
          .Help("Steps not applied because the loss or gradient was not finite")
          .Register(r)
          .Add({}),
      BuildCounter()
          .Name("loong_train_corrupt_samples_total")
          .Help("Samples skipped because their corpus record was corrupt")
          .Register(r)
          .Add({}),
      BuildCounter().Name("loong_train_samples_total").Help("Corpus samples consumed").Register(r).Add({}),
      BuildCounter().Name("loong_checkpoints_written_total").Help("Checkpoints written").Register(r).Add({}),
      BuildGauge()
          .Name("loong_checkpoint_duration_seconds")
          .Help("Wall time of the last checkpoint")
          .Register(r)
          .Add({}),
      BuildGauge().Name("loong_worker_up").Help("1 while the worker rank answered the last step").Register(r),
      BuildGauge()
          .Name("loong_worker_last_report_timestamp_seconds")
          .Help("Unix time of the worker rank's last report")
          .Register(r)});
  for (int w = 0; w < workers_; ++w) f_->worker_up.Add({{"worker", std::to_string(w)}}).Set(0);
}

MetricsExporter::~MetricsExporter() = default;

void MetricsExporter::attach(Coordinator& c) {
  c.on_step.push_back([this](const StepEvent& e) { record_step(e); });
  c.on_checkpoint.push_back([this](const CheckpointEvent& e) { record_checkpoint(e); });
}

void MetricsExporter::record_step(const StepEvent& e) {
  const proto::StepReport& r = *e.report;
  const std::string stage = std::to_string(e.stage_index + 1);
  const int buckets = r.frame_loss_sum_size();
  double seg_sum[3] = {0, 0, 0}, seg_n[3] = {0, 0, 0}, all_sum = 0, all_n = 0;
  for (int f = 0; f < buckets; ++f) {
    const double n = r.frame_token_count(f);
    const std::string label = f == buckets - 1 ? "eov" : std::to_string(f);
    if (n > 0)
      f_->frame_loss.Add({{"frame", label}, {"split", e.eval ? "heldout" : "train"}}).Set(r.frame_loss_sum(f) / n);
    const int seg = f == 0 ? 0 : (f < 5 ? 1 : 2);  // docs/architecture.md: first frame | 17-frame clip | beyond
    seg_sum[seg] += r.frame_loss_sum(f), seg_n[seg] += n;
    all_sum += r.frame_loss_sum(f), all_n += n;
  }
  if (e.eval) {
    if (all_n > 0) f_->heldout_loss.Add({{"stage", stage}}).Set(all_sum / all_n);
    return;
  }
  const char* seg_names[3] = {"first_frame", "short_clip", "beyond"};
  for (int s = 0; s < 3; ++s)
    if (seg_n[s] > 0) f_->segment_loss.Add({{"segment", seg_names[s]}}).Set(seg_sum[s] / seg_n[s]);
  if (r.weight_sum() > 0)
    f_->loss.Add({{"stage", stage}, {"kind", "weighted"}}).Set(r.loss_weighted_sum() / r.weight_sum());
  if (all_n > 0) f_->loss.Add({{"stage", stage}, {"kind", "unweighted"}}).Set(all_sum / all_n);
  f_->stage.Set(static_cast<double>(e.stage_index + 1));
  f_->stage_progress.Set(static_cast<double>(e.step_in_stage) / static_cast<double>(e.stage->steps));
  f_->step.Set(static_cast<double>(e.step));
  f_->tokens.Increment(static_cast<double>(e.tokens));
  f_->tokens_per_s.Set(e.tokens_per_s);
  const double flops = flops_per_token_ ? flops_per_token_(e.stage->latent_frames) * e.tokens_per_s : 0.0;
  f_->flops.Set(flops);
  if (options_.peak_flops > 0) f_->mfu.Set(flops / (options_.peak_flops * workers_));
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  for (const auto& rt : r.ranks()) {
    const std::string w = std::to_string(rt.worker());
    f_->step_seconds.Add({{"worker", w}, {"part", "compute"}}).Set(rt.compute_s());
    f_->step_seconds.Add({{"worker", w}, {"part", "communication"}}).Set(rt.communication_s());
    f_->step_seconds.Add({{"worker", w}, {"part", "data_wait"}}).Set(rt.data_wait_s());
    f_->worker_up.Add({{"worker", w}}).Set(1);
    f_->worker_last_report.Add({{"worker", w}}).Set(now);
  }
  f_->grad_norm.Set(r.grad_norm());
  f_->lr.Set(e.lr);
  if (r.skipped()) f_->skipped.Increment();
  if (r.corrupt_samples() > 0) f_->corrupt.Increment(static_cast<double>(r.corrupt_samples()));
  // Consumed samples continue from the checkpoint after a resume: the counter catches up once.
  const double consumed = static_cast<double>(e.consumed_samples);
  if (consumed > f_->samples.Value()) f_->samples.Increment(consumed - f_->samples.Value());
}

void MetricsExporter::record_checkpoint(const CheckpointEvent& e) {
  f_->checkpoints.Increment();
  f_->checkpoint_seconds.Set(e.seconds);
}

}  // namespace loong
