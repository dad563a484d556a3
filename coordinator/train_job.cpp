#include "coordinator/train_job.h"

#include <cmath>
#include <set>

#include "core/error.h"
#include "model/llama_model.h"

namespace loong {

TrainJob TrainJob::from_toml(const TomlConfig& c) {
  std::set<std::string> known = {"model.hidden_size",
                                 "model.num_hidden_layers",
                                 "model.num_attention_heads",
                                 "model.num_key_value_heads",
                                 "model.intermediate_size",
                                 "model.rope_theta",
                                 "model.rms_norm_eps",
                                 "parallel.tp",
                                 "parallel.pp",
                                 "parallel.dp",
                                 "parallel.zero1",
                                 "data.db",
                                 "data.tokenizer",
                                 "data.text_budget",
                                 "train.seed",
                                 "train.micro_batch_size",
                                 "train.loss_weighting",
                                 "train.frame_weights",
                                 "train.short_clip_frames",
                                 "train.text_loss",
                                 "train.weight_decay",
                                 "train.max_grad_norm",
                                 "train.beta1",
                                 "train.beta2",
                                 "train.eps",
                                 "train.max_consecutive_skips",
                                 "train.eval_every",
                                 "train.eval_samples",
                                 "train.caption_dropout",
                                 "train.eval_caption_control",
                                 "train.log",
                                 "curriculum.stage",
                                 "checkpoint.dir",
                                 "checkpoint.every",
                                 "checkpoint.keep_last",
                                 "coordinator.heartbeat_timeout_s",
                                 "coordinator.work_unit_timeout_s",
                                 "metrics.address",
                                 "metrics.port",
                                 "debug.nonfinite_at_step",
                                 "debug.nonfinite_steps",
                                 "debug.nonfinite_dp_rank",
                                 "debug.step_delay_ms",
                                 "metrics.job_name",
                                 "metrics.targets_dir",
                                 "metrics.peak_flops"};
  c.reject_unknown_keys(known);
  TrainJob j;
  j.source = c.source();
  j.model.hidden_size = c.get_int("model.hidden_size", 128, 1);
  j.model.num_hidden_layers = c.get_int("model.num_hidden_layers", 4, 1);
  j.model.num_attention_heads = c.get_int("model.num_attention_heads", 4, 1);
  j.model.num_key_value_heads = c.get_int("model.num_key_value_heads", j.model.num_attention_heads, 1);
  j.model.intermediate_size = c.get_int("model.intermediate_size", 4 * j.model.hidden_size, 1);
  j.model.rope_theta = c.get_positive("model.rope_theta", 10000.0, 1e12);
  j.model.rms_norm_eps = c.get_positive("model.rms_norm_eps", 1e-5, 1.0);
  j.model.vocab_size = 64;  // placeholder until the data's vocabulary is known
  j.model.validate(c.source() + " [model]");
  j.layout.tp = static_cast<int>(c.get_int("parallel.tp", 1, 1, 1024));
  j.layout.pp = static_cast<int>(c.get_int("parallel.pp", 1, 1, 1024));
  j.layout.dp = static_cast<int>(c.get_int("parallel.dp", 1, 1, 1 << 20));
  j.zero1 = c.get_bool("parallel.zero1", false);
  ModelShard::for_grid(j.model, 0, j.layout.tp, 0, j.layout.pp);  // heads/layers divisibility, named
  j.db = c.get_string("data.db", "");
  j.tokenizer = c.get_string("data.tokenizer", "default");
  j.text_budget = c.get_int("data.text_budget", 16, 1, 4096);
  j.seed = static_cast<uint64_t>(c.get_int("train.seed", 1, 0));
  j.micro_batch_size = c.get_int("train.micro_batch_size", 1, 1, 4096);
  j.weighting.scheme =
      LossWeighting::parse(c.get_string("train.loss_weighting", "none"), c.source() + ": key 'train.loss_weighting'");
  j.weighting.short_end = c.get_int("train.short_clip_frames", 5, 1);
  j.weighting.text_loss = c.get_bool("train.text_loss", false);
  if (auto arr = c.raw().at_path("train.frame_weights"); arr) {
    const toml::array* a = arr.as_array();
    if (!a) throw ConfigError(c.source() + ": key 'train.frame_weights' must be an array of numbers");
    for (const auto& v : *a) {
      auto d = v.value<double>();
      if (!d || *d < 0) throw ConfigError(c.source() + ": key 'train.frame_weights' must hold non-negative numbers");
      j.weighting.per_frame.push_back(*d);
    }
  }
  if (j.weighting.scheme == LossWeighting::Scheme::PerFrame && j.weighting.per_frame.empty())
    throw ConfigError(c.source() + ": train.loss_weighting = \"per_frame\" needs key 'train.frame_weights'");
  j.adamw.weight_decay = static_cast<float>(c.get_double("train.weight_decay", 0.1, 0.0, 1e3));
  j.adamw.max_grad_norm = static_cast<float>(c.get_double("train.max_grad_norm", 1.0, -1e300, 1e30));
  j.adamw.beta1 = static_cast<float>(c.get_double("train.beta1", 0.9, 0.0, 1.0, true));
  j.adamw.beta2 = static_cast<float>(c.get_double("train.beta2", 0.95, 0.0, 1.0, true));
  j.adamw.eps = static_cast<float>(c.get_positive("train.eps", 1e-8, 1.0));
  j.max_consecutive_skips = c.get_int("train.max_consecutive_skips", 20, 1, 1000000);
  j.eval_every = c.get_int("train.eval_every", 50, 0);
  j.eval_samples = c.get_int("train.eval_samples", 16, 1);
  j.log = c.get_string("train.log", "train_log.jsonl");
  // The fraction of samples trained on the empty caption, for classifier-free guidance.
  j.caption_dropout = c.get_double("train.caption_dropout", 0.0, 0.0, 1.0, true);
  j.eval_caption_control = c.get_bool("train.eval_caption_control", true);
  j.curriculum = Curriculum::from_toml(c);
  j.checkpoint_dir = c.get_string("checkpoint.dir", "checkpoints");
  j.checkpoint_every = c.get_int("checkpoint.every", 100, 0);
  j.keep_last = c.get_int("checkpoint.keep_last", 3, 1);
  j.heartbeat_timeout_s = c.get_double("coordinator.heartbeat_timeout_s", 30.0, 0.5, 86400.0);
  j.work_unit_timeout_s = c.get_double("coordinator.work_unit_timeout_s", 600.0, 0.0, 1e7);
  j.metrics_address = c.get_string("metrics.address", "127.0.0.1");
  j.metrics_port = c.get_int("metrics.port", 0, 0, 65535);
  j.nonfinite_at_step = c.get_int("debug.nonfinite_at_step", -1);
  j.nonfinite_steps = c.get_int("debug.nonfinite_steps", 1, 1);
  j.nonfinite_dp_rank = static_cast<int>(c.get_int("debug.nonfinite_dp_rank", -1, -1, 1 << 20));
  j.step_delay_ms = c.get_int("debug.step_delay_ms", 0, 0, 60000);
  j.metrics_job_name = c.get_string("metrics.job_name", "loong");
  j.metrics_targets_dir = c.get_string("metrics.targets_dir", "");
  j.metrics_peak_flops = c.get_double("metrics.peak_flops", 0.0, 0.0);
  return j;
}

LlamaConfig TrainJob::model_for(const VocabLayout& vocab, int64_t grid_h, int64_t grid_w) const {
  LlamaConfig m = model;
  m.vocab_size = vocab.size();
  int64_t longest = 1;
  for (const auto& s : curriculum.stages) longest = std::max(longest, s.latent_frames);
  m.max_position_embeddings = shape(longest, grid_h, grid_w).model_length();
  m.validate(source + " [model]");
  return m;
}

SampleShape TrainJob::shape(int64_t frames, int64_t grid_h, int64_t grid_w) const {
  return SampleShape{text_budget, frames, grid_h, grid_w};
}

}  // namespace loong
