// The coordinator (docs/architecture.md, Processes; rank 0 under MPI, or the single process): walks the
// curriculum, draws each step's global batch in the deterministic order, sends work units,
// aggregates step reports into the JSONL training log, evaluates on held-out clips, checkpoints
// periodically and on SIGTERM/SIGUSR1, and resumes from the newest complete checkpoint.
#pragma once
#include <atomic>
#include <cstdint>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_store.h"
#include "coordinator/sample_order.h"
#include "coordinator/train_job.h"
#include "coordinator/worker_link.h"
#include "sequence/sample_source.h"

namespace loong {

// What the coordinator tells observers (metrics exporters) after each step or evaluation.
struct StepEvent {
  bool eval = false;
  uint64_t step = 0;  // optimizer steps done
  const CurriculumStage* stage = nullptr;
  size_t stage_index = 0;
  int64_t step_in_stage = 0;
  double lr = 0;
  int64_t tokens = 0;  // model tokens in the global batch
  double tokens_per_s = 0;
  const proto::StepReport* report = nullptr;
  uint64_t skipped_steps = 0, corrupt_samples = 0, consumed_samples = 0;
};

struct CheckpointEvent {
  uint64_t step = 0;
  double seconds = 0;
  std::string dir;
};

class Coordinator {
 public:
  // `source` lists clips (the coordinator never reads frames or tokens); `link` reaches workers.
  Coordinator(const TrainJob& job, SampleSource& source, WorkerLink& link);

  // resume: "" (fresh; refuses a checkpoint directory that already has checkpoints), "auto"
  // (newest complete checkpoint if any), or a checkpoint directory. Returns 0 when the curriculum
  // is done, 3 when stopped by a signal after checkpointing (resume with --resume auto).
  int run(const std::string& resume, int64_t stop_after_steps = -1);

  std::vector<std::function<void(const StepEvent&)>> on_step;
  std::vector<std::function<void(const CheckpointEvent&)>> on_checkpoint;

  // Set by the SIGTERM/SIGUSR1 handler (install_signal_handlers) or by tests.
  static std::atomic<int>& stop_signal();
  static void install_signal_handlers();

 private:
  int64_t samples_per_step(const CurriculumStage& s) const;
  void checkpoint(const proto::TrainingState& state);
  // sequence.json + text_model.spm (sequence/sequence_manifest.h): what generation needs.
  void write_sequence_manifest(const std::filesystem::path& dir, const proto::TrainingState& state) const;
  void evaluate(size_t stage_index, uint64_t step);
  // link_.execute, timed: the time spent waiting for workers is not the coordinator's own time.
  // On WorkerSilentError writes <checkpoint.dir>/FAILED.json, then rethrows.
  proto::StepReport execute(const proto::WorkUnit& unit);

  const TrainJob& job_;
  SampleSource& source_;
  WorkerLink& link_;
  CheckpointStore store_;
  std::vector<ClipEntry> train_clips_, test_clips_;
  std::ofstream log_;
  double waiting_s_ = 0;  // seconds spent in link_.execute so far (all unit kinds)
  std::string last_checkpoint_;  // newest complete checkpoint of this job known to this run ("" none)
};

}  // namespace loong
