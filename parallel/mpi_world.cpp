#include "parallel/mpi_world.h"

#include <chrono>
#include <cstdlib>
#include <thread>

#include "core/error.h"

namespace loong {

bool launched_by_mpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"}) {
    const char* v = std::getenv(var);
    if (v && *v) return true;
  }
  return false;
}

MpiSession::MpiSession(int* argc, char*** argv) {
  if (!launched_by_mpi()) return;
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) return;  // someone else owns MPI in this process
  int provided = 0;  // MPI_THREAD_MULTIPLE for the workers' heartbeat threads (coordinator/worker_liveness.h)
  MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
  active_ = true;
}

MpiSession::~MpiSession() {
  if (!active_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

int MpiSession::world_size() const {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) return 1;
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

void MpiSession::abort_job_if_parallel(int code) const {
  if (world_size() > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

MpiWorld join_mpi_world(const ParallelLayout& layout) {
  MpiWorld w;
  int initialized = 0;
  MPI_Initialized(&initialized);  // callable before MPI_Init; starts nothing
  int size = 1;
  if (initialized) MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size == 1) {
    if (layout.workers() != 1)
      throw ConfigError("parallel layout " + layout.text() + " needs " + std::to_string(layout.workers()) +
                        " worker ranks plus the coordinator: launch with mpirun -np " +
                        std::to_string(layout.workers() + 1) + " (or srun -n), or set tp = pp = dp = 1");
    w.grid = ProcessGrid::local();
    return w;
  }
  w.world = std::make_unique<MpiCommunicator>(MPI_COMM_WORLD, "world");
  const int rank = w.world->rank();
  if (layout.workers() != size - 1)
    throw ConfigError("parallel layout " + layout.text() + " needs " + std::to_string(layout.workers()) +
                      " worker ranks but the job has " + std::to_string(size - 1) +
                      " (world size minus the coordinator); launch with -np " + std::to_string(layout.workers() + 1) +
                      " or change parallel.tp/pp/dp so that tp*pp*dp = " + std::to_string(size - 1));
  auto workers = w.world->split(rank == 0 ? 0 : 1, rank, "workers");
  if (rank == 0) return w;
  MpiCommunicator* base = workers.get();
  w.grid = ProcessGrid::from_workers(std::move(workers), layout, [base](int color, int key, const std::string& name) {
    return std::unique_ptr<Communicator>(base->split(color, key, name));
  });
  return w;
}

void idle_barrier(MpiCommunicator& world) {
  MPI_Request req;
  MPI_Ibarrier(world.comm(), &req);
  int done = 0;
  while (!done) {
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace loong
