// Runs the real coordinator + video workers (in one process, or under mpirun with rank 0 as the
// coordinator) on the PatternSource fixture, for the resume and fault tests in
// tests/coordinator/CMakeLists.txt. Writes its PIDs to <checkpoint.dir>/pids/ so that tests can
// signal a chosen rank.
//
//   train_runtime_check --config job.toml [--resume auto] [--corrupt 3,5] [--fetch-log FILE]
#include <mpi.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>

#include "coordinator/training_job_runner.h"
#include "core/error.h"
#include "pattern_source.h"

using namespace loong;

int main(int argc, char** argv) {
  CLI::App app{"Coordinator/worker runtime on a synthetic pattern source (test tool)."};
  std::string config, resume;
  std::vector<uint64_t> corrupt;
  int64_t stop_after = -1;
  std::string metrics_targets, fetch_log;
  app.add_option("--config", config)->required();
  app.add_option("--resume", resume);
  app.add_option("--corrupt", corrupt)->delimiter(',');
  app.add_option("--stop-after", stop_after);
  app.add_option("--fetch-log", fetch_log, "Append the id of every clip fetched to this file");
  app.add_option("--metrics-targets", metrics_targets, "Serve metrics and write the file-SD target file here");
  CLI11_PARSE(app, argc, argv);
  int provided = 0;  // the workers' heartbeat threads need MPI_THREAD_MULTIPLE
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  int rc = 0;
  try {
    TrainJob job = TrainJob::from_toml(TomlConfig::parse_file(config));
    job.metrics_targets_dir = metrics_targets;
    testing::PatternSource source(24, 8, 5, {corrupt.begin(), corrupt.end()});
    if (!fetch_log.empty()) source.log_fetches_to(fetch_log);
    RunOptions o;
    o.resume = resume;
    o.stop_after = stop_after;
    o.metrics = !metrics_targets.empty();
    o.pid_dir = (std::filesystem::path(job.checkpoint_dir) / "pids").string();
    rc = run_training_job(job, source, o);
  } catch (const DivergedError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    MPI_Abort(MPI_COMM_WORLD, kExitNonFinite);  // the status `loong train` gives it
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Finalize();
  return rc;
}
