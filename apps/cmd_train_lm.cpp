// `loong train-lm`: trains a byte-level Llama on a text file (the foundation demo; the video job
// is `loong train`). Shows the training and validation loss falling and writes a checkpoint.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

#include "apps/commands.h"
#include "core/directory_lock.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/progress.h"
#include "core/toml_config.h"
#include "model/llama_model.h"
#include "optim/adamw_optimizer.h"
#include "optim/lr_schedule.h"

namespace loong::apps {
namespace {

constexpr int64_t kMaxConsecutiveSkips = 20;

struct TrainLmOptions {
  std::string config_path, text_override, out_override;
  int64_t steps_override = -1;
  bool steps_given = false;
};

struct TextLmJob {
  std::string text, out_dir;
  double validation_fraction;
  LlamaConfig model;
  int64_t steps, batch, seq, warmup, seed, eval_every;
  double lr, min_lr;
  AdamWConfig adamw;
};

TextLmJob read_job(const TrainLmOptions& o) {
  TomlConfig c =
      o.config_path.empty() ? TomlConfig::parse_string("", "(defaults)") : TomlConfig::parse_file(o.config_path);
  c.reject_unknown_keys({"data.text",
                         "data.validation_fraction",
                         "model.hidden_size",
                         "model.num_hidden_layers",
                         "model.num_attention_heads",
                         "model.num_key_value_heads",
                         "model.intermediate_size",
                         "model.max_position_embeddings",
                         "model.rope_theta",
                         "model.rms_norm_eps",
                         "train.steps",
                         "train.batch",
                         "train.seq",
                         "train.lr",
                         "train.min_lr",
                         "train.warmup_steps",
                         "train.weight_decay",
                         "train.max_grad_norm",
                         "train.seed",
                         "train.eval_every",
                         "output.dir"});
  TextLmJob j;
  j.text = o.text_override.empty() ? c.get_string("data.text", "/usr/share/common-licenses/GPL-3") : o.text_override;
  j.validation_fraction = c.get_double("data.validation_fraction", 0.1, 0.0, 0.9);
  if (!(j.validation_fraction > 0 && j.validation_fraction < 0.5))
    throw ConfigError(c.source() + ": key 'data.validation_fraction' must be in (0, 0.5)");
  j.model.hidden_size = c.get_int("model.hidden_size", 192, 1);
  j.model.num_hidden_layers = c.get_int("model.num_hidden_layers", 4, 1);
  j.model.num_attention_heads = c.get_int("model.num_attention_heads", 6, 1);
  j.model.num_key_value_heads = c.get_int("model.num_key_value_heads", 2, 1);
  j.model.intermediate_size = c.get_int("model.intermediate_size", 512, 1);
  j.model.max_position_embeddings = c.get_int("model.max_position_embeddings", 256, 1);
  j.model.rope_theta = c.get_positive("model.rope_theta", 10000.0, 1e12);
  j.model.rms_norm_eps = c.get_positive("model.rms_norm_eps", 1e-5, 1.0);
  j.model.vocab_size = 256;
  j.model.validate(c.source() + " [model]");
  if (o.steps_given && o.steps_override < 1)
    throw ConfigError("--steps " + std::to_string(o.steps_override) + ": must be at least 1");
  j.steps = o.steps_given ? o.steps_override : c.get_int("train.steps", 300, 1);
  j.batch = c.get_int("train.batch", 8, 1, 4096);
  j.seq = c.get_int("train.seq", 128, 2, j.model.max_position_embeddings);
  j.lr = c.get_positive("train.lr", 2e-3, 10.0);
  j.min_lr = c.get_double("train.min_lr", std::min(2e-4, j.lr), 0.0, j.lr);
  j.warmup = c.get_int("train.warmup_steps", 30, 0);
  j.adamw.weight_decay = static_cast<float>(c.get_double("train.weight_decay", 0.1, 0.0, 1e3));
  j.adamw.max_grad_norm = static_cast<float>(c.get_double("train.max_grad_norm", 1.0, -1e300, 1e30));
  j.seed = c.get_int("train.seed", 1);
  j.eval_every = c.get_int("train.eval_every", 50, 1);
  j.out_dir = o.out_override.empty() ? c.get_string("output.dir", "out/text_lm") : o.out_override;
  return j;
}

// Loss over fixed, evenly spaced windows of the held-out tail (forward only).
double validation_loss(LlamaModel& model, const std::vector<int32_t>& data, int64_t batch, int64_t seq) {
  const int64_t windows = std::max<int64_t>(1, std::min<int64_t>(batch, (static_cast<int64_t>(data.size()) - 1) / seq));
  const int64_t stride = (static_cast<int64_t>(data.size()) - seq - 1) / windows;
  std::vector<int32_t> x(windows * seq), y(windows * seq);
  std::vector<float> w(windows * seq, 1.0f);
  for (int64_t b = 0; b < windows; ++b)
    for (int64_t t = 0; t < seq; ++t) {
      x[b * seq + t] = data[b * stride + t];
      y[b * seq + t] = data[b * stride + t + 1];
    }
  ForwardLoss l = model.forward(x.data(), y.data(), w.data(), windows, seq);
  return l.weighted_sum / l.weight_sum;
}

void run(const TrainLmOptions& o) {
  const TextLmJob job = read_job(o);
  // The output is checked and locked before training, so that minutes of work are never lost
  // to an unwritable output.dir or interleaved with a second job writing there.
  const DirectoryLock lock(job.out_dir, "output.dir");
  require_input_file(job.text, "data.text");
  const std::string bytes = read_file(job.text);
  const auto n_val = static_cast<int64_t>(bytes.size() * job.validation_fraction);
  const int64_t n_train = static_cast<int64_t>(bytes.size()) - n_val;
  if (n_train < job.seq + 1 || n_val < job.seq + 1)
    throw InputError(job.text + ": " + std::to_string(bytes.size()) + " bytes is too short for sequences of " +
                     std::to_string(job.seq) + " tokens with a validation split");
  std::vector<int32_t> train(n_train), val(n_val);
  for (int64_t i = 0; i < n_train; ++i) train[i] = static_cast<uint8_t>(bytes[i]);
  for (int64_t i = 0; i < n_val; ++i) val[i] = static_cast<uint8_t>(bytes[n_train + i]);

  LlamaModel model(job.model);
  model.init_random(static_cast<uint64_t>(job.seed));
  AdamWOptimizer opt(model.tensors(), static_cast<int64_t>(model.params().size()), job.adamw);
  const WarmupCosineSchedule sched{job.lr, job.min_lr, job.warmup, job.steps};
  std::printf("train-lm: %s, %lld train / %lld validation tokens (bytes), %lld parameters, %lld steps of %lldx%lld\n",
              job.text.c_str(), static_cast<long long>(n_train), static_cast<long long>(n_val),
              static_cast<long long>(model.params().size()), static_cast<long long>(job.steps),
              static_cast<long long>(job.batch), static_cast<long long>(job.seq));
  const double val0 = validation_loss(model, val, job.batch, job.seq);
  std::printf("step %5d  validation loss %.4f (uniform over bytes would be %.4f)\n", 0, val0, std::log(256.0));

  std::mt19937_64 rng(static_cast<uint64_t>(job.seed) ^ 0x9e3779b97f4a7c15ull);
  std::uniform_int_distribution<int64_t> start(0, n_train - job.seq - 1);
  const int64_t N = job.batch * job.seq;
  std::vector<int32_t> x(N), y(N);
  std::vector<float> w(N, 1.0f);
  ProgressBar bar("train-lm", job.steps);
  double recent = 0;
  int recent_n = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double val_last = val0;
  int64_t consecutive_skips = 0;
  for (int64_t step = 0; step < job.steps; ++step) {
    for (int64_t b = 0; b < job.batch; ++b) {
      const int64_t s = start(rng);
      for (int64_t t = 0; t < job.seq; ++t) x[b * job.seq + t] = train[s + t], y[b * job.seq + t] = train[s + t + 1];
    }
    model.zero_grad();
    ForwardLoss l = model.forward(x.data(), y.data(), w.data(), job.batch, job.seq);
    model.backward(static_cast<float>(l.weight_sum));
    const double norm = std::sqrt(opt.local_grad_sum_squares(model.grads(), 0));
    const float lr = static_cast<float>(sched.at(step));
    if (!std::isfinite(norm) || !std::isfinite(l.weighted_sum)) {
      // As in `loong train`: the update is skipped, and a run that only skips stops.
      if (++consecutive_skips >= kMaxConsecutiveSkips)
        throw DivergedError("train-lm: " + std::to_string(consecutive_skips) +
                            " consecutive steps had a non-finite loss or gradient (up to step " +
                            std::to_string(step + 1) + "); nothing was saved: lower train.lr");
      continue;
    }
    consecutive_skips = 0;
    opt.step(model.params(), model.grads(), lr, opt.clip_coefficient(norm));
    recent += l.weighted_sum / l.weight_sum;
    ++recent_n;
    char status[96];
    std::snprintf(status, sizeof status, "loss %.4f lr %.2e", l.weighted_sum / l.weight_sum, lr);
    bar.update(step + 1, status);
    if ((step + 1) % job.eval_every == 0 || step + 1 == job.steps) {
      val_last = validation_loss(model, val, job.batch, job.seq);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "\n");
      std::printf(
          "step %5lld  train loss %.4f (mean of last %d)  validation loss %.4f  grad norm %.3f  %.0f tokens/s\n",
          static_cast<long long>(step + 1), recent / recent_n, recent_n, val_last, norm,
          static_cast<double>(N) * (step + 1) / secs);
      std::fflush(stdout);
      recent = 0, recent_n = 0;
    }
  }
  bar.finish();
  char name[32];
  std::snprintf(name, sizeof name, "step_%08lld", static_cast<long long>(job.steps));
  const std::filesystem::path ckpt = std::filesystem::path(job.out_dir) / name;
  write_directory_atomic(ckpt, [&](const std::filesystem::path& tmp) { save_llama(model, tmp); });
  std::printf(
      "validation loss %.4f -> %.4f; checkpoint (safetensors with Hugging Face Llama names + config.json): %s\n", val0,
      val_last, ckpt.string().c_str());
}

}  // namespace

void register_train_lm(CLI::App& app) {
  auto opts = std::make_shared<TrainLmOptions>();
  CLI::App* cmd = app.add_subcommand(
      "train-lm",
      "Train a byte-level Llama on a text file and save a Hugging Face compatible checkpoint.\n"
      "Every setting comes from a TOML config (see configs/text_lm.toml for all keys and defaults);\n"
      "the flags below override single keys.");
  cmd->add_option("--config", opts->config_path, "TOML job config (defaults apply when omitted)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--text", opts->text_override, "Text file to train on (overrides data.text)");
  cmd->add_option("--steps", opts->steps_override, "Optimizer steps, at least 1 (overrides train.steps)")
      ->each([opts](const std::string&) { opts->steps_given = true; });
  cmd->add_option("--out", opts->out_override, "Output directory for the checkpoint (overrides output.dir)");
  cmd->callback([opts] { run(*opts); });
}

}  // namespace loong::apps
