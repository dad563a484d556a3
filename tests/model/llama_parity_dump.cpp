// Produces everything the PyTorch parity check (llama_parity.py) compares against:
//   <dir>/init/{model.safetensors,config.json}   initial weights (random, seeded)
//   <dir>/batch.safetensors                      tokens, targets, per-token weights
//   <dir>/step0.safetensors                      logits, loss, and every gradient of step 1
//   <dir>/final/model.safetensors                weights after `steps` AdamW steps with clipping
//   <dir>/trace.json                             per-step loss, grad norm, lr
#include <cstdio>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "core/fs.h"
#include "core/safetensors.h"
#include "model/llama_model.h"
#include "optim/adamw_optimizer.h"
#include "optim/lr_schedule.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  namespace fs = std::filesystem;
  const fs::path dir = argv[1];
  fs::create_directories(dir);

  loong::LlamaConfig cfg;
  cfg.hidden_size = 64;
  cfg.num_hidden_layers = 2;
  cfg.num_attention_heads = 4;
  cfg.num_key_value_heads = 2;  // grouped-query
  cfg.intermediate_size = 176;
  cfg.vocab_size = 300;
  cfg.max_position_embeddings = 256;
  cfg.rope_theta = 10000.0;
  cfg.rms_norm_eps = 1e-5;
  const int64_t B = 2, T = 160;  // T > the attention block (128): the multi-block path is covered

  loong::LlamaModel model(cfg);
  model.init_random(1234, 0.05f);
  // Random norm gains, so the norm weights' gradients and decay exclusion are exercised.
  std::mt19937 rng(99);
  std::uniform_real_distribution<float> gain(0.5f, 1.5f);
  for (const auto& t : model.tensors())
    if (t.shape.size() == 1)
      for (int64_t i = 0; i < t.numel; ++i) model.param(t)[i] = gain(rng);
  loong::save_llama(model, dir / "init");

  std::vector<int32_t> tokens(B * T), targets(B * T);
  std::vector<float> weights(B * T);
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(cfg.vocab_size - 1));
  std::uniform_real_distribution<float> wdist(0.0f, 2.0f);
  for (int64_t i = 0; i < B * T; ++i) {
    tokens[i] = tok(rng);
    targets[i] = tok(rng);
    weights[i] = (i % T) < 10 ? 0.0f : wdist(rng);  // a zero-weight "text" prefix, then varying weights
  }
  loong::SafetensorsWriter bw;
  bw.add("tokens", loong::DType::I32, {B, T}, tokens.data());
  bw.add("targets", loong::DType::I32, {B, T}, targets.data());
  bw.add_f32("weights", {B, T}, weights.data());
  bw.write(dir / "batch.safetensors");

  loong::AdamWConfig ac;
  ac.beta1 = 0.9f, ac.beta2 = 0.95f, ac.eps = 1e-8f, ac.weight_decay = 0.1f, ac.max_grad_norm = 0.5f;
  loong::AdamWOptimizer opt(model.tensors(), static_cast<int64_t>(model.params().size()), ac);
  const loong::WarmupCosineSchedule sched{1e-3, 1e-4, 3, 10};
  nlohmann::json trace = nlohmann::json::array();
  const int steps = 10;
  for (int step = 0; step < steps; ++step) {
    model.zero_grad();
    auto loss = model.forward(tokens.data(), targets.data(), weights.data(), B, T);
    const float normalizer = static_cast<float>(loss.weight_sum);
    if (step == 0) {
      std::vector<float> logits(model.logits().begin(), model.logits().end());
      float l = static_cast<float>(loss.weighted_sum / loss.weight_sum);
      model.backward(normalizer);
      loong::SafetensorsWriter sw;
      sw.add_f32("logits", {B, T, cfg.vocab_size}, logits.data());
      sw.add_f32("loss", {}, &l);
      for (const auto& t : model.tensors()) sw.add_f32("grad." + t.name, t.shape, model.grad(t));
      sw.write(dir / "step0.safetensors");
    } else {
      model.backward(normalizer);
    }
    const double norm = std::sqrt(opt.local_grad_sum_squares(model.grads(), 0));
    const float lr = static_cast<float>(sched.at(step));
    opt.step(model.params(), model.grads(), lr, opt.clip_coefficient(norm));
    trace.push_back({{"loss", loss.weighted_sum / loss.weight_sum}, {"grad_norm", norm}, {"lr", lr}});
  }
  loong::save_llama(model, dir / "final");
  nlohmann::json meta = {{"steps", steps},
                         {"adamw",
                          {{"beta1", ac.beta1},
                           {"beta2", ac.beta2},
                           {"eps", ac.eps},
                           {"weight_decay", ac.weight_decay},
                           {"max_grad_norm", ac.max_grad_norm}}},
                         {"schedule",
                          {{"max_lr", sched.max_lr},
                           {"min_lr", sched.min_lr},
                           {"warmup_steps", sched.warmup_steps},
                           {"total_steps", sched.total_steps}}},
                         {"trace", trace}};
  loong::write_file_atomic(dir / "trace.json", meta.dump(2));
  return 0;
}
