#include "coordinator/coordinator.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"
#include "core/progress.h"
#include "sequence/sequence_manifest.h"

namespace fs = std::filesystem;

namespace loong {
namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

nlohmann::json frame_losses(const proto::StepReport& r) {
  nlohmann::json a = nlohmann::json::array();
  for (int f = 0; f < r.frame_loss_sum_size(); ++f)
    a.push_back(r.frame_token_count(f) > 0 ? r.frame_loss_sum(f) / r.frame_token_count(f) : 0.0);
  return a;
}
}  // namespace

std::atomic<int>& Coordinator::stop_signal() {
  static std::atomic<int> s{0};
  return s;
}

void Coordinator::install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = [](int sig) { stop_signal().store(sig); };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
}

Coordinator::Coordinator(const TrainJob& job, SampleSource& source, WorkerLink& link)
    : job_(job), source_(source), link_(link), store_(job.checkpoint_dir) {
  train_clips_ = source.clips("train");
  test_clips_ = source.clips("test");
}

int64_t Coordinator::samples_per_step(const CurriculumStage& s) const {
  const int64_t L = job_.shape(s.latent_frames, source_.grid_h(), source_.grid_w()).model_length();
  const int64_t unit = job_.layout.dp * job_.micro_batch_size;
  return std::max<int64_t>(1, s.batch_tokens / L / unit) * unit;
}

proto::StepReport Coordinator::execute(const proto::WorkUnit& unit) {
  const auto t = Clock::now();
  proto::StepReport r;
  try {
    r = link_.execute(unit);
  } catch (const WorkerSilentError& e) {
    // What can safely be written: the reason, next to the checkpoints (an unfinished checkpoint
    // directory stays uncommitted and is never used).
    try {
      write_failure_record(store_.root(), e, last_checkpoint_);
    } catch (const Error& w) {
      spdlog::error("{}", w.what());
    }
    throw;
  }
  waiting_s_ += since(t);
  return r;
}

void Coordinator::write_sequence_manifest(const fs::path& dir, const proto::TrainingState& state) const {
  int64_t longest = 1;
  for (const auto& s : job_.curriculum.stages) longest = std::max(longest, s.latent_frames);
  const CurriculumStage& stage = job_.curriculum.stages.at(state.stage());
  const SourceProvenance provenance = source_.provenance();
  SequenceManifest m = SequenceManifest::for_training(
      source_.vocab(), job_.shape(stage.latent_frames, source_.grid_h(), source_.grid_w()), longest, provenance);
  m.caption_dropout = job_.caption_dropout;
  m.write(dir, provenance.text_model);
}

void Coordinator::checkpoint(const proto::TrainingState& state) {
  const auto t = Clock::now();
  proto::WorkUnit unit;
  unit.set_kind(proto::WorkUnit::CHECKPOINT);
  unit.set_step(state.step());
  const fs::path tmp = store_.begin(state.step());
  write_sequence_manifest(tmp, state);
  unit.set_checkpoint_dir(tmp.string());
  execute(unit);
  const fs::path dir = store_.commit(state.step(), state, job_.keep_last);
  last_checkpoint_ = dir.string();
  const double secs = since(t);
  spdlog::info("checkpoint {} written in {:.2f} s", dir.string(), secs);
  for (auto& f : on_checkpoint) f({state.step(), secs, dir.string()});
}

