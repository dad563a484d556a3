// Runs a training job in this process's role (docs/architecture.md, Processes): the coordinator on world
// rank 0 (or the single process, which is also the worker), a worker serving work units on the
// other ranks. MPI must be initialised. Used by `loong train` and by the runtime tests.
#pragma once
#include <cstdint>
#include <string>

#include "coordinator/train_job.h"
#include "sequence/sample_source.h"
#include "worker/video_worker.h"

namespace loong {

struct RunOptions {
  std::string resume;       // "", "auto" or a checkpoint directory
  int64_t stop_after = -1;  // stop (with a checkpoint) after this many steps of this run
  bool metrics = true;      // start the Prometheus exporter on the coordinator ([metrics])
  std::string pid_dir;      // if set, each rank writes its PID to <pid_dir>/<world rank>
};

// The worker settings of `job` on the data of `source` (model shape from its vocabulary and grid).
VideoWorkerOptions video_worker_options(const TrainJob& job, const SampleSource& source);

// Returns the process exit status: 0 done, 3 stopped by a signal after checkpointing. Under MPI,
// when a worker stops answering or a unit passes its deadline (coordinator/worker_liveness.h), the
// coordinator names the ranks and hosts, writes <checkpoint.dir>/FAILED.json and ends the whole
// job with MPI_Abort(kExitWorkerSilent = 4). MPI must be initialised with MPI_THREAD_MULTIPLE for
// the heartbeats (MPI_Init_thread); with less only the work-unit deadline applies.
int run_training_job(const TrainJob& job, SampleSource& source, const RunOptions& options);

}  // namespace loong
