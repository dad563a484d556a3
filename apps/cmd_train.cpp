// `loong train --config job.toml`: the video job. One process (embedded default: coordinator and
// worker in one), or under mpirun/srun with world rank 0 as the coordinator and the other ranks as
// the DP x PP x TP workers ([parallel] in the config, or the flags below).
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "apps/commands.h"
#include "coordinator/training_job_runner.h"
#include "core/error.h"
#include "parallel/mpi_world.h"
#include "sequence/corpus_sample_source.h"

namespace loong::apps {

void register_train(CLI::App& app) {
  struct Options {
    std::string config, resume;
    int64_t stop_after = -1;
    int tp = -1, pp = -1, dp = -1;  // -1: not given
    bool no_metrics = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "train",
      "Train the text-to-video model through the curriculum on a tokenised corpus. Every setting is a key of the\n"
      "TOML job config (documented in configs/train_mnist.toml). Run as one process, or with mpirun -np W+1 /\n"
      "srun -n W+1 (rank 0 coordinates, W = tp*pp*dp workers); without a launcher it uses no MPI and listens on\n"
      "nothing but its exporter. Checkpoints go to checkpoint.dir; SIGTERM or\n"
      "SIGUSR1 checkpoint and exit with status 3 (resume with --resume auto).");
  cmd->add_option("--config", o->config, "TOML job config")->required()->check(CLI::ExistingFile);
  cmd->add_option("--resume", o->resume,
                  "'auto': continue from the newest complete checkpoint in checkpoint.dir (fresh start if none); "
                  "or a checkpoint directory");
  cmd->add_option("--stop-after", o->stop_after, "Checkpoint and stop after this many steps of this run");
  cmd->add_option("--tp", o->tp, "Override parallel.tp");
  cmd->add_option("--pp", o->pp, "Override parallel.pp");
  cmd->add_option("--dp", o->dp, "Override parallel.dp");
  cmd->add_flag("--no-metrics", o->no_metrics,
                "Do not start the Prometheus exporter (as [metrics] address = \"\"; by default it binds 127.0.0.1, "
                "any other address only when [metrics] address names it)");
  cmd->callback([o] {
    int rc = 1;
    {
      // MPI only under a launcher: a one-process run opens no listener beyond its exporter.
      MpiSession mpi(nullptr, nullptr);
      try {
        TrainJob job = TrainJob::from_toml(TomlConfig::parse_file(o->config));
        for (const auto& [flag, v] : {std::pair{"--tp", o->tp}, {"--pp", o->pp}, {"--dp", o->dp}})
          if (v != -1 && v < 1) throw ConfigError(std::string(flag) + " " + std::to_string(v) + ": must be at least 1");
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
      } catch (const DivergedError& e) {
        // Distinct status: the Slurm scripts must not requeue a diverged run.
        std::fprintf(stderr, "loong train: error: %s\n", e.what());
        mpi.abort_job_if_parallel(kExitNonFinite);
        rc = kExitNonFinite;
      } catch (const Error& e) {
        std::fprintf(stderr, "loong train: error: %s\n", e.what());
        mpi.abort_job_if_parallel(1);
        rc = 1;
      } catch (const std::exception& e) {
        // Not one of ours (e.g. std::bad_alloc): still a clear error and status 1, and under a
        // launcher the other ranks are stopped instead of waiting for this one.
        std::fprintf(stderr, "loong train: error: %s\n", e.what());
        mpi.abort_job_if_parallel(1);
        rc = 1;
      }
    }  // MPI_Finalize here, before exit (which skips this frame's destructors)
    std::exit(rc);
  });
}

}  // namespace loong::apps