void Coordinator::evaluate(size_t stage_index, uint64_t step) {
  const CurriculumStage& s = job_.curriculum.stages[stage_index];
  std::vector<ClipEntry> eligible;
  for (const auto& c : test_clips_)
    if (c.latent_frames >= s.latent_frames) eligible.push_back(c);
  const int64_t unit_size = job_.layout.dp * job_.micro_batch_size;
  const int64_t n = std::min<int64_t>(job_.eval_samples, static_cast<int64_t>(eligible.size())) / unit_size * unit_size;
  if (n == 0) {
    spdlog::warn("no held-out clips with {} latent frames: skipping evaluation", s.latent_frames);
    return;
  }
  std::sort(eligible.begin(), eligible.end(),
            [](const ClipEntry& a, const ClipEntry& b) { return a.clip_id < b.clip_id; });
  // One EVAL unit over the first n held-out clips; `caption_shift` > 0 gives sample i the caption of
  // sample (i + shift) mod n instead of its own (the shuffled-caption control).
  auto run = [&](int64_t caption_shift) {
    proto::WorkUnit unit;
    unit.set_kind(proto::WorkUnit::EVAL);
    unit.set_step(step);
    unit.set_stage(static_cast<uint32_t>(stage_index));
    unit.set_micro_batches(static_cast<uint32_t>(n / unit_size));
    for (int64_t i = 0; i < n; ++i) {
      auto* ref = unit.add_samples();
      ref->set_clip_id(eligible[i].clip_id);
      ref->set_latent_frames(static_cast<uint32_t>(s.latent_frames));
      if (caption_shift > 0) ref->set_caption_clip_id(eligible[(i + caption_shift) % n].clip_id);
    }
    return execute(unit);
  };
  auto video_loss = [](const proto::StepReport& r) {
    double sum = 0, count = 0;
    for (int f = 0; f < r.frame_loss_sum_size(); ++f) sum += r.frame_loss_sum(f), count += r.frame_token_count(f);
    return count > 0 ? sum / count : 0.0;
  };
  const proto::StepReport r = run(0);
  const double loss = r.weight_sum() > 0 ? r.loss_weighted_sum() / r.weight_sum() : 0.0;
  nlohmann::json j = {{"eval", true},
                      {"step", step},
                      {"stage", stage_index + 1},
                      {"stage_name", s.name},
                      {"samples", n},
                      {"loss", loss},
                      {"video_token_loss", video_loss(r)},
                      {"frame_loss", frame_losses(r)}};
  std::printf("eval  step %6llu  stage %zu (%s)  held-out video-token loss %.4f  per frame %s\n",
              static_cast<unsigned long long>(step), stage_index + 1, s.name.c_str(), video_loss(r),
              frame_losses(r).dump(-1, ' ', false).c_str());
  if (job_.eval_caption_control && n > 1) {
    // Half a list away: every sample gets another clip's caption (if the model ignores the text,
    // the two losses agree).
    const proto::StepReport shuffled = run(n / 2);
    j["video_token_loss_shuffled"] = video_loss(shuffled);
    j["frame_loss_shuffled"] = frame_losses(shuffled);
    std::printf("      shuffled captions: video-token loss %.4f  per frame %s\n", video_loss(shuffled),
                frame_losses(shuffled).dump(-1, ' ', false).c_str());
  }
  log_ << j.dump() << "\n" << std::flush;
  std::fflush(stdout);
  StepEvent e;
  e.eval = true;
  e.step = step;
  e.stage = &s;
  e.stage_index = stage_index;
  e.report = &r;
  for (auto& f : on_step) f(e);
}

