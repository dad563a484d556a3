// The job's processes (docs/architecture.md, Processes): under mpirun/srun, world rank 0 is the coordinator
// and ranks 1..W the workers arranged in the DP x PP x TP grid; run as a single process it plays
// both roles with the local grid, without MPI. The caller initialises MPI (MpiSession) when the
// process was started by a launcher.
#pragma once
#include <memory>

#include "parallel/mpi_communicator.h"
#include "parallel/process_grid.h"

namespace loong {

// Whether an MPI launcher started this process (mpirun/orterun: OMPI_COMM_WORLD_SIZE; PMIx, e.g.
// srun --mpi=pmix: PMIX_RANK; PMI-1/2, e.g. MPICH's hydra or srun --mpi=pmi2: PMI_RANK / PMI_SIZE).
// The one place that decides whether a process initialises MPI: without a launcher, MPI_Init would
// start Open MPI's singleton runtime, which opens TCP listeners on every interface (and a helper
// daemon) for a job that talks to no one.
bool launched_by_mpi();

// MPI for the lifetime of a command: MPI_Init when launched_by_mpi(), MPI_Finalize on destruction;
// otherwise nothing at all (no MPI call is made, MPI_Initialized stays false).
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  bool active() const { return active_; }
  int world_size() const;  // 1 without MPI
  // Ends the whole job with `code` (MPI_Abort) when it has more than one rank, so the other ranks do
  // not wait forever for this one; returns otherwise (the caller exits normally).
  void abort_job_if_parallel(int code) const;

 private:
  bool active_ = false;
};

struct MpiWorld {
  std::unique_ptr<MpiCommunicator> world;  // null when the job is one process
  std::unique_ptr<ProcessGrid> grid;       // this rank's grid; null on a dedicated coordinator rank
  bool single_process() const { return world == nullptr; }
  bool is_coordinator() const { return single_process() || world->rank() == 0; }
  bool is_worker() const { return grid != nullptr; }
};

// Collective over MPI_COMM_WORLD when MPI is initialised; without MPI (no launcher) the single-process
// world. ConfigError (before any work) when the layout does not match the number of worker ranks.
MpiWorld join_mpi_world(const ParallelLayout& layout);

// Waits at a world barrier without spinning a core (the coordinator shares nodes with workers):
// polls a non-blocking barrier every millisecond.
void idle_barrier(MpiCommunicator& world);

}  // namespace loong
