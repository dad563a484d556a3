// A Llama decoder (LlamaForCausalLM semantics: pre-norm RMSNorm, rotate-half RoPE, grouped-query
// causal attention, SwiGLU MLP, no biases, untied lm_head) trained on the CPU.
//
// Parameters and gradients each live in one flat float buffer (one all-reduce, one norm, one
// optimizer loop over the whole model). Tensors are views into it, named with Hugging Face Llama
// names; q/k/v and gate/up are laid out back to back so each pair is also one fused GEMM weight.
// Activations are planned once per (batch, seq) shape and reused across steps.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "worker/llama_config.h"

namespace loong {

struct ParamTensor {
  std::string name;            // Hugging Face name, e.g. "model.layers.3.mlp.up_proj.weight"
  std::vector<int64_t> shape;  // [out, in] for linear weights, [C] for norms, [V, C] for tables
  int64_t offset = 0;          // into the flat buffer, in floats
  int64_t numel = 0;
  bool weight_decay = true;  // false for norm gains
};

// Losses of one forward pass over N = batch*seq tokens.
struct ForwardLoss {
  double weighted_sum = 0;  // sum_n weight[n] * ce[n]
  double weight_sum = 0;    // sum_n weight[n]
};

class LlamaModel {
 public:
  explicit LlamaModel(const LlamaConfig& config);
  ~LlamaModel();
  LlamaModel(const LlamaModel&) = delete;
  LlamaModel& operator=(const LlamaModel&) = delete;

  const LlamaConfig& config() const { return config_; }
  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  const ParamTensor& tensor(const std::string& name) const;  // InputError if unknown
  std::span<float> params() { return params_; }
  std::span<const float> params() const { return params_; }
  std::span<float> grads() { return grads_; }
  std::span<const float> grads() const { return grads_; }
  float* param(const ParamTensor& t) { return params_.data() + t.offset; }
  float* grad(const ParamTensor& t) { return grads_.data() + t.offset; }

  // Normal(0, std) for matrices (o_proj/down_proj scaled by 1/sqrt(2*layers)), ones for norms.
  void init_random(uint64_t seed, float std = 0.02f);

  // Forward over `batch` sequences of `seq` tokens (row-major [batch, seq]). `targets` are the
  // next tokens, `weights` the per-token loss weights (0 excludes a token). Checks every id is in
  // [0, vocab) and seq <= max_position_embeddings (InputError naming the position and value).
  // Keeps the activations for backward(). Returns the per-token weighted loss sums.
  ForwardLoss forward(const int32_t* tokens, const int32_t* targets, const float* weights, int64_t batch, int64_t seq);
  // Logits [batch*seq, vocab] of the last forward (overwritten by backward()).
  std::span<const float> logits() const;
  // Unweighted cross-entropy per token [batch*seq] of the last forward.
  std::span<const float> token_losses() const;

  // Accumulates d(loss)/d(params) into grads() for loss = weighted_sum / normalizer.
  // The normalizer is the weight sum over the whole global batch (all micro-batches, all ranks).
  void backward(float normalizer);
  void zero_grad();

  // Bytes held by parameters, gradients and planned activations.
  size_t memory_bytes() const;

  // When set, forward/backward add the wall time of each kernel family ("linear", "attention",
  // "rmsnorm", ...) to `times` (seconds). The caller owns the map; null turns profiling off.
  void set_op_times(std::map<std::string, double>* times) { op_times_ = times; }

 private:
  void plan(int64_t batch, int64_t seq);
  LlamaConfig config_;
  std::vector<ParamTensor> tensors_;
  std::vector<float> params_, grads_;
  struct Layer {
    const ParamTensor *ln1, *qkv, *o, *ln2, *gate_up, *down;
  };
  std::vector<Layer> layers_;
  const ParamTensor *embed_ = nullptr, *norm_ = nullptr, *head_ = nullptr;
  struct Activations;
  std::unique_ptr<Activations> acts_;
  std::map<std::string, double>* op_times_ = nullptr;
  template <class F>
  void timed(const char* family, F&& f);
};

// Writes `<dir>/model.safetensors` (HF names, F32) and `<dir>/config.json`.
void save_llama(const LlamaModel& model, const std::filesystem::path& dir);
// Reads the config.json of a saved model (ConfigError naming the file).
LlamaConfig load_llama_config(const std::filesystem::path& dir);
// Loads weights into `model`, whose config must equal the saved one; every tensor must be present
// with its exact shape (FormatError naming the file and tensor).
void load_llama_weights(LlamaModel& model, const std::filesystem::path& dir);

}  // namespace loong
