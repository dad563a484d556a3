// bench/run train_step: one training step (forward, backward, AdamW with clipping) of the
// reference config, against the machine's sgemm and against eager PyTorch, in one run.
#include <cblas.h>
#include <omp.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "model/llama_model.h"
#include "optim/adamw_optimizer.h"

namespace {
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;
}

// FLOP/s of a square sgemm of side n (best of `reps`), the machine's practical matmul peak.
double sgemm_flops(int n, int reps) {
  std::vector<float> a(static_cast<size_t>(n) * n, 0.5f), b(a.size(), 0.25f), c(a.size());
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t = Clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    best = std::min(best, seconds_since(t));
  }
  return 2.0 * n * n * n / best;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Training-step benchmark: tokens/s and model FLOP/s of one step of the reference config,\n"
      "compared with a 2048^3 sgemm and with the same step in eager PyTorch, measured in one run."};
  int64_t batch = 1, seq = 1152, steps = 3, threads = 2;
  bool skip_torch = false;
  std::string torch_script = LOONG_SOURCE_DIR "/bench/train_step_torch.py";
  loong::LlamaConfig cfg;  // defaults are the reference config: 512 hidden, 8 layers, 8 heads, 1408, 9000
  cfg.max_position_embeddings = 2048;
  app.add_option("--batch", batch, "Sequences per step")->capture_default_str();
  app.add_option("--seq", seq, "Tokens per sequence")->capture_default_str();
  app.add_option("--steps", steps, "Timed steps (after one warm-up step)")->capture_default_str();
  app.add_option("--threads", threads, "Threads for OpenMP, OpenBLAS and PyTorch")->capture_default_str();
  app.add_option("--layers", cfg.num_hidden_layers, "num_hidden_layers")->capture_default_str();
  app.add_flag("--skip-torch", skip_torch, "Do not run the PyTorch comparison");
  CLI11_PARSE(app, argc, argv);
  omp_set_num_threads(static_cast<int>(threads));
  openblas_set_num_threads(static_cast<int>(threads));

  std::printf(
      "train_step: hidden %lld, layers %lld, heads %lld/%lld kv, intermediate %lld, vocab %lld, "
      "batch %lld x seq %lld, %lld threads\n",
      (long long)cfg.hidden_size, (long long)cfg.num_hidden_layers, (long long)cfg.num_attention_heads,
      (long long)cfg.num_key_value_heads, (long long)cfg.intermediate_size, (long long)cfg.vocab_size, (long long)batch,
      (long long)seq, (long long)threads);

  const double sgemm = sgemm_flops(2048, 3);
  std::printf("  sgemm 2048^3:            %8.1f GFLOP/s\n", sgemm / 1e9);

  loong::LlamaModel model(cfg);
  model.init_random(1);
  loong::AdamWOptimizer opt(model.tensors(), static_cast<int64_t>(model.params().size()), loong::AdamWConfig{});
  const int64_t N = batch * seq;
  std::vector<int32_t> x(N), y(N);
  std::vector<float> w(N, 1.0f);
  std::mt19937 rng(3);
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(cfg.vocab_size - 1));
  for (int64_t i = 0; i < N; ++i) x[i] = tok(rng), y[i] = tok(rng);

  double t_fwd = 0, t_bwd = 0, t_opt = 0;
  auto step = [&](bool timed) {
    auto t0 = Clock::now();
    model.zero_grad();
    auto l = model.forward(x.data(), y.data(), w.data(), batch, seq);
    auto t1 = Clock::now();
    model.backward(static_cast<float>(l.weight_sum));
    auto t2 = Clock::now();
    opt.step(model.params(), model.grads(), 1e-4f,
             opt.clip_coefficient(std::sqrt(opt.local_grad_sum_squares(model.grads(), 0))));
    auto t3 = Clock::now();
    if (timed) {
      t_fwd += std::chrono::duration<double>(t1 - t0).count();
      t_bwd += std::chrono::duration<double>(t2 - t1).count();
      t_opt += std::chrono::duration<double>(t3 - t2).count();
    }
  };
  step(false);
  std::map<std::string, double> op_times;
  model.set_op_times(&op_times);
  auto t = Clock::now();
  for (int64_t s = 0; s < steps; ++s) step(true);
  const double step_s = seconds_since(t) / steps;
  const double tokens_s = N / step_s;
  const double flops = loong::training_flops_per_token(cfg, seq) * tokens_s;
  std::printf("  loong step:              %8.3f s  (forward %.3f, backward %.3f, optimizer %.3f)\n", step_s,
              t_fwd / steps, t_bwd / steps, t_opt / steps);
  std::printf("  loong tokens/s:          %8.0f\n", tokens_s);
  std::printf("  model FLOP/s:            %8.1f GFLOP/s  (6*N*T + causal attention, N = %lld matmul params)\n",
              flops / 1e9, (long long)loong::matmul_parameter_count(cfg));
  std::printf("  model FLOP/s / sgemm:    %8.3f\n", flops / sgemm);
  std::printf("  peak memory (RSS):       %8.0f MiB  (params+grads+activations %.0f MiB, +AdamW %.0f MiB)\n",
              peak_rss_mib(), model.memory_bytes() / 1048576.0, 2.0 * model.params().size() * 4 / 1048576.0);
  const double loong_rss = peak_rss_mib();
  // Where the time goes: wall time per kernel family over the timed steps.
  {
    const int64_t L = cfg.num_hidden_layers, C = cfg.hidden_size, I = cfg.intermediate_size;
    const double linear_flops = 6.0 * N * static_cast<double>(loong::matmul_parameter_count(cfg));
    const double attn_flops = 6.0 * N * L * seq * C / 1.0;  // causal half: 3 passes x 2 GEMMs x T/2
    (void)I;
    op_times["optimizer"] = t_opt;
    double total = 0;
    for (const auto& [k, v] : op_times) total += v;
    std::printf("  where the time goes (share of %.3f s/step):\n", step_s);
    for (const auto& [k, v] : op_times) {
      std::printf("    %-14s %6.1f%%  %7.3f s", k.c_str(), 100.0 * v / steps / step_s, v / steps);
      if (k == "linear") std::printf("  %6.1f GFLOP/s", linear_flops / (v / steps) / 1e9);
      if (k == "attention") std::printf("  %6.1f GFLOP/s", attn_flops / (v / steps) / 1e9);
      std::printf("\n");
    }
    std::printf("    %-14s %6.1f%%\n", "(untimed)", 100.0 * (1.0 - total / steps / step_s));
  }

  double speedup = 0, torch_rss = 0;
  if (!skip_torch) {
    nlohmann::json c = cfg.to_hf_json();
    std::string cmd = "/usr/bin/python3 '" + torch_script + "' '" + c.dump() + "' " + std::to_string(batch) + " " +
                      std::to_string(seq) + " " + std::to_string(steps) + " " + std::to_string(threads);
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
    std::string out;
    char buf[512];
    while (pipe && fgets(buf, sizeof buf, pipe.get())) out += buf;
    try {
      auto j = nlohmann::json::parse(out.substr(out.rfind('{')));
      const double torch_tokens = j["tokens_per_s"].get<double>();
      torch_rss = j["peak_rss_mib"].get<double>();
      speedup = tokens_s / torch_tokens;
      std::printf("  pytorch %s step:     %8.3f s, %0.f tokens/s, peak RSS %.0f MiB\n",
                  j["torch"].get<std::string>().c_str(), j["step_s"].get<double>(), torch_tokens, torch_rss);
      std::printf("  speedup vs pytorch:      %8.2f x\n", speedup);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "PyTorch comparison failed (%s); output was: %s\n", e.what(), out.c_str());
      return 1;
    }
  }
  std::printf("BENCH tokens_per_s %.1f tokens/s\n", tokens_s);
  std::printf("BENCH model_flops %.3e FLOP/s\n", flops);
  std::printf("BENCH sgemm_flops %.3e FLOP/s\n", sgemm);
  std::printf("BENCH mfu_vs_sgemm %.3f ratio\n", flops / sgemm);
  std::printf("BENCH peak_rss %.0f MiB\n", loong_rss);
  if (!skip_torch) {
    std::printf("BENCH torch_peak_rss %.0f MiB\n", torch_rss);
    std::printf("BENCH speedup_vs_torch %.2f x\n", speedup);
  }
  return 0;
}
