// Model + optimizer checkpoints that any parallel layout can write and any other can read.
//
// Layout of `dir` (docs/architecture.md, Checkpoints; Hugging Face conventions):
//   config.json                          LlamaConfig
//   model.safetensors                    all weights, unsharded HF names (one pipeline stage), or
//   model-0000K-of-0000P.safetensors     one file per pipeline stage + model.safetensors.index.json
//   optimizer[-0000K-of-0000P].safetensors   "exp_avg.<name>", "exp_avg_sq.<name>" (unsharded),
//                                        metadata "step" = optimizer steps taken
// Tensor-parallel shards are gathered before writing and ZeRO-1 optimizer shards all-gathered, so
// the files never depend on the layout that wrote them. Reading slices what each rank holds.
#pragma once
#include <filesystem>

#include "model/llama_model.h"
#include "optim/adamw_optimizer.h"
#include "parallel/process_grid.h"

namespace loong {

// Writes the tensors of this rank's stage into `dir` (which must exist). Collective over all
// workers of the grid; the (tp 0, dp 0) rank of each stage writes its stage's file, worker 0 the
// index and config.json. `optimizer` may be null (weights only).
void save_model_files(LlamaModel& model, ProcessGrid& grid, AdamWOptimizer* optimizer,
                      const std::filesystem::path& dir);
// Loads this rank's slices of the weights (and optimizer state when `optimizer` is given) from
// `dir`. FormatError/ConfigError naming the file and tensor on any mismatch.
void load_model_files(LlamaModel& model, AdamWOptimizer* optimizer, const std::filesystem::path& dir);

}  // namespace loong
