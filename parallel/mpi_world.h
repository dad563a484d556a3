// The job's processes (DESIGN.md, Processes): under mpirun/srun, world rank 0 is the coordinator
// and ranks 1..W the workers arranged in the DP x PP x TP grid; run as a single process it plays
// both roles with the local grid. MPI must be initialised by the caller.
#pragma once
#include <memory>

#include "parallel/mpi_communicator.h"
#include "parallel/process_grid.h"

namespace loong {

struct MpiWorld {
  std::unique_ptr<MpiCommunicator> world;  // null when the job is one process
  std::unique_ptr<ProcessGrid> grid;       // this rank's grid; null on a dedicated coordinator rank
  bool single_process() const { return world == nullptr; }
  bool is_coordinator() const { return single_process() || world->rank() == 0; }
  bool is_worker() const { return grid != nullptr; }
};

// Collective over MPI_COMM_WORLD. ConfigError (before any work) when the layout does not match
// the number of worker ranks.
MpiWorld join_mpi_world(const ParallelLayout& layout);

// Waits at a world barrier without spinning a core (the coordinator shares nodes with workers):
// polls a non-blocking barrier every millisecond.
void idle_barrier(MpiCommunicator& world);

}  // namespace loong
