// Trains a tiny Llama for a few steps under any TP x PP x DP (+ZeRO-1) layout and writes the
// per-step losses and the final weights, so that runs under different layouts can be compared
// with each other (tests/parallel/CMakeLists.txt runs the layouts; `--compare` checks them).
//
//   parallel_train_check --out DIR [--tp N --pp N --dp N --zero1] [--steps S]
//                        [--stop-at K] [--save-at K] [--resume DIR]
//   parallel_train_check --compare REF_DIR RUN_DIR [--tol 1e-5]
//
// Under mpirun world rank 0 is the coordinator (idle here) and ranks 1.. are the workers.
// The global batch is always 4 micro-batches of 2 x 32 tokens, split over the dp ranks; the data
// and the initial weights are functions of (seed, step, index), identical under every layout.
#include <mpi.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "core/fs.h"
#include "model/model_checkpoint.h"
#include "optim/lr_schedule.h"
#include "parallel/mpi_world.h"
#include "worker/parallel_trainer.h"

namespace fs = std::filesystem;
using namespace loong;

namespace {

constexpr int kGlobalMicroBatches = 4;
constexpr int64_t kBatch = 2, kSeq = 32;

LlamaConfig tiny_config() {
  LlamaConfig c;
  c.hidden_size = 64;
  c.num_hidden_layers = 4;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.intermediate_size = 128;
  c.vocab_size = 128;
  c.max_position_embeddings = 64;
  return c;
}

struct MicroBatchData {
  std::vector<int32_t> tokens, targets;
  std::vector<float> weights;
};

MicroBatchData make_micro_batch(int step, int index) {
  std::mt19937 rng(1000003u * step + 7919u * index + 17u);
  std::uniform_int_distribution<int32_t> tok(0, 127);
  std::uniform_real_distribution<float> w(0.0f, 2.0f);
  MicroBatchData d;
  const int64_t n = kBatch * kSeq;
  d.tokens.resize(n), d.targets.resize(n), d.weights.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    // A learnable rule (next = 3*cur+1 mod 128) under noise, so the loss moves.
    d.tokens[i] = tok(rng);
    d.targets[i] = rng() % 4 == 0 ? tok(rng) : (3 * d.tokens[i] + 1) % 128;
    d.weights[i] = (i % kSeq) < 4 ? 0.0f : w(rng);
  }
  return d;
}

int run_training(const ParallelLayout& layout, bool zero1, int steps, int stop_at, int save_at,
                 const std::string& resume, const fs::path& out) {
  MpiWorld mpi = join_mpi_world(layout);
  if (!mpi.is_worker()) {  // a dedicated coordinator rank: nothing to coordinate in this check
    idle_barrier(*mpi.world);
    return 0;
  }
  ProcessGrid* grid = mpi.grid.get();
  const auto& pos = grid->position();
  const LlamaConfig cfg = tiny_config();
  LlamaModel model(cfg, ModelShard::for_grid(cfg, pos.tp_rank, layout.tp, pos.pp_rank, layout.pp), &grid->tp());
  model.init_random(42, 0.05f);
  AdamWConfig ac;
  ac.max_grad_norm = 0.5f;
  AdamWOptimizer opt(model.tensors(), static_cast<int64_t>(model.params().size()), ac, &grid->dp(), zero1);
  ParallelTrainer trainer(model, *grid, opt);
  const WarmupCosineSchedule sched{1e-3, 1e-4, 2, steps};
  int first_step = 0;
  if (!resume.empty()) {
    load_model_files(model, &opt, resume);
    first_step = static_cast<int>(opt.steps_taken());
  }
  const int M = kGlobalMicroBatches / layout.dp;
  nlohmann::json trace = nlohmann::json::array();
  const int last = stop_at > 0 ? std::min(stop_at, steps) : steps;
  for (int step = first_step; step < last; ++step) {
    std::vector<MicroBatchData> data;
    double normalizer = 0;
    for (int i = 0; i < kGlobalMicroBatches; ++i) {
      auto d = make_micro_batch(step, i);
      for (float w : d.weights) normalizer += w;
      if (i / M == pos.dp_rank) data.push_back(std::move(d));
    }
    std::vector<MicroBatch> mbs;
    for (const auto& d : data) mbs.push_back({d.tokens.data(), d.targets.data(), d.weights.data()});
    auto r = trainer.step(mbs, kBatch, kSeq, static_cast<float>(normalizer), static_cast<float>(sched.at(step)));
    trace.push_back({{"step", step + 1}, {"loss", r.loss_sum / r.weight_sum}, {"grad_norm", r.grad_norm}});
    if (pos.worker == 0)
      std::printf("%s step %d loss %.6f grad norm %.6f\n", layout.text().c_str(), step + 1, r.loss_sum / r.weight_sum,
                  r.grad_norm);
    if (step + 1 == save_at) {
      const fs::path dir = out / "checkpoint";
      if (pos.worker == 0) begin_directory_atomic(dir);
      grid->workers().barrier();
      save_model_files(model, *grid, &opt, fs::path(dir) += ".tmp");
      if (pos.worker == 0) commit_directory_atomic(dir);
    }
  }
  const fs::path final_dir = out / "final";
  if (pos.worker == 0) fs::create_directories(final_dir);
  grid->workers().barrier();
  save_model_files(model, *grid, &opt, final_dir);
  if (pos.worker == 0) write_file_atomic(out / "trace.json", trace.dump(2));
  if (mpi.world) idle_barrier(*mpi.world);
  return 0;
}

