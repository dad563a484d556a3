// A named tensor inside a flat parameter buffer, and how it is split across tensor-parallel ranks.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace loong {

struct ParamTensor {
  std::string name;                 // Hugging Face name, e.g. "model.layers.3.mlp.up_proj.weight"
  std::vector<int64_t> shape;       // local shape: [out, in] for linear weights, [C] for norms
  std::vector<int64_t> full_shape;  // unsharded shape (as saved)
  int shard_dim = -1;               // -1 whole on this rank (replicated when tp > 1), 0 rows split, 1 columns split
  int64_t offset = 0;               // into the flat buffer, in floats
  int64_t numel = 0;
  bool weight_decay = true;  // false for norm gains
};

}  // namespace loong
