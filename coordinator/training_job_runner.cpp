#include "coordinator/training_job_runner.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "coordinator/coordinator.h"
#include "coordinator/metrics_exporter.h"
#include "coordinator/worker_liveness.h"
#include "core/directory_lock.h"
#include "parallel/mpi_world.h"
#include "worker/worker_serve_loop.h"

namespace loong {

VideoWorkerOptions video_worker_options(const TrainJob& job, const SampleSource& source) {
  VideoWorkerOptions o;
  o.model = job.model_for(source.vocab(), source.grid_h(), source.grid_w());
  o.zero1 = job.zero1;
  o.adamw = job.adamw;
  o.weighting = job.weighting;
  o.text_budget = job.text_budget;
  o.init_seed = job.seed;
  return o;
}

int run_training_job(const TrainJob& job, SampleSource& source, const RunOptions& options) {
  MpiWorld mpi = join_mpi_world(job.layout);
  // The coordinator checks and locks checkpoint.dir before any work, so that a second job on the
  // same directory is refused (naming the holder) instead of interleaving with this one.
  std::unique_ptr<DirectoryLock> checkpoint_lock;
  if (!mpi.world || mpi.world->rank() == 0)
    checkpoint_lock = std::make_unique<DirectoryLock>(job.checkpoint_dir, "checkpoint.dir");
  // Heartbeats and rank -> host, before anything that can take long (coordinator/worker_liveness.h).
  std::unique_ptr<RankLiveness> liveness;
  if (mpi.world) {
    LivenessSettings ls;
    ls.heartbeat_timeout_s = job.heartbeat_timeout_s;
    ls.work_unit_timeout_s = job.work_unit_timeout_s;
    liveness = join_liveness(*mpi.world, ls);
  }
  // Every rank takes SIGTERM/SIGUSR1 (Slurm signals all tasks); only the coordinator acts on it,
  // the workers keep serving until it tells them to checkpoint and stop.
  Coordinator::install_signal_handlers();
  const int world_rank = mpi.world ? mpi.world->rank() : 0;
  if (!options.pid_dir.empty()) {
    std::filesystem::create_directories(options.pid_dir);
    std::ofstream(std::filesystem::path(options.pid_dir) / std::to_string(world_rank)) << ::getpid();
  }
  std::unique_ptr<VideoWorker> worker;
  if (mpi.is_worker()) {
    worker = std::make_unique<VideoWorker>(video_worker_options(job, source), *mpi.grid, source);
  }
  if (!mpi.is_coordinator()) {
    serve_work_units(*mpi.world, *worker, mpi.grid->position().worker == 0);
    return 0;
  }
  std::unique_ptr<WorkerLink> link;
  if (mpi.single_process())
    link = std::make_unique<InProcessWorkerLink>(*worker);
  else
    link = std::make_unique<MpiWorkerLink>(*mpi.world, liveness->monitor.get());
  if (liveness && !liveness->monitor->heartbeats())
    spdlog::warn("the MPI library does not provide MPI_THREAD_MULTIPLE: no worker heartbeats, a stopped worker is "
                 "noticed only after coordinator.work_unit_timeout_s = {} s", job.work_unit_timeout_s);
  Coordinator coordinator(job, source, *link);
  std::unique_ptr<MetricsExporter> metrics;
  if (options.metrics && !job.metrics_address.empty()) {
    MetricsOptions mo;
    mo.address = job.metrics_address;
    mo.port = static_cast<int>(job.metrics_port);
    mo.job_name = job.metrics_job_name;
    mo.peak_flops = job.metrics_peak_flops;
    mo.targets_dir = job.metrics_targets_dir;
    const LlamaConfig model = job.model_for(source.vocab(), source.grid_h(), source.grid_w());
    metrics = std::make_unique<MetricsExporter>(
        mo,
        [&job, model, &source](int64_t frames) {
          return training_flops_per_token(model, job.shape(frames, source.grid_h(), source.grid_w()).model_length());
        },
        job.layout.workers());
    metrics->attach(coordinator);
    spdlog::info("metrics: http://{}:{}/metrics", job.metrics_address, metrics->port());
  }
  try {
    return coordinator.run(options.resume, options.stop_after);
  } catch (const WorkerSilentError& e) {
    // The other ranks wait in collectives with the silent one; only the launcher can end them.
    std::fprintf(stderr, "loong train: error: %s\n", e.what());
    std::fflush(stderr);
    std::fflush(stdout);
    MPI_Abort(mpi.world->comm(), kExitWorkerSilent);
    return kExitWorkerSilent;
  }
}

}  // namespace loong
