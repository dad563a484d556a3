// A Llama decoder (LlamaForCausalLM semantics: pre-norm RMSNorm, rotate-half RoPE, grouped-query
// causal attention, SwiGLU MLP, no biases, untied lm_head) trained on the CPU.
//
// Parameters and gradients each live in one flat float buffer (one all-reduce, one norm, one
// optimizer loop over the whole model). Tensors are views into it, named with Hugging Face Llama
// names; q/k/v and gate/up are laid out back to back so each pair is also one fused GEMM weight.
// Activations are planned once per (batch, seq, pipeline slots) shape and reused across steps.
//
// Parallelism is applied to this one model, Megatron-style, through a ModelShard:
// - tensor parallel: q/k/v and gate/up are column-parallel (each rank holds heads/tp heads and
//   intermediate/tp rows), o_proj and down_proj row-parallel, embedding and lm_head
//   vocab-parallel (vocab/tp rows each) with a vocab-parallel cross-entropy. One all-reduce over
//   the tp group per block in forward (after o_proj and after down_proj) and one per block in
//   backward (before each block's input norm), plus the embedding and the head.
// - pipeline parallel: a shard holds layers [first_layer, last_layer); the first stage also the
//   embedding, the last the final norm, head and loss. Stages exchange [batch*seq, hidden]
//   activations; up to `slots` micro-batches can be in flight (1F1B keeps pp - stage).
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/llama_config.h"
#include "parallel/communicator.h"
#include "parallel/param_tensor.h"

namespace loong {

// Which part of the model a process holds.
struct ModelShard {
  int tp_rank = 0, tp_size = 1;
  int64_t first_layer = 0, last_layer = -1;  // [first, last); -1: through the last layer
  bool has_embedding = true, has_head = true;
  // Layers split evenly over `pp` stages; ConfigError saying what to change when the config
  // cannot be split this way (heads, kv heads, intermediate size or vocab not divisible by tp,
  // layers not divisible by pp).
  static ModelShard for_grid(const LlamaConfig& c, int tp_rank, int tp, int pp_rank, int pp);
};

// Losses of one forward pass over N = batch*seq tokens (last stage only; zeros elsewhere).
struct ForwardLoss {
  double weighted_sum = 0;  // sum_n weight[n] * ce[n]
  double weight_sum = 0;    // sum_n weight[n]
};

// One decoder layer's tensors by role: views into LlamaModel::params() under their Hugging Face
// names. qkv_proj is q_proj with k_proj and v_proj right behind it in the buffer, so the three are
// one [(heads + 2 kv_heads) * head_dim, hidden] GEMM weight; gate_up_proj is gate_proj followed
// by up_proj, one [2 * intermediate, hidden] weight (both local sizes under tensor parallelism).
struct LlamaLayer {
  const ParamTensor *input_layernorm, *qkv_proj, *o_proj, *post_attention_layernorm, *gate_up_proj, *down_proj;
};

class LlamaModel {
 public:
  // `tp` is the tensor-parallel group (borrowed; must outlive the model); null for tp_size 1.
  explicit LlamaModel(const LlamaConfig& config, const ModelShard& shard = {}, Communicator* tp = nullptr);
  ~LlamaModel();
  LlamaModel(const LlamaModel&) = delete;
  LlamaModel& operator=(const LlamaModel&) = delete;

  const LlamaConfig& config() const { return config_; }
  const ModelShard& shard() const { return shard_; }
  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  const ParamTensor* find_tensor(const std::string& name) const;  // null if not in this shard
  const ParamTensor& tensor(const std::string& name) const;       // InputError if not in this shard
  std::span<float> params() { return params_; }
  std::span<const float> params() const { return params_; }
  std::span<float> grads() { return grads_; }
  std::span<const float> grads() const { return grads_; }
  float* param(const ParamTensor& t) { return params_.data() + t.offset; }
  const float* param(const ParamTensor& t) const { return params_.data() + t.offset; }
  float* grad(const ParamTensor& t) { return grads_.data() + t.offset; }
  // Named views of the network, for code that runs the model another way (model/llama_decoder.h).
  // `l` is the model's layer index ("model.layers.l"), in [shard().first_layer, shard().last_layer);
  // InputError otherwise. The others are null when this shard does not hold them.
  const LlamaLayer& layer(int64_t l) const;
  const ParamTensor* embedding() const { return embed_; }
  const ParamTensor* final_norm() const { return norm_; }
  const ParamTensor* lm_head() const { return head_; }