// Relative error of a tensor, ||a - b|| / ||b|| (Frobenius), and the element-wise max |a - b| / max |b|.
// The test bound applies to the first: fp32 sums reassociate under TP/DP (partial sums, all-reduce
// order), and Adam turns the rounding of a near-zero gradient element into an update difference
// of up to ~lr for that one element, so the element-wise figure is reported, not bounded.
std::pair<double, double> rel_errs(const float* a, const float* b, int64_t n) {
  double diff2 = 0, ref2 = 0, diff_max = 0, ref_max = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    diff2 += d * d;
    ref2 += static_cast<double>(b[i]) * b[i];
    diff_max = std::max(diff_max, std::fabs(d));
    ref_max = std::max(ref_max, std::fabs(static_cast<double>(b[i])));
  }
  return {std::sqrt(diff2) / (ref2 > 0 ? std::sqrt(ref2) : 1.0), diff_max / (ref_max > 0 ? ref_max : 1.0)};
}

int compare(const fs::path& ref, const fs::path& run, double tol) {
  auto tr = nlohmann::json::parse(read_file(ref / "trace.json"));
  auto tn = nlohmann::json::parse(read_file(run / "trace.json"));
  int failures = 0;
  // The run may have resumed: compare the steps it recorded against the same steps of the reference.
  for (const auto& s : tn) {
    const int step = s["step"].get<int>();
    const auto& r = tr.at(step - 1);
    const double e = std::fabs(s["loss"].get<double>() - r["loss"].get<double>()) / std::fabs(r["loss"].get<double>());
    const bool ok = e <= tol;
    failures += !ok;
    std::printf("  %-4s step %d loss %.7f vs %.7f (rel %.1e)\n", ok ? "ok" : "FAIL", step, s["loss"].get<double>(),
                r["loss"].get<double>(), e);
  }
  if (tn.empty()) ++failures, std::printf("  FAIL run recorded no steps\n");
  const LlamaConfig cfg = tiny_config();
  LlamaModel a(cfg), b(cfg);
  load_model_files(a, nullptr, ref / "final");
  load_model_files(b, nullptr, run / "final");
  double worst = 0, worst_elem = 0;
  std::string worst_name;
  for (const auto& t : a.tensors()) {
    auto [e, elem] = rel_errs(b.param(t), a.param(t), t.numel);
    worst_elem = std::max(worst_elem, elem);
    if (e > worst) worst = e, worst_name = t.name;
    if (e > tol) ++failures, std::printf("  FAIL %s relative error %.2e\n", t.name.c_str(), e);
  }
  std::printf(
      "  final weights: worst tensor %s relative error %.2e (tolerance %.0e); worst single element %.2e of "
      "its tensor's max\n",
      worst_name.c_str(), worst, tol, worst_elem);
  std::printf(failures ? "MISMATCH\n" : "MATCH\n");
  return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train a tiny Llama under a parallel layout, or compare two such runs."};
  ParallelLayout layout;
  bool zero1 = false;
  int steps = 5, save_at = -1, stop_at = -1;
  std::string out, resume;
  std::vector<std::string> cmp;
  double tol = 1e-5;
  app.add_option("--tp", layout.tp);
  app.add_option("--pp", layout.pp);
  app.add_option("--dp", layout.dp);
  app.add_flag("--zero1", zero1);
  app.add_option("--steps", steps, "Length of the run (and of its LR schedule)");
  app.add_option("--stop-at", stop_at, "Stop after this step (the schedule still spans --steps)");
  app.add_option("--save-at", save_at, "Also save a checkpoint to OUT/checkpoint after this step");
  app.add_option("--resume", resume, "Load weights and optimizer state from this directory first");
  app.add_option("--out", out);
  app.add_option("--compare", cmp)->expected(2);
  app.add_option("--tol", tol);
  CLI11_PARSE(app, argc, argv);
  try {
    if (!cmp.empty()) return compare(cmp[0], cmp[1], tol);
    MPI_Init(&argc, &argv);
    int rc = run_training(layout, zero1, steps, stop_at, save_at, resume, out);
    MPI_Finalize();
    return rc;
  } catch (const Error& e) {
    int rank = 0, init = 0;
    MPI_Initialized(&init);
    if (init) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    std::fprintf(stderr, "rank %d: error: %s\n", rank, e.what());
    if (init) MPI_Abort(MPI_COMM_WORLD, 1);
    return 1;
  }
}
