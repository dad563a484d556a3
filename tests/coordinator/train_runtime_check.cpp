// Runs the real coordinator + video workers (in one process, or under mpirun with rank 0 as the
// coordinator) on the PatternSource fixture, for the resume and fault tests in
// tests/coordinator/CMakeLists.txt. Writes its PIDs to <checkpoint.dir>/pids/ so that tests can
// signal a chosen rank.
//
//   train_runtime_check --config job.toml [--resume auto] [--corrupt 3,5]
#include <mpi.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>

#include "coordinator/coordinator.h"
#include "core/error.h"
#include "parallel/mpi_world.h"
#include "pattern_source.h"

using namespace loong;

int main(int argc, char** argv) {
  CLI::App app{"Coordinator/worker runtime on a synthetic pattern source (test tool)."};
  std::string config, resume;
  std::vector<uint64_t> corrupt;
  int64_t stop_after = -1;
  app.add_option("--config", config)->required();
  app.add_option("--resume", resume);
  app.add_option("--corrupt", corrupt)->delimiter(',');
  app.add_option("--stop-after", stop_after);
  CLI11_PARSE(app, argc, argv);
  MPI_Init(&argc, &argv);
  int rc = 0;
  try {
    const TrainJob job = TrainJob::from_toml(TomlConfig::parse_file(config));
    testing::PatternSource source(24, 8, 5, {corrupt.begin(), corrupt.end()});
    MpiWorld mpi = join_mpi_world(job.layout);
    Coordinator::install_signal_handlers();  // workers ignore the flag: the coordinator drives them
    int world_rank = mpi.world ? mpi.world->rank() : 0;
    std::filesystem::create_directories(std::filesystem::path(job.checkpoint_dir) / "pids");
    std::ofstream(std::filesystem::path(job.checkpoint_dir) / "pids" / std::to_string(world_rank)) << ::getpid();
    std::unique_ptr<VideoWorker> worker;
    if (mpi.is_worker()) {
      VideoWorkerOptions o;
      o.model = job.model_for(source.vocab(), source.grid_h(), source.grid_w());
      o.zero1 = job.zero1;
      o.adamw = job.adamw;
      o.weighting = job.weighting;
      o.text_budget = job.text_budget;
      o.init_seed = job.seed;
      worker = std::make_unique<VideoWorker>(o, *mpi.grid, source);
    }
    if (mpi.single_process()) {
      InProcessWorkerLink link(*worker);
      Coordinator c(job, source, link);
      rc = c.run(resume, stop_after);
    } else if (mpi.is_coordinator()) {
      MpiWorkerLink link(*mpi.world);
      Coordinator c(job, source, link);
      rc = c.run(resume, stop_after);
    } else {
      serve_work_units(*mpi.world, *worker, mpi.grid->position().worker == 0);
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Finalize();
  return rc;
}