int Coordinator::run(const std::string& resume, int64_t stop_after_steps) {
  proto::TrainingState state;
  int64_t resumed_at = -1;
  state.set_seed(job_.seed);
  for (size_t i = 0; i < job_.curriculum.stages.size(); ++i) state.add_consumed_samples(0);
  std::vector<std::string> skipped;
  std::optional<fs::path> from;
  if (resume == "auto") {
    from = store_.latest_valid(&skipped);
    for (const auto& s : skipped) spdlog::warn("ignoring checkpoint {}", s);
  } else if (!resume.empty()) {
    const std::string why = CheckpointStore::validate(resume);
    if (!why.empty()) throw InputError("--resume " + resume + ": not a usable checkpoint: " + why);
    from = fs::path(resume);
  } else if (store_.latest_valid()) {
    throw InputError("checkpoint directory " + store_.root().string() +
                     " already holds checkpoints; pass --resume auto to continue, or choose another checkpoint.dir");
  }
  if (from) {
    state = CheckpointStore::read_state(*from);
    if (state.consumed_samples_size() != static_cast<int>(job_.curriculum.stages.size()))
      throw ConfigError(from->string() + " was written for " + std::to_string(state.consumed_samples_size()) +
                        " curriculum stages; this config has " + std::to_string(job_.curriculum.stages.size()));
    proto::WorkUnit load;
    load.set_kind(proto::WorkUnit::LOAD);
    load.set_checkpoint_dir(from->string());
    execute(load);
    last_checkpoint_ = from->string();
    spdlog::info("resumed from {} at step {}", from->string(), state.step());
    resumed_at = static_cast<int64_t>(state.step());
  }
  fs::path log_path = job_.log;
  if (log_path.is_relative()) log_path = store_.root() / log_path;
  fs::create_directories(log_path.parent_path());
  log_.open(log_path, std::ios::app);
  if (!log_) throw IoError("cannot open training log " + log_path.string());
  // Each run of the job starts its log section with where it starts from, and with why the
  // previous run failed if it left a FAILED.json (coordinator/worker_liveness.h), which then goes.
  nlohmann::json start = {{"event", resumed_at >= 0 ? "resume" : "start"}, {"step", state.step()}};
  const fs::path failed = store_.root() / "FAILED.json";
  if (fs::exists(failed)) {
    std::string text = read_file(failed);
    nlohmann::json previous = nlohmann::json::parse(text, nullptr, false);
    start["previous_failure"] = previous.is_discarded() ? nlohmann::json(text) : previous;
    spdlog::warn("the previous run failed ({}): {}", failed.string(), text.substr(0, 400));
  }
  log_ << start.dump() << "\n" << std::flush;
  if (fs::exists(failed)) fs::remove(failed);

  std::vector<std::unique_ptr<SampleOrder>> orders(job_.curriculum.stages.size());
  const int64_t total = job_.curriculum.total_steps();
  ProgressBar bar("train", total);
  int64_t steps_this_run = 0;
  int64_t consecutive_skips = 0;
  auto last_report = Clock::now();
  double waiting_at_report = waiting_s_;
  while (static_cast<int64_t>(state.step()) < total) {
    const auto [si, in_stage] = job_.curriculum.locate(static_cast<int64_t>(state.step()));
    const CurriculumStage& stage = job_.curriculum.stages[si];
    if (!orders[si]) {
      std::vector<uint64_t> ids;
      for (const auto& c : train_clips_)
        if (c.latent_frames >= stage.latent_frames) ids.push_back(c.clip_id);
      orders[si] = std::make_unique<SampleOrder>(std::move(ids), job_.seed, static_cast<int>(si));
      spdlog::info("stage {} ({}): {} latent frames, {} eligible clips, {} samples per step", si + 1, stage.name,
                   stage.latent_frames, orders[si]->epoch_size(), samples_per_step(stage));
    }
    // A baseline at the start of every stage, so each stage's held-out loss can be seen to fall.
    if (job_.eval_every > 0 && in_stage == 0) evaluate(si, state.step());
    if (job_.step_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(job_.step_delay_ms));
    const SampleShape shape = job_.shape(stage.latent_frames, source_.grid_h(), source_.grid_w());
    const int64_t S = samples_per_step(stage);
    proto::WorkUnit unit;
    unit.set_kind(proto::WorkUnit::TRAIN);
    unit.set_step(state.step());
    unit.set_stage(static_cast<uint32_t>(si));
    unit.set_micro_batches(static_cast<uint32_t>(S / (job_.layout.dp * job_.micro_batch_size)));
    // Every scheme's weights sum to the video-token count of a sample (sequence/sequence_format.h).
    unit.set_normalizer(static_cast<double>(S) * (stage.latent_frames * shape.tokens_per_frame() + 1));
    const double lr = stage.schedule().at(in_stage);
    const int64_t one_based = static_cast<int64_t>(state.step()) + 1;
    unit.set_inject_nonfinite(job_.nonfinite_at_step > 0 && one_based >= job_.nonfinite_at_step &&
                              one_based < job_.nonfinite_at_step + job_.nonfinite_steps);
    unit.set_inject_nonfinite_dp_rank(job_.nonfinite_dp_rank);
    unit.set_lr(lr);
    const uint64_t first = state.consumed_samples(si);
    for (int64_t i = 0; i < S; ++i) {
      auto* ref = unit.add_samples();
      ref->set_sample_index(first + i);
      ref->set_clip_id(orders[si]->clip_at(static_cast<int64_t>(first + i)));
      ref->set_latent_frames(static_cast<uint32_t>(stage.latent_frames));
      ref->set_drop_caption(SampleOrder::caption_dropped(job_.seed, static_cast<int>(si), first + i, job_.caption_dropout));
    }
    // The coordinator's own time for this step: wall time since the previous step's report, less
    // the time spent waiting for workers on evaluation and checkpoint units in between.
    const double coordinator_s = since(last_report) - (waiting_s_ - waiting_at_report);
    const double waiting_before = waiting_s_;
    const proto::StepReport r = execute(unit);
    const double step_s = waiting_s_ - waiting_before;
    last_report = Clock::now();
    waiting_at_report = waiting_s_;
    state.set_consumed_samples(si, first + S);
    state.set_step(state.step() + 1);
    state.set_stage(static_cast<uint32_t>(si));
    if (r.skipped()) {
      state.set_skipped_steps(state.skipped_steps() + 1);
      ++consecutive_skips;
      spdlog::warn("step {}: non-finite loss or gradient (norm {}): update skipped", state.step(), r.grad_norm());
    } else {
      consecutive_skips = 0;
    }
    state.set_corrupt_samples(state.corrupt_samples() + r.corrupt_samples());
    const double loss = r.weight_sum() > 0 ? r.loss_weighted_sum() / r.weight_sum() : 0.0;
    const int64_t tokens = S * shape.model_length();
    nlohmann::json j = {{"step", state.step()},
                        {"stage", si + 1},
                        {"stage_name", stage.name},
                        {"loss", loss},
                        {"frame_loss", frame_losses(r)},
                        {"tokens_per_s", tokens / step_s},
                        {"lr", lr},
                        {"grad_norm", r.grad_norm()},
                        {"skipped", r.skipped()},
                        {"samples", {first, first + S}},
                        {"compute_s", r.compute_s()},
                        {"comm_s", r.tp_comm_s() + r.pp_wait_s() + r.dp_comm_s()},
                        {"data_wait_s", r.data_wait_s()},
                        {"step_s", step_s},
                        {"coordinator_s", coordinator_s},
                        {"tokens", tokens}};
    log_ << j.dump() << "\n" << std::flush;
    if (consecutive_skips >= job_.max_consecutive_skips) {
      // Skipped updates leave the weights as they were, but a run that only skips is not training:
      // stop without a checkpoint (the last committed one is intact) and say what to change.
      log_ << nlohmann::json({{"event", "diverged"}, {"step", state.step()}, {"consecutive_skips", consecutive_skips}})
                  .dump()
           << "\n"
           << std::flush;
      proto::WorkUnit stop;
      stop.set_kind(proto::WorkUnit::STOP);
      link_.execute(stop);
      bar.finish("diverged");
      const auto last = store_.latest_valid();
      throw DivergedError("steps " + std::to_string(state.step() - consecutive_skips + 1) + " to " +
                          std::to_string(state.step()) + ": " + std::to_string(consecutive_skips) +
                          " consecutive steps had a non-finite loss or gradient (train.max_consecutive_skips = " +
                          std::to_string(job_.max_consecutive_skips) + "); stopped without checkpointing. " +
                          (last ? "The last good checkpoint is " + last->string() : std::string("No checkpoint was written")) +
                          "; lower the learning rate or check the data before resuming");
    }
    char status[96];
    std::snprintf(status, sizeof status, "stage %zu loss %.4f", si + 1, loss);
    bar.update(static_cast<int64_t>(state.step()), status);
    StepEvent e;
    e.step = state.step();
    e.stage = &stage;
    e.stage_index = si;
    e.step_in_stage = in_stage + 1;
    e.lr = lr;
    e.tokens = tokens;
    e.tokens_per_s = tokens / step_s;
    e.report = &r;
    e.skipped_steps = state.skipped_steps();
    e.corrupt_samples = state.corrupt_samples();
    for (int i = 0; i < state.consumed_samples_size(); ++i) e.consumed_samples += state.consumed_samples(i);
    for (auto& f : on_step) f(e);
    ++steps_this_run;

    const bool stage_end = in_stage + 1 == stage.steps;
    if (job_.eval_every > 0 && (stage_end || static_cast<int64_t>(state.step()) % job_.eval_every == 0))
      evaluate(si, state.step());
    const bool periodic = job_.checkpoint_every > 0 && static_cast<int64_t>(state.step()) % job_.checkpoint_every == 0;
    const int sig = stop_signal().load();
    const bool stop_now = sig != 0 || (stop_after_steps > 0 && steps_this_run >= stop_after_steps);
    if (periodic || stage_end || stop_now || static_cast<int64_t>(state.step()) == total) checkpoint(state);
    if (stop_now) {
      if (sig)
        spdlog::warn("signal {} received: checkpointed at step {}; resume with --resume auto", sig, state.step());
      proto::WorkUnit stop;
      stop.set_kind(proto::WorkUnit::STOP);
      execute(stop);
      bar.finish("stopped");
      return sig ? kExitCheckpointedOnSignal : 0;
    }
  }
  bar.finish("done");
  proto::WorkUnit stop;
  stop.set_kind(proto::WorkUnit::STOP);
  execute(stop);
  return 0;
}

}  // namespace loong
