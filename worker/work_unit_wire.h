// The wire between the coordinator (world rank 0) and the worker ranks (docs/architecture.md,
// Processes): each unit is a serialized proto::WorkUnit broadcast from rank 0; worker 0 (world
// rank 1) answers with a serialized proto::StepReport sent under kStepReportTag. Both sides of the
// link use this one definition (coordinator/worker_link.h, worker/worker_serve_loop.h).
#pragma once
#include <functional>
#include <string>

#include "parallel/mpi_communicator.h"

namespace loong {

inline constexpr int kStepReportTag = 7;

// Broadcast of a serialized message from world rank 0: length, then bytes, both non-blocking
// (the root of a large broadcast waits for its receivers). The wait polls, so that an idle process
// does not spin a core; `waiting` (may be empty) runs between polls, at most every few
// milliseconds.
void broadcast_bytes(MpiCommunicator& world, std::string& bytes, const std::function<void()>& waiting = {});

}  // namespace loong
