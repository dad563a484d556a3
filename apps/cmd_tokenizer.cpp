// `loong tokenizer train | eval | encode`: the causal 3D-CNN VQ video tokenizer on a corpus.
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>

#include "apps/commands.h"
#include "apps/metrics_flags.h"
#include "core/directory_lock.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/png.h"
#include "core/progress.h"
#include "core/toml_config.h"
#include "dataloader/corpus.h"
#include "optim/lr_schedule.h"
#include "tokenizer/code_transitions.h"
#include "tokenizer/corpus_clips.h"
#include "tokenizer/tokenizer_config_toml.h"
#include "tokenizer/video_tokenizer.h"

namespace fs = std::filesystem;

namespace loong::apps {
namespace {

struct TokTrainJob {
  tok::TokenizerConfig config;
  tok::TokenizerOptim optim;
  int64_t steps = 2000, batch = 4, frames = 5, warmup = 100, save_every = 200, log_every = 50;
  double min_lr = 1e-4;
  uint64_t seed = 1;
};

TokTrainJob read_tok_job(const std::string& path, int64_t resolution) {
  TomlConfig c = path.empty() ? TomlConfig::parse_string("", "(defaults)") : TomlConfig::parse_file(path);
  std::set<std::string> keys = tok::tokenizer_toml_keys();
  for (const char* k : {"train.steps", "train.batch", "train.frames", "train.lr", "train.min_lr", "train.warmup_steps",
                        "train.revive_every", "train.seed", "train.save_every", "train.log_every", "train.max_grad_norm",
                        "train.l1_weight", "train.l2_weight"})
    keys.insert(k);
  c.reject_unknown_keys(keys);
  TokTrainJob j;
  j.config = tok::tokenizer_config_from_toml(c, resolution);
  j.steps = c.get_int("train.steps", 2000, 1);
  j.batch = c.get_int("train.batch", 4, 1);
  j.frames = c.get_int("train.frames", 5, 1);
  if ((j.frames - 1) % 4 != 0) throw ConfigError(c.source() + ": key 'train.frames' must be 1 + 4k");
  j.optim.lr = static_cast<float>(c.get_positive("train.lr", 2e-3, 10.0));
  j.min_lr = c.get_double("train.min_lr", std::min(2e-4, static_cast<double>(j.optim.lr)), 0.0, j.optim.lr);
  j.warmup = c.get_int("train.warmup_steps", 100, 0);
  j.optim.revive_every = c.get_int("train.revive_every", 20, 0);
  j.optim.max_grad_norm = static_cast<float>(c.get_double("train.max_grad_norm", 1.0, -1e300, 1e30));
  j.optim.l1_weight = static_cast<float>(c.get_double("train.l1_weight", 1.0, 0.0, 1e6));
  j.optim.l2_weight = static_cast<float>(c.get_double("train.l2_weight", 1.0, 0.0, 1e6));
  if (j.optim.l1_weight < 0 || j.optim.l2_weight < 0 || j.optim.l1_weight + j.optim.l2_weight <= 0)
    throw ConfigError(c.source() + ": keys 'train.l1_weight' and 'train.l2_weight' must be >= 0, not both 0");
  j.seed = static_cast<uint64_t>(c.get_int("train.seed", 1, 0));
  j.save_every = c.get_int("train.save_every", 200, 1);
  j.log_every = c.get_int("train.log_every", 50, 1);
  return j;
}

struct Eval {
  double psnr = 0, ssim = 0, perplexity = 0;
  int64_t codes_used = 0, clips = 0;
  // Cells whose pixels are all dark (< 16 in every pixel frame the latent cell covers): what share
  // of cells they are, the perplexity of their codes and the share of the most common one. Empty
  // background spread over many codes is entropy the language model has to learn for nothing.
  double background_share = 0, background_perplexity = 0, background_top_share = 0;
  // Latent frame j from j - 1 at the same cell (j >= 2), even clips fitted, odd clips scored.
  tok::CodeTransitions transitions;
};

double perplexity_of(const std::vector<int64_t>& counts) {
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  double ent = 0;
  for (int64_t c : counts)
    if (c > 0) ent -= static_cast<double>(c) / total * std::log(static_cast<double>(c) / total);
  return total > 0 ? std::exp(ent) : 0.0;
}

Eval evaluate(tok::VideoTokenizer& t, const tok::CorpusClipSampler& s, int64_t n, int64_t frames, const fs::path& png) {
  Eval e;
  const int64_t h = s.height(), w = s.width(), per = frames * h * w * 3;
  std::set<int32_t> used;
  std::vector<int64_t> counts(t.config().quantizer.codebook_size, 0);
  std::vector<int64_t> background(counts.size(), 0);
  int64_t cells = 0;
  int64_t total_codes = 0;
  tok::CodeTransitionCounter transitions(t.config().quantizer.codebook_size);
  std::vector<uint8_t> first_orig, first_rec;
  for (int64_t i = 0; i < n; ++i) {
    auto clip = s.fixed(i, 1);
    auto codes = t.encode(clip.data(), 1, frames, h, w);
    for (int32_t c : codes) ++counts[c], ++total_codes, used.insert(c);
    const int64_t gh = h / 8, gw = w / 8, latents = (frames - 1) / 4 + 1;
    for (int64_t j = 0; j < latents; ++j)
      for (int64_t cy = 0; cy < gh; ++cy)
        for (int64_t cx = 0; cx < gw; ++cx) {
          bool dark = true;
          // Latent frame 0 covers pixel frame 0; latent frame j >= 1 covers pixel frames 4j-3..4j.
          for (int64_t f = j == 0 ? 0 : 4 * j - 3; f <= 4 * j && dark; ++f)
            for (int64_t y = cy * 8; y < cy * 8 + 8 && dark; ++y)
              for (int64_t x = cx * 8; x < cx * 8 + 8 && dark; ++x)
                for (int64_t ch = 0; ch < 3; ++ch) dark = dark && clip[((f * h + y) * w + x) * 3 + ch] < 16;
          ++cells;
          if (dark) ++background[codes[(j * gh + cy) * gw + cx]];
        }
    transitions.add(codes, latents, gh * gw, i % 2 == 0);
    auto rec = t.decode(codes.data(), 1, (frames - 1) / 4 + 1, h / 8, w / 8);
    e.psnr += tok::psnr(clip.data(), rec.data(), per);
    e.ssim += tok::ssim(clip.data(), rec.data(), frames, h, w);
    if (i == 0) first_orig = clip, first_rec = rec;
  }
  e.clips = n;
  e.psnr /= n, e.ssim /= n, e.codes_used = static_cast<int64_t>(used.size());
  e.perplexity = perplexity_of(counts);
  int64_t dark_cells = 0, top = 0;
  for (int64_t c : background) dark_cells += c, top = std::max(top, c);
  e.background_share = cells > 0 ? static_cast<double>(dark_cells) / cells : 0.0;
  e.background_perplexity = perplexity_of(background);
  e.background_top_share = dark_cells > 0 ? static_cast<double>(top) / dark_cells : 0.0;
  e.transitions = transitions.result();
  if (!png.empty() && !first_orig.empty()) {
    // Two rows (original above, reconstruction below) of the first clip's frames side by side.
    const int64_t W = frames * w, H = 2 * h;
    std::vector<uint8_t> img(W * H * 3);
    for (int64_t f = 0; f < frames; ++f)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
          for (int64_t c = 0; c < 3; ++c) {
            img[((y)*W + f * w + x) * 3 + c] = first_orig[((f * h + y) * w + x) * 3 + c];
            img[((h + y) * W + f * w + x) * 3 + c] = first_rec[((f * h + y) * w + x) * 3 + c];
          }
    write_png_rgb(png, W, H, img.data());
  }
  return e;
}

// Progress of `loong tokenizer train` as Prometheus metrics (`loong_tokenizer_*`), per step.
class TokenizerTrainMetrics {
 public:
  TokenizerTrainMetrics(MetricsEndpoint& m, int64_t steps_planned, int64_t codebook_size)
      : codebook_size_(codebook_size),
        step_(m.gauge("loong_tokenizer_train_step", "Training steps done")),
        loss_(m.gauge_family("loong_tokenizer_train_loss",
                             "Losses of the last step: kind=l1|l2 (reconstruction, pixels in [0,1]), codebook, "
                             "commitment, total")),
        perplexity_(m.gauge("loong_tokenizer_codebook_perplexity",
                            "Perplexity of the code distribution of the last batch (exp of its entropy)")),
        in_use_(m.gauge("loong_tokenizer_codebook_codes_in_use", "Codes whose usage is above the dead-code threshold")),
        usage_(m.gauge("loong_tokenizer_codebook_usage_ratio", "Codes in use over the codebook size")),
        revived_(
            m.counter("loong_tokenizer_codebook_revived_codes_total", "Dead codes re-seeded from encoder outputs")),
        clips_(m.counter("loong_tokenizer_train_clips_total", "Clip windows trained on by this run")),
        clips_per_s_(m.gauge("loong_tokenizer_train_clips_per_second", "Clip windows per second in the last step")),
        lr_(m.gauge("loong_tokenizer_train_learning_rate", "Learning rate of the last step")),
        saves_(m.counter("loong_tokenizer_checkpoints_written_total",
                         "Times the tokenizer (weights + optimizer state) was saved")) {
    m.gauge("loong_tokenizer_train_steps_planned", "Steps the training runs to (train.steps)")
        .Set(static_cast<double>(steps_planned));
  }