  // Normal(0, std) for matrices (o_proj/down_proj scaled by 1/sqrt(2*layers)), ones for norms.
  // Every element is drawn from a stream keyed by (seed, tensor name, full index), so a shard gets
  // exactly the values of its slice of the unsharded model.
  void init_random(uint64_t seed, float std = 0.02f);

  // ---- single process (or the whole model on every rank) ----
  // Forward over `batch` sequences of `seq` tokens (row-major [batch, seq]). `targets` are the
  // next tokens, `weights` the per-token loss weights (0 excludes a token). Checks every id is in
  // [0, vocab) and seq <= max_position_embeddings (InputError naming the position and value).
  ForwardLoss forward(const int32_t* tokens, const int32_t* targets, const float* weights, int64_t batch, int64_t seq) {
    return forward_slot(0, tokens, nullptr, targets, weights, batch, seq);
  }
  // Accumulates d(loss)/d(params) into grads() for loss = weighted_sum / normalizer.
  // The normalizer is the weight sum over the whole global batch (all micro-batches, all ranks).
  void backward(float normalizer) { backward_slot(0, nullptr, normalizer); }

  // ---- pipeline stages ----
  // Plans activations for `slots` micro-batches in flight (default 1).
  void set_slots(int slots);
  // Forward of micro-batch `slot` through this shard. First stage reads `tokens`; other stages
  // read `input` [batch*seq, hidden] from the previous stage. The last stage computes the loss
  // from `targets` and `weights` (others may pass null).
  ForwardLoss forward_slot(int slot, const int32_t* tokens, const float* input, const int32_t* targets,
                           const float* weights, int64_t batch, int64_t seq);
  // Output activations [batch*seq, hidden] of the last forward_slot(slot) (non-last stages).
  const float* stage_output(int slot) const;
  // Backward of micro-batch `slot`: the last stage starts from the loss (normalizer), others
  // from `d_output` [batch*seq, hidden]. Returns d(loss)/d(input) for non-first stages (valid
  // until the next backward_slot), null on the first stage.
  const float* backward_slot(int slot, const float* d_output, float normalizer);
  // Logits [batch*seq, vocab/tp] and unweighted per-token cross-entropy [batch*seq] of the last
  // forward of `slot` (last stage). Logits are overwritten by backward.
  std::span<const float> logits(int slot = 0) const;
  std::span<const float> token_losses(int slot = 0) const;

  void zero_grad();
  // Bytes held by parameters, gradients and planned activations.
  size_t memory_bytes() const;

  // When set, forward/backward add the wall time of each kernel family ("linear", "attention",
  // "rmsnorm", "tp_comm", ...) to `times` (seconds). The caller owns the map; null turns it off.
  void set_op_times(std::map<std::string, double>* times) { op_times_ = times; }

 private:
  struct Slot;
  struct Scratch;
  void plan(int64_t batch, int64_t seq);
  template <class F>
  void timed(const char* family, F&& f);
  void tp_all_reduce(float* data, int64_t n);

  LlamaConfig config_;
  ModelShard shard_;
  Communicator* tp_;
  std::unique_ptr<Communicator> own_tp_;
  int64_t heads_, kv_heads_, inter_, vocab_, vocab_begin_;  // local sizes on this tp rank
  std::vector<ParamTensor> tensors_;
  std::vector<float> params_, grads_;
  std::vector<LlamaLayer> layers_;  // layers_[i] is layer first_layer + i
  const ParamTensor *embed_ = nullptr, *norm_ = nullptr, *head_ = nullptr;
  int slots_ = 1;
  int64_t batch_ = 0, seq_ = 0;
  std::vector<std::unique_ptr<Slot>> slot_acts_;
  std::unique_ptr<Scratch> scratch_;
  std::map<std::string, double>* op_times_ = nullptr;
};

// Single-file save/load of an unsharded model: `<dir>/model.safetensors` (HF names, F32) and
// `<dir>/config.json`. Sharded models save through model/model_checkpoint.h.
void save_llama(const LlamaModel& model, const std::filesystem::path& dir);
// Reads the config.json of a saved model (ConfigError naming the file).
LlamaConfig load_llama_config(const std::filesystem::path& dir);
// Loads this model's shard from a saved model whose config must equal the model's; every tensor
// must be present with its full shape (FormatError naming the file and tensor).
void load_llama_weights(LlamaModel& model, const std::filesystem::path& dir);

// Copies the shard of a full tensor `full` (full_shape) that `t` holds into `dst` (t.numel).
void slice_for_shard(const ParamTensor& t, int tp_rank, const float* full, float* dst);
// The inverse: writes the local values `src` of `t` into their place in `full`.
void place_from_shard(const ParamTensor& t, int tp_rank, const float* src, float* full);

}  // namespace loong
