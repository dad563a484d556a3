// How the coordinator reaches the workers. In one process the worker is called directly; under
// MPI the unit is broadcast over the world communicator (rank 0 = coordinator) and worker 0
// (world rank 1) answers with the report, which every worker holds after the step's reductions
// (the wire: worker/work_unit_wire.h; the workers' loop: worker/worker_serve_loop.h). The
// coordinator never blocks inside MPI while it waits, so that it can notice a silent worker.
#pragma once
#include "coordinator/worker_liveness.h"
#include "parallel/mpi_communicator.h"
#include "training.pb.h"
#include "worker/video_worker.h"

namespace loong {

class WorkerLink {
 public:
  virtual ~WorkerLink() = default;
  // Runs `unit` on every worker and returns the report (empty for CHECKPOINT/LOAD/STOP acks).
  virtual proto::StepReport execute(const proto::WorkUnit& unit) = 0;
};

class InProcessWorkerLink final : public WorkerLink {
 public:
  explicit InProcessWorkerLink(VideoWorker& worker) : worker_(worker) {}
  proto::StepReport execute(const proto::WorkUnit& unit) override { return worker_.execute(unit); }

 private:
  VideoWorker& worker_;
};

// With a LivenessMonitor (borrowed; coordinator/worker_liveness.h), execute checks the workers'
// heartbeats and the unit's deadline while it waits, and throws WorkerSilentError when one fails.
class MpiWorkerLink final : public WorkerLink {
 public:
  explicit MpiWorkerLink(MpiCommunicator& world, LivenessMonitor* liveness = nullptr)
      : world_(world), liveness_(liveness) {}
  proto::StepReport execute(const proto::WorkUnit& unit) override;

 private:
  MpiCommunicator& world_;
  LivenessMonitor* liveness_;
};

}  // namespace loong
