// What a worker rank runs under MPI: the worker side of coordinator/worker_link.h's MpiWorkerLink.
#pragma once
#include "parallel/mpi_communicator.h"
#include "worker/video_worker.h"

namespace loong {

// Receives units until STOP, executes them, and (on worker 0, `answer`) sends each report to the
// coordinator. Returns when STOP arrives.
void serve_work_units(MpiCommunicator& world, VideoWorker& worker, bool answer);

}  // namespace loong