  void record_step(int64_t step, const tok::TokenizerLosses& l, double lr, int64_t clips, double seconds) {
    step_.Set(static_cast<double>(step));
    loss_.Add({{"kind", "l1"}}).Set(l.l1);
    loss_.Add({{"kind", "l2"}}).Set(l.l2);
    loss_.Add({{"kind", "codebook"}}).Set(l.codebook);
    loss_.Add({{"kind", "commitment"}}).Set(l.commitment);
    loss_.Add({{"kind", "total"}}).Set(l.total());
    perplexity_.Set(l.perplexity);
    in_use_.Set(static_cast<double>(l.codes_in_use));
    usage_.Set(static_cast<double>(l.codes_in_use) / static_cast<double>(codebook_size_));
    revived_.Increment(static_cast<double>(l.revived));
    clips_.Increment(static_cast<double>(clips));
    if (seconds > 0) clips_per_s_.Set(static_cast<double>(clips) / seconds);
    lr_.Set(lr);
  }
  void record_save() { saves_.Increment(); }

 private:
  int64_t codebook_size_;
  prometheus::Gauge& step_;
  prometheus::Family<prometheus::Gauge>& loss_;
  prometheus::Gauge& perplexity_;
  prometheus::Gauge& in_use_;
  prometheus::Gauge& usage_;
  prometheus::Counter& revived_;
  prometheus::Counter& clips_;
  prometheus::Gauge& clips_per_s_;
  prometheus::Gauge& lr_;
  prometheus::Counter& saves_;
};

void run_train(const std::string& db, const std::string& config, const std::string& out, int64_t steps_override,
               const MetricsFlags& metrics_flags) {
  CorpusReader corpus(db);
  auto clips = corpus.list_clips();
  if (clips.empty()) throw InputError("corpus " + db + " has no clips");
  TokTrainJob job = read_tok_job(config, clips.front().height);
  if (steps_override != -1 && steps_override < 1)
    throw ConfigError("--steps " + std::to_string(steps_override) + ": must be at least 1");
  if (steps_override > 0) job.steps = steps_override;
  // Checked and locked before the first step (core/directory_lock.h); a save interrupted by a
  // kill is finished before deciding whether this is a resume.
  const DirectoryLock lock(out, "tokenizer --out");
  tok::VideoTokenizer::finish_interrupted_save(out);
  const bool resume = fs::exists(fs::path(out) / "tokenizer.json");
  tok::VideoTokenizer t = resume ? tok::VideoTokenizer::load(out) : tok::VideoTokenizer(job.config, job.seed);
  if (resume) spdlog::info("resuming tokenizer training from {} at step {}", out, t.steps_taken());
  // The window sequence of an uninterrupted run: a resume at step s skips the s batches drawn.
  tok::CorpusClipSampler train(corpus, "train", static_cast<int32_t>(job.frames), job.seed);
  train.skip(t.steps_taken() * job.batch);
  const WarmupCosineSchedule sched{job.optim.lr, job.min_lr, job.warmup, job.steps};
  std::unique_ptr<MetricsEndpoint> endpoint = metrics_flags.start();
  std::unique_ptr<TokenizerTrainMetrics> metrics;
  if (endpoint)
    metrics = std::make_unique<TokenizerTrainMetrics>(*endpoint, job.steps, job.config.quantizer.codebook_size);
  ProgressBar bar("tokenizer train", job.steps);
  tok::TokenizerLosses recent;
  int n = 0;
  for (int64_t step = t.steps_taken(); step < job.steps; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    auto batch = train.next(job.batch);
    const double lr = sched.at(step);
    auto l = t.train_step(batch.data(), job.batch, job.frames, train.height(), train.width(), job.optim,
                          static_cast<float>(lr));
    if (metrics)
      metrics->record_step(step + 1, l, lr, job.batch,
                           std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    recent.l1 += l.l1, recent.l2 += l.l2, recent.codebook += l.codebook, recent.perplexity += l.perplexity, ++n;
    char status[128];
    std::snprintf(status, sizeof status, "l1 %.4f l2 %.4f vq %.4f ppl %.0f in use %lld", l.l1, l.l2, l.codebook,
                  l.perplexity, static_cast<long long>(l.codes_in_use));
    bar.update(step + 1, status);
    if ((step + 1) % job.log_every == 0) {
      std::printf("step %6lld  l1 %.4f  l2 %.4f  codebook %.4f  batch perplexity %.1f  codes in use %lld\n",
                  static_cast<long long>(step + 1), recent.l1 / n, recent.l2 / n, recent.codebook / n,
                  recent.perplexity / n, static_cast<long long>(l.codes_in_use));
      std::fflush(stdout);
      recent = {}, n = 0;
    }
    if ((step + 1) % job.save_every == 0 || step + 1 == job.steps) {
      t.save(out);
      if (metrics) metrics->record_save();
    }
  }
  bar.finish();
  std::printf("tokenizer saved to %s (%lld steps)\n", out.c_str(), static_cast<long long>(t.steps_taken()));
  std::fflush(stdout);
  metrics_flags.linger(endpoint.get());
}

}  // namespace

void register_tokenizer(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenizer", "Train, evaluate and apply the causal 3D-CNN VQ video tokenizer.");
  cmd->require_subcommand(1);

  auto tr = std::make_shared<std::tuple<std::string, std::string, std::string, int64_t>>("", "", "", -1);
  auto tr_metrics = std::make_shared<MetricsFlags>();
  auto* train = cmd->add_subcommand("train",
                                    "Train on clip windows of the corpus's train split; resumes when --out already "
                                    "holds a tokenizer. Config keys: [tokenizer] channels, latent_channels, patch, "
                                    "block_temporal_kernel, res_blocks, mid_blocks, groups, encoder_norm (group|position), "
                                    "encoder_field (wide|cell), codebook_size, distance "
                                    "(l2|cosine), beta, dead_fraction, usage_decay; [train] steps, batch, frames "
                                    "(1+4k), lr, min_lr, warmup_steps, revive_every, l1_weight, l2_weight, seed, "
                                    "save_every, log_every, max_grad_norm (see configs/tokenizer_mnist.toml).");
  train->add_option("--db", std::get<0>(*tr), "Corpus directory")->required();
  train->add_option("--config", std::get<1>(*tr), "TOML config (defaults when omitted)");
  train->add_option("--out", std::get<2>(*tr), "Output directory (tokenizer.safetensors, tokenizer.json)")->required();
  train->add_option("--steps", std::get<3>(*tr), "Override train.steps");
  add_metrics_flags(train, *tr_metrics, "loong-tokenizer");
  train->callback([tr, tr_metrics] {
    run_train(std::get<0>(*tr), std::get<1>(*tr), std::get<2>(*tr), std::get<3>(*tr), *tr_metrics);
  });

  auto ev = std::make_shared<std::tuple<std::string, std::string, std::string, int64_t, int64_t, std::string>>(
      "", "", "test", 32, 17, "");
  auto* eval = cmd->add_subcommand("eval",
                                   "PSNR and SSIM of reconstructions of held-out clips, codebook usage and perplexity; "
                                   "optionally a PNG with original (top) and reconstructed (bottom) frames.");
  eval->add_option("--db", std::get<0>(*ev), "Corpus directory")->required();
  eval->add_option("--tokenizer", std::get<1>(*ev), "Tokenizer directory")->required();
  eval->add_option("--split", std::get<2>(*ev), "Split to evaluate on")->capture_default_str();
  eval->add_option("--clips", std::get<3>(*ev), "Clips to evaluate")->capture_default_str();
  eval->add_option("--frames", std::get<4>(*ev), "Frames per clip window (1 + 4k)")->capture_default_str();
  eval->add_option("--png", std::get<5>(*ev), "Write a side-by-side PNG of the first clip here");
  eval->callback([ev] {
    if (std::get<3>(*ev) < 1) throw InputError("--clips " + std::to_string(std::get<3>(*ev)) + ": must be at least 1");
    if (std::get<4>(*ev) < 1 || (std::get<4>(*ev) - 1) % 4 != 0)
      throw InputError("--frames " + std::to_string(std::get<4>(*ev)) + ": must be 1 + 4k");
    if (!std::get<5>(*ev).empty()) prepare_output_file(std::get<5>(*ev), "--png");
    CorpusReader corpus(std::get<0>(*ev));
    auto t = tok::VideoTokenizer::load(std::get<1>(*ev));
    tok::CorpusClipSampler s(corpus, std::get<2>(*ev), static_cast<int32_t>(std::get<4>(*ev)), 0);
    const int64_t n = std::min<int64_t>(std::get<3>(*ev), s.clips());
    Eval e = evaluate(t, s, n, std::get<4>(*ev), std::get<5>(*ev));
    std::printf(
        "tokenizer eval on %lld %s clips of %lld frames: PSNR %.2f dB, SSIM %.4f, codes used %lld of %lld, "
        "perplexity %.1f\n",
        static_cast<long long>(e.clips), std::get<2>(*ev).c_str(), static_cast<long long>(std::get<4>(*ev)), e.psnr,
        e.ssim, static_cast<long long>(e.codes_used), static_cast<long long>(t.config().quantizer.codebook_size),
        e.perplexity);
    std::printf("background (dark cells, %.1f%% of all): code perplexity %.1f, most common code %.1f%% of them\n",
                100 * e.background_share, e.background_perplexity, 100 * e.background_top_share);
    if (e.transitions.scored > 0)
      std::printf("latent frame j from j-1 (j >= 2, same cell): %.1f%% of codes kept; held-out cross-entropy "
                  "%.3f nats given the previous code, %.3f without\n",
                  100 * e.transitions.kept_share, e.transitions.bigram_xent, e.transitions.unigram_xent);
    if (!std::get<5>(*ev).empty()) std::printf("side-by-side: %s\n", std::get<5>(*ev).c_str());
  });

  auto en = std::make_shared<std::tuple<std::string, std::string, std::string>>("", "", "default");
  auto* enc = cmd->add_subcommand("encode",
                                  "Write every clip's video tokens (all its latent frames) to the corpus under a "
                                  "tokenizer id; clips already encoded with that id are skipped (incremental).");
  enc->add_option("--db", std::get<0>(*en), "Corpus directory")->required();
  enc->add_option("--tokenizer", std::get<1>(*en), "Tokenizer directory")->required();
  enc->add_option("--id", std::get<2>(*en), "Tokenizer id in the corpus")->capture_default_str();
  enc->callback([en] {
    CorpusWriter corpus(std::get<0>(*en));
    auto t = tok::VideoTokenizer::load(std::get<1>(*en));
    const std::string& id = std::get<2>(*en);
    // tokenizer.json plus the weights' fingerprint: training checkpoints record it, and
    // `loong generate` refuses a tokenizer whose weights differ from the one the codes came from.
    const fs::path tok_json = fs::path(std::get<1>(*en)) / "tokenizer.json";
    nlohmann::json blob;
    try {
      blob = nlohmann::json::parse(read_file(tok_json));
    } catch (const nlohmann::json::exception& e) {
      throw ConfigError(tok_json.string() + ": not valid JSON: " + e.what());
    }
    blob["fingerprint"] = t.fingerprint();
    corpus.put_blob("tokenizer/" + id, blob.dump(2) + "\n");
    auto clips = corpus.list_clips();
    ProgressBar bar("encode", static_cast<int64_t>(clips.size()));
    int64_t done = 0, skipped = 0;
    for (const auto& c : clips) {
      if (corpus.video_tokens(id, c.id)) {
        ++skipped;
      } else {
        auto frames = corpus.read_frames(c.id, 0, c.pixel_frames);
        auto codes = t.encode(frames.data(), 1, c.pixel_frames, c.height, c.width);
        VideoTokens vt{c.latent_frames, c.height / 8, c.width / 8, std::move(codes)};
        corpus.put_video_tokens(id, c.id, vt);
        ++done;
      }
      bar.update(done + skipped);
    }
    corpus.flush();
    bar.finish();
    std::printf("encoded %lld clips, %lld already had tokens for '%s'\n", static_cast<long long>(done),
                static_cast<long long>(skipped), id.c_str());
  });
}

}  // namespace loong::apps
