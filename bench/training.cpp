// bench/run training [--tokenizer DIR] [--videos N] [--warmup N] [--measure N] [--keep]: training
// throughput of the CPU demo job (configs/train_mnist.toml) as one process and under
// scripts/mpirun-local -np 3 (coordinator + DP=2), and the coordinator's own share of step time.
// A third run, one process with one OpenMP thread, is the control that separates threading from
// data parallelism (on 2 cores DP=2 takes the cores the single process gives its threads).
//
// Everything is built from real data in a scratch directory under the system temp dir (removed at
// the end unless --keep): Moving-MNIST videos -> loong ingest -> loong text train -> a video
// tokenizer trained for a few steps (its quality does not change throughput) or the one passed
// with --tokenizer -> loong tokenizer encode. The job is the demo config with its model, batch
// sizes and sequence lengths unchanged; only each stage's step budget is cut to warm-up + measured
// steps, held-out evaluation is off and periodic checkpoints are off (stage-end checkpoints stay;
// they fall outside the measured steps). The figures come from the job's JSONL log, per step:
// `tokens`, `step_s` (the coordinator waiting for the workers' report) and `coordinator_s` (its own
// time since the previous report: aggregation, log, metrics, sample order, next work unit).
#include <sys/resource.h>
#include <sys/wait.h>
#include <toml++/toml.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/fs.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

