// bench/run parallel: where the step time goes under TP=2, PP=2 (1F1B, m = 4 and 8) and DP=2
// (plain and ZeRO-1), each run under mpirun on this machine (coordinator + 2 workers, one thread
// per worker). Prints the share of step time spent communicating and, for 1F1B, the measured idle
// fraction of each stage against the theoretical bubble (p-1)/(m+p-1).
//
// The binary is both the driver (no flags) and the per-layout worker (--worker ...).
#include <mpi.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "parallel/mpi_world.h"
#include "parallel/pipeline_schedule.h"
#include "worker/parallel_trainer.h"

using namespace loong;

namespace {

struct Options {
  ParallelLayout layout;
  bool zero1 = false;
  int micro_batches = 4, steps = 3;
  int64_t seq = 256;
};

LlamaConfig bench_config() {
  LlamaConfig c;
  c.hidden_size = 256;
  c.num_hidden_layers = 4;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 8;
  c.intermediate_size = 704;
  c.vocab_size = 4096;
  c.max_position_embeddings = 1024;
  return c;
}

int run_worker(const Options& o) {
  MpiWorld mpi = join_mpi_world(o.layout);
  if (!mpi.is_worker()) {
    idle_barrier(*mpi.world);
    return 0;
  }
  ProcessGrid& grid = *mpi.grid;
  const auto& pos = grid.position();
  const LlamaConfig cfg = bench_config();
  LlamaModel model(cfg, ModelShard::for_grid(cfg, pos.tp_rank, o.layout.tp, pos.pp_rank, o.layout.pp), &grid.tp());
  model.init_random(1);
  AdamWOptimizer opt(model.tensors(), static_cast<int64_t>(model.params().size()), AdamWConfig{}, &grid.dp(), o.zero1);
  ParallelTrainer trainer(model, grid, opt);
  const int64_t n = o.seq;
  std::vector<std::vector<int32_t>> tok(o.micro_batches, std::vector<int32_t>(n));
  std::vector<float> w(n, 1.0f);
  std::mt19937 rng(7 + pos.dp_rank);
  for (auto& t : tok)
    for (auto& x : t) x = static_cast<int32_t>(rng() % cfg.vocab_size);
  std::vector<MicroBatch> mbs;
  for (auto& t : tok) mbs.push_back({t.data(), t.data(), w.data()});
  const float normalizer = static_cast<float>(n * o.micro_batches * o.layout.dp);
  trainer.step(mbs, 1, n, normalizer, 1e-4f);  // warm-up: plans memory, faults pages
  StepTimes sum;
  for (int s = 0; s < o.steps; ++s) {
    auto t = trainer.step(mbs, 1, n, normalizer, 1e-4f).times;
    sum.total += t.total, sum.tp_comm += t.tp_comm, sum.pp_wait += t.pp_wait, sum.pp_send += t.pp_send;
    sum.dp_comm += t.dp_comm, sum.norm_comm += t.norm_comm;
  }
  const int W = grid.workers().size();
  std::vector<double> rows(W * 9, 0.0);
  double* r = rows.data() + 9 * pos.worker;
  const double k = 1.0 / o.steps;
  r[0] = pos.tp_rank, r[1] = pos.pp_rank, r[2] = pos.dp_rank, r[3] = sum.total * k, r[4] = sum.tp_comm * k;
  r[5] = sum.pp_wait * k, r[6] = sum.pp_send * k, r[7] = sum.dp_comm * k, r[8] = sum.norm_comm * k;
  grid.workers().all_reduce_sum(rows.data(), static_cast<int64_t>(rows.size()));
  if (pos.worker == 0) {
    nlohmann::json j = {{"ranks", nlohmann::json::array()}};
    for (int i = 0; i < W; ++i) {
      const double* q = rows.data() + 9 * i;
      j["ranks"].push_back({{"tp", q[0]},
                            {"pp", q[1]},
                            {"dp", q[2]},
                            {"total", q[3]},
                            {"tp_comm", q[4]},
                            {"pp_wait", q[5]},
                            {"pp_send", q[6]},
                            {"dp_comm", q[7]},
                            {"norm_comm", q[8]}});
    }
    std::printf("RESULT %s\n", j.dump().c_str());
    std::fflush(stdout);
  }
  if (mpi.world) idle_barrier(*mpi.world);
  return 0;
}

nlohmann::json launch(const std::string& self, const std::string& flags, int np) {
  const std::string cmd =
      (np > 1 ? std::string(LOONG_SOURCE_DIR "/scripts/mpirun-local -np ") + std::to_string(np) + " "
              : std::string("OMP_NUM_THREADS=1 ")) +
      "'" + self + "' --worker " + flags + " </dev/null 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  std::string out;
  char buf[4096];
  while (pipe && fgets(buf, sizeof buf, pipe.get())) out += buf;
  const auto at = out.find("RESULT ");
  if (at == std::string::npos) throw std::runtime_error("no result from: " + cmd + "\n" + out);
  return nlohmann::json::parse(out.substr(at + 7, out.find('\n', at) - at - 7));
}

int run_driver(const std::string& self) {
  struct Case {
    std::string name, flags;
    int pp, m;
  };
  const std::vector<Case> cases = {
      {"1 process", "--micro-batches 4", 1, 4},       {"TP=2", "--tp 2 --micro-batches 4", 1, 4},
      {"PP=2 m=4", "--pp 2 --micro-batches 4", 2, 4}, {"PP=2 m=8", "--pp 2 --micro-batches 8", 2, 8},
      {"DP=2", "--dp 2 --micro-batches 2", 1, 2},     {"DP=2 ZeRO-1", "--dp 2 --zero1 --micro-batches 2", 1, 2}};
  std::printf(
      "parallel: hidden 256, 4 layers, vocab 4096, micro-batches of 1 x 256 tokens, global batch 4 "
      "(8 for m=8);\n  coordinator + 2 workers under mpirun on loopback, 1 thread per worker\n\n");
  std::printf("  %-12s %8s %9s %9s %9s %9s %9s\n", "layout", "step s", "comm %", "tp %", "pp wait%", "dp %", "norm %");
  std::vector<std::string> bench;
  for (const auto& c : cases) {
    auto j = launch(self, c.flags, c.name == "1 process" ? 1 : 3);
    double total = 0, tp = 0, ppw = 0, pps = 0, dp = 0, nc = 0;
    const auto& ranks = j["ranks"];
    for (const auto& r : ranks) {
      total += r["total"].get<double>(), tp += r["tp_comm"].get<double>(), ppw += r["pp_wait"].get<double>();
      pps += r["pp_send"].get<double>(), dp += r["dp_comm"].get<double>(), nc += r["norm_comm"].get<double>();
    }
    const double comm = tp + pps + dp + nc + ppw;
    std::printf("  %-12s %8.3f %8.1f%% %8.1f%% %8.1f%% %8.1f%% %8.1f%%\n", c.name.c_str(), total / ranks.size(),
                100 * comm / total, 100 * tp / total, 100 * (ppw + pps) / total, 100 * dp / total, 100 * nc / total);
    std::string key = c.name;
    for (auto& ch : key) ch = std::isalnum(static_cast<unsigned char>(ch)) ? std::tolower(ch) : '_';
    char line[160];
    std::snprintf(line, sizeof line, "BENCH comm_share_%s %.4f fraction", key.c_str(), comm / total);
    bench.push_back(line);
    std::snprintf(line, sizeof line, "BENCH step_time_%s %.4f s", key.c_str(), total / ranks.size());
    bench.push_back(line);
    if (c.pp > 1) {
      const double theory = schedule_1f1b_bubble_fraction(c.pp, c.m);
      for (const auto& r : ranks) {
        const int stage = static_cast<int>(r["pp"].get<double>());
        const double idle = r["pp_wait"].get<double>() / r["total"].get<double>();
        std::printf("      1F1B stage %d: idle (blocked receiving) %.1f%% of the step; theory (p-1)/(m+p-1) = %.1f%%\n",
                    stage, 100 * idle, 100 * theory);
        std::snprintf(line, sizeof line, "BENCH bubble_%s_stage%d %.4f fraction", key.c_str(), stage, idle);
        bench.push_back(line);
      }
      std::snprintf(line, sizeof line, "BENCH bubble_theory_%s %.4f fraction", key.c_str(), theory);
      bench.push_back(line);
    }
  }
  std::printf(
      "\n  comm % = time in tp all-reduces + pipeline send/recv waits (incl. bubble) + dp reduction + norm\n"
      "  all-reduce, averaged over the worker ranks. On 2 shared cores a rank's wait also absorbs the other\n"
      "  rank's compute, so these shares are upper bounds of what separate machines would see.\n");
  for (const auto& b : bench) std::printf("%s\n", b.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Parallel-engine benchmark: communication share and 1F1B bubble per layout (see bench/parallel.cpp)."};
  bool worker = false;
  Options o;
  app.add_flag("--worker", worker, "Run as one rank of a layout (used by the driver under mpirun)");
  app.add_option("--tp", o.layout.tp);
  app.add_option("--pp", o.layout.pp);
  app.add_option("--dp", o.layout.dp);
  app.add_flag("--zero1", o.zero1);
  app.add_option("--micro-batches", o.micro_batches);
  app.add_option("--steps", o.steps);
  CLI11_PARSE(app, argc, argv);
  if (!worker) return run_driver(argv[0]);
  MpiSession mpi(&argc, &argv);  // the driver starts the workers with mpirun
  int rc = 1;
  try {
    rc = run_worker(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench parallel worker: %s\n", e.what());
    mpi.abort_job_if_parallel(1);
  }
  return rc;
}
