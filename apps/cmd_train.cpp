// `loong train --config job.toml`: the video job. One process (embedded default: coordinator and
// worker in one), or under mpirun/srun with world rank 0 as the coordinator and the other ranks as
// the DP x PP x TP workers ([parallel] in the config, or the flags below).
#include <mpi.h>

#include <cstdlib>

#include "apps/commands.h"
#include "coordinator/training_job_runner.h"
#include "core/error.h"
#include "worker/corpus_sample_source.h"

namespace loong::apps {

void register_train(CLI::App& app) {
  struct Options {
    std::string config, resume;
    int64_t stop_after = -1;
    int tp = 0, pp = 0, dp = 0;
    bool no_metrics = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "train",
      "Train the text-to-video model through the curriculum on a tokenised corpus. Every setting is a key of the\n"
      "TOML job config (documented in configs/train_mnist.toml). Run as one process, or with mpirun -np W+1 /\n"
      "srun -n W+1 (rank 0 coordinates, W = tp*pp*dp workers). Checkpoints go to checkpoint.dir; SIGTERM or\n"
      "SIGUSR1 checkpoint and exit with status 3 (resume with --resume auto).");
  cmd->add_option("--config", o->config, "TOML job config")->required()->check(CLI::ExistingFile);
  cmd->add_option("--resume", o->resume,
                  "'auto': continue from the newest complete checkpoint in checkpoint.dir (fresh start if none); "
                  "or a checkpoint directory");
  cmd->add_option("--stop-after", o->stop_after, "Checkpoint and stop after this many steps of this run");
  cmd->add_option("--tp", o->tp, "Override parallel.tp");
  cmd->add_option("--pp", o->pp, "Override parallel.pp");
  cmd->add_option("--dp", o->dp, "Override parallel.dp");
  cmd->add_flag("--no-metrics", o->no_metrics, "Do not start the Prometheus exporter");
  cmd->callback([o] {
    int argc = 0;
    char** argv = nullptr;
    MPI_Init(&argc, &argv);
    int rc = 1;
    try {
      TrainJob job = TrainJob::from_toml(TomlConfig::parse_file(o->config));
      if (o->tp > 0) job.layout.tp = o->tp;
      if (o->pp > 0) job.layout.pp = o->pp;
      if (o->dp > 0) job.layout.dp = o->dp;
      if (job.db.empty()) throw ConfigError(o->config + ": key 'data.db' is required (the corpus directory)");
      CorpusSampleSource source(job.db, job.tokenizer);
      RunOptions ro;
      ro.resume = o->resume;
      ro.stop_after = o->stop_after;
      ro.metrics = !o->no_metrics;
      rc = run_training_job(job, source, ro);
    } catch (const Error& e) {
      int size = 1;
      MPI_Comm_size(MPI_COMM_WORLD, &size);
      std::fprintf(stderr, "loong train: error: %s\n", e.what());
      if (size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
      MPI_Finalize();
      std::exit(1);
    }
    MPI_Finalize();
    std::exit(rc);
  });
}

}  // namespace loong::apps