double children_cpu_s() {
  rusage r{};
  getrusage(RUSAGE_CHILDREN, &r);
  return r.ru_utime.tv_sec + r.ru_stime.tv_sec + 1e-6 * (r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

// Runs a shell command with its output in `log`, bounded by `timeout_s`, and prints its wall time
// and the CPU time it and its children (MPI ranks included) used: how many cores it obtained (on a
// loaded machine, fewer than it asked for). A failure throws with the end of the log.
void run_logged(const std::string& what, const std::string& cmd, const fs::path& log, int timeout_s) {
  std::printf("  %-46s", what.c_str());
  std::fflush(stdout);
  const auto t = Clock::now();
  const double cpu0 = children_cpu_s();
  const std::string full = "timeout --kill-after=10 " + std::to_string(timeout_s) + " sh -c " + quote(cmd) + " >" +
                           quote(log.string()) + " 2>&1 </dev/null";
  const int rc = std::system(full.c_str());
  const double wall = since(t), cpu = children_cpu_s() - cpu0;
  std::printf("%7.1f s wall %7.1f s CPU = %.2f cores\n", wall, cpu, cpu / wall);
  if (rc != 0) {
    std::string text;
    try {
      text = loong::read_file(log);
    } catch (const loong::Error&) {
    }
    if (text.size() > 3000) text = "..." + text.substr(text.size() - 3000);
    const int status = WIFEXITED(rc) ? WEXITSTATUS(rc) : rc;
    throw loong::Error(what + " failed (exit status " + std::to_string(status) +
                       "; --keep keeps the scratch directory):\n" + cmd + "\n" + text);
  }
}

struct StageDemo {
  std::string name;
  int64_t demo_steps = 0;
};

// The demo config with its stage budgets cut to `steps` each, no held-out evaluation, no periodic
// checkpoints, and the corpus and checkpoint directory of this run. Returns the demo's stages.
std::vector<StageDemo> write_bench_job(const fs::path& demo, const fs::path& out, const fs::path& db,
                                       const fs::path& ckpt, int64_t steps) {
  toml::table job = toml::parse_file(demo.string());
  auto table = [&](const char* name) -> toml::table& {
    if (!job[name].is_table()) throw loong::ConfigError(demo.string() + ": no [" + std::string(name) + "] table");
    return *job[name].as_table();
  };
  table("data").insert_or_assign("db", db.string());
  table("train").insert_or_assign("eval_every", 0);
  table("checkpoint").insert_or_assign("dir", ckpt.string());
  table("checkpoint").insert_or_assign("every", 0);
  table("checkpoint").insert_or_assign("keep_last", 1);
  toml::array* stages = job["curriculum"]["stage"].as_array();
  if (!stages || stages->empty()) throw loong::ConfigError(demo.string() + ": no [[curriculum.stage]]");
  std::vector<StageDemo> out_stages;
  for (auto& node : *stages) {
    toml::table& s = *node.as_table();
    out_stages.push_back({s["name"].value_or(std::string("stage")), s["steps"].value_or(int64_t{0})});
    s.insert_or_assign("steps", steps);
    s.insert_or_assign("warmup_steps", std::min<int64_t>(s["warmup_steps"].value_or(int64_t{0}), steps));
  }
  std::ofstream f(out);
  f << "# bench/run training: derived from " << demo.string() << "\n" << job << "\n";
  if (!f) throw loong::IoError("cannot write " + out.string());
  return out_stages;
}

// Measured steps of one stage (the first `warmup` steps of every stage are left out: new shapes
// plan activations and fault in memory).
struct StageFigures {
  int64_t steps = 0, tokens = 0, samples = 0;
  double step_s = 0, coordinator_s = 0, compute_s = 0, comm_s = 0, data_s = 0;
  double fastest = 1e300, slowest = 0;  // wall time of one measured step
  double wall() const { return step_s + coordinator_s; }
  double tokens_per_s() const { return tokens / wall(); }
};

struct RunFigures {
  std::vector<StageFigures> stages;  // measured steps
  // Every step of the run, warm-up included: stage starts carry the stage's sample order and the
  // previous stage-end checkpoint's commit (checksums, rename) in the coordinator's time.
  double all_wall = 0, all_coordinator_s = 0;
};

RunFigures read_log(const fs::path& log, size_t stages, int64_t warmup) {
  RunFigures run;
  run.stages.resize(stages);
  std::vector<StageFigures>& out = run.stages;
  std::vector<int64_t> seen(stages, 0);
  std::ifstream f(log);
  if (!f) throw loong::IoError("cannot read training log " + log.string());
  std::string line;
  while (std::getline(f, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("event") || j.value("eval", false)) continue;
    const size_t s = j.at("stage").get<size_t>() - 1;
    const double step_s = j.at("step_s").get<double>(), own_s = j.at("coordinator_s").get<double>();
    run.all_wall += step_s + own_s;
    run.all_coordinator_s += own_s;
    if (s >= stages || seen[s]++ < warmup) continue;
    StageFigures& x = out[s];
    ++x.steps;
    x.fastest = std::min(x.fastest, step_s + own_s);
    x.slowest = std::max(x.slowest, step_s + own_s);
    x.tokens += j.at("tokens").get<int64_t>();
    x.samples += j.at("samples")[1].get<int64_t>() - j.at("samples")[0].get<int64_t>();
    x.step_s += step_s;
    x.coordinator_s += own_s;
    x.compute_s += j.at("compute_s").get<double>();
    x.comm_s += j.at("comm_s").get<double>();
    x.data_s += j.at("data_wait_s").get<double>();
  }
  for (size_t s = 0; s < stages; ++s)
    if (out[s].steps == 0)
      throw loong::FormatError(log.string() + ": no measured steps of stage " + std::to_string(s + 1));
  return run;
}

// The full demo (every stage's configured budget) at the measured per-step times: tokens/s over
// the whole run and the coordinator's share of its step time (evaluation and checkpoints aside).
struct DemoProjection {
  double tokens = 0, seconds = 0, coordinator_s = 0;
};

DemoProjection project(const std::vector<StageDemo>& demo, const std::vector<StageFigures>& f) {
  DemoProjection p;
  for (size_t s = 0; s < demo.size(); ++s) {
    const double k = static_cast<double>(demo[s].demo_steps) / f[s].steps;
    p.tokens += k * f[s].tokens;
    p.seconds += k * f[s].wall();
    p.coordinator_s += k * f[s].coordinator_s;
  }
  return p;
}

std::string bench_key(std::string s) {
  for (auto& c : s) c = std::isalnum(static_cast<unsigned char>(c)) ? std::tolower(c) : '_';
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Training throughput of the CPU demo job (configs/train_mnist.toml): tokens/s as one process and under "
      "mpirun -np 3 (coordinator + DP=2), the DP=2 speedup, and the coordinator's per-step overhead as a share of "
      "step time; plus a 1-thread single-process control. Builds a Moving-MNIST corpus and a briefly trained "
      "tokenizer in a scratch directory (under the system temp dir) first."};
  std::string tokenizer, demo = LOONG_SOURCE_DIR "/configs/train_mnist.toml";
  int64_t videos = 16, warmup = 2, measure = 6, tok_steps = 2;
  bool keep = false;
  app.add_option("--tokenizer", tokenizer,
                 "Use this trained tokenizer directory (64x64 -> 8x8 codes) instead of "
                 "training one for a few steps");
  app.add_option("--videos", videos, "Moving-MNIST train videos of 65 frames (one clip each)")->capture_default_str();
  app.add_option("--warmup", warmup, "Steps at the start of each stage left out of the figures")->capture_default_str();
  app.add_option("--measure", measure, "Measured steps per stage")->capture_default_str();
  app.add_option("--tokenizer-steps", tok_steps, "Training steps of the throwaway tokenizer")->capture_default_str();
  app.add_option("--config", demo, "The demo job config the bench job is derived from")->capture_default_str();
  app.add_flag("--keep", keep, "Keep the scratch directory (its path is printed)");
  CLI11_PARSE(app, argc, argv);
  if (warmup < 0 || measure < 1 || videos < 1) {
    std::fprintf(stderr, "bench training: --warmup >= 0, --measure >= 1 and --videos >= 1 are needed\n");
    return 2;
  }

  std::string tmpl = (fs::temp_directory_path() / "loong-bench-training-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) {
    std::perror("bench training: mkdtemp");
    return 1;
  }
  const fs::path work = tmpl;
  const std::string loong = LOONG_EXE, mpirun = LOONG_SOURCE_DIR "/scripts/mpirun-local";
  const unsigned cores = std::thread::hardware_concurrency();
  const auto t_all = Clock::now();
  const std::string load_start = load_average();
  int rc = 0;
  try {
    std::printf("training: the demo job %s on Moving-MNIST 64x64 (8x8 codes per latent frame)\n", demo.c_str());
    std::printf("  scratch %s; load average at start %s (%u cores)\n\n", work.c_str(), load_start.c_str(), cores);
    std::printf("corpus and tokenizer (real data, built for this run):\n");
    const fs::path mm = work / "mm", db = work / "corpus";
    run_logged("loong dataset moving-mnist (" + std::to_string(videos) + " x 65 frames)",
               quote(loong) + " dataset moving-mnist --out " + quote(mm.string()) + " --count " +
                   std::to_string(videos) + " --frames 65 --split train",
               work / "dataset.log", 300);
    run_logged("loong ingest (clips of 65 frames)",
               quote(loong) + " ingest --no-progress --manifest " + quote((mm / "train.csv").string()) + " --db " +
                   quote(db.string()) + " --clip-frames 65",
               work / "ingest.log", 300);
    run_logged("loong text train", quote(loong) + " text train --db " + quote(db.string()), work / "text.log", 300);
    fs::path tok = tokenizer;
    if (tok.empty()) {
      tok = work / "tokenizer";
      run_logged("loong tokenizer train (" + std::to_string(tok_steps) + " steps)",
                 quote(loong) + " tokenizer train --db " + quote(db.string()) + " --config " +
                     quote(LOONG_SOURCE_DIR "/configs/tokenizer_mnist.toml") + " --out " + quote(tok.string()) +
                     " --steps " + std::to_string(tok_steps),
                 work / "tokenizer_train.log", 600);
    }
    run_logged("loong tokenizer encode",
               quote(loong) + " tokenizer encode --db " + quote(db.string()) + " --tokenizer " + quote(tok.string()) +
                   " --id default",
               work / "encode.log", 600);

    const int64_t steps = warmup + measure;
    struct Layout {
      std::string name, key, launcher, flags;
      RunFigures figures;
      DemoProjection demo;
      double tokens_per_s() const { return demo.tokens / demo.seconds; }
    };
    // The single process runs with one OpenMP thread per core (its default); the control run with
    // one thread separates the effect of OpenMP threading from that of data parallelism.
    const std::string threads = std::to_string(cores);
    std::vector<Layout> layouts = {
        {"1 process, " + threads + " OpenMP threads", "np1", "OMP_NUM_THREADS=" + threads + " ", "", {}, {}},
        {"np 3: coordinator + DP=2, 1 thread each", "np3_dp2", quote(mpirun) + " -np 3 ", " --dp 2", {}, {}},
        {"control: 1 process, 1 thread", "np1_1thread", "OMP_NUM_THREADS=1 ", "", {}, {}}};
    std::vector<StageDemo> demo_stages;
    std::printf("\ntraining runs (%lld steps per stage, the first %lld left out):\n", static_cast<long long>(steps),
                static_cast<long long>(warmup));
    for (auto& l : layouts) {
      const fs::path cfg = work / ("job_" + l.key + ".toml"), ckpt = work / ("ckpt_" + l.key);
      demo_stages = write_bench_job(demo, cfg, db, ckpt, steps);
      run_logged("loong train, " + l.key,
                 l.launcher + quote(loong) + " train --config " + quote(cfg.string()) + l.flags,
                 work / ("train_" + l.key + ".log"), 900);
      l.figures = read_log(ckpt / "train_log.jsonl", demo_stages.size(), warmup);
      l.demo = project(demo_stages, l.figures.stages);
    }
    const std::string load_end = load_average();

    std::printf("\n  %-11s %-6s %5s %7s %7s %13s %8s %8s %6s %6s %9s\n", "layout", "stage", "seq", "samples", "step s",
                "(range)", "coord ms", "compute", "comm", "data", "tokens/s");
    for (const auto& l : layouts)
      for (size_t s = 0; s < demo_stages.size(); ++s) {
        const StageFigures& f = l.figures.stages[s];
        const double n = static_cast<double>(f.steps);
        std::printf("  %-11s %-6s %5lld %7.1f %7.3f (%5.2f-%5.2f) %8.2f %7.1f%% %5.1f%% %5.1f%% %9.0f\n", l.key.c_str(),
                    demo_stages[s].name.c_str(), static_cast<long long>(f.tokens / f.samples), f.samples / n,
                    f.wall() / n, f.fastest, f.slowest, 1e3 * f.coordinator_s / n, 100 * f.compute_s / f.step_s,
                    100 * f.comm_s / f.step_s, 100 * f.data_s / f.step_s, f.tokens_per_s());
      }
    std::printf(
        "\n  seq = model tokens per sample; samples = global batch (the demo's batch_tokens rounded down to a\n"
        "  multiple of dp x micro_batch_size, so it can differ between layouts); step s = wall time per step\n"
        "  (workers + coordinator), mean and range over the measured steps; coord ms = the coordinator's own\n"
        "  time per step; compute / comm / data = worker 0's split of the workers' part of the step.\n\n");
    std::vector<std::string> bench;
    char line[200];
    int64_t demo_steps = 0;
    for (const auto& s : demo_stages) demo_steps += s.demo_steps;
    for (const auto& l : layouts) {
      const double share = l.demo.coordinator_s / l.demo.seconds;
      std::printf("  %s: %.0f tokens/s over the full demo (%lld steps: %.1f min)\n", l.name.c_str(), l.tokens_per_s(),
                  static_cast<long long>(demo_steps), l.demo.seconds / 60);
      std::printf(
          "    coordinator's own time %.3f%% of step time (measured steps); %.3f%% over every step of the run,\n"
          "    stage starts included (they build the sample order and commit the stage-end checkpoint)\n",
          100 * share, 100 * l.figures.all_coordinator_s / l.figures.all_wall);
      std::snprintf(line, sizeof line, "BENCH training_tokens_per_s_%s %.0f tokens/s", l.key.c_str(), l.tokens_per_s());
      bench.push_back(line);
      for (size_t s = 0; s < demo_stages.size(); ++s) {
        std::snprintf(line, sizeof line, "BENCH training_tokens_per_s_%s_%s %.0f tokens/s", l.key.c_str(),
                      bench_key(demo_stages[s].name).c_str(), l.figures.stages[s].tokens_per_s());
        bench.push_back(line);
      }
      std::snprintf(line, sizeof line, "BENCH coordinator_overhead_share_%s %.5f fraction", l.key.c_str(), share);
      bench.push_back(line);
    }
    const double speedup = layouts[1].tokens_per_s() / layouts[0].tokens_per_s();
    const double vs_control = layouts[1].tokens_per_s() / layouts[2].tokens_per_s();
    std::printf("  DP=2 speedup, np 3 / 1 process (same bench run): %.2fx; against the 1-thread control: %.2fx\n",
                speedup, vs_control);
    std::snprintf(line, sizeof line, "BENCH training_dp2_speedup %.3f x", speedup);
    bench.push_back(line);
    std::snprintf(line, sizeof line, "BENCH training_dp2_speedup_vs_1thread %.3f x", vs_control);
    bench.push_back(line);
    std::printf(
        "\n  tokens/s over the full demo = every stage's configured step budget at its measured mean step time\n"
        "  (held-out evaluation and checkpoint writing aside). On %u cores, DP=2 plus the coordinator process\n"
        "  oversubscribes the machine: the two single-threaded DP ranks share the cores that the single process\n"
        "  uses with %u OpenMP threads. The speedup therefore compares two ways of using the same cores (data\n"
        "  parallel ranks with a gradient all-reduce vs OpenMP threads inside each kernel), not the gain of\n"
        "  adding machines.\n",
        cores, cores);
    std::printf("  load average at end %s; whole bench %.1f min\n", load_end.c_str(), since(t_all) / 60);
    if (std::stod(load_start) > 0.5 * cores || std::stod(load_end) > 0.5 * cores)
      std::printf(
          "  NOTE: other processes were running (1-minute load average %s at start, %s at end, on %u cores).\n"
          "  They took CPU from these runs (see the cores each run obtained above): the figures are lower and\n"
          "  noisier than on an idle machine, and OpenMP threads that wait for each other at every parallel\n"
          "  region suffer most when the scheduler preempts one of them.\n",
          load_start.substr(0, load_start.find(' ')).c_str(), load_end.substr(0, load_end.find(' ')).c_str(), cores);
    for (const auto& b : bench) std::printf("%s\n", b.c_str());
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "\nbench training: %s\n", e.what());
    rc = 1;
  }
  if (keep) {
    std::printf("scratch directory kept: %s\n", work.c_str());
  } else {
    std::error_code ec;
    fs::remove_all(work, ec);
  }
  return rc;
}
