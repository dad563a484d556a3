// Bad parallel configurations fail before any work, saying what to change.
#include <gtest/gtest.h>

#include "core/error.h"
#include "model/llama_model.h"
#include "parallel/process_grid.h"

using namespace loong;

namespace {
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no ConfigError)";
}
LlamaConfig cfg() {
  LlamaConfig c;
  c.hidden_size = 48;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 6;
  c.num_key_value_heads = 3;
  c.intermediate_size = 96;
  c.vocab_size = 100;
  return c;
}
}  // namespace

TEST(LayoutErrors, GridMustMatchWorkerCount) {
  auto msg = error_of([] {
    ProcessGrid::from_workers(std::make_unique<LocalCommunicator>(), ParallelLayout{2, 1, 2},
                              [](int, int, const std::string&) { return std::make_unique<LocalCommunicator>(); });
  });
  EXPECT_NE(msg.find("TP=2 x PP=1 x DP=2 needs 4 worker ranks but the job has 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("-np 5"), std::string::npos) << msg;
}

TEST(LayoutErrors, HeadsLayersVocabMustDivide) {
  auto c = cfg();
  auto msg = error_of([&] { ModelShard::for_grid(c, 0, 4, 0, 1); });
  EXPECT_NE(msg.find("num_attention_heads = 6 is not divisible by parallel.tp = 4"), std::string::npos) << msg;
  msg = error_of([&] { ModelShard::for_grid(c, 0, 2, 0, 1); });
  EXPECT_NE(msg.find("num_key_value_heads = 3 is not divisible by parallel.tp = 2"), std::string::npos) << msg;
  msg = error_of([&] { ModelShard::for_grid(c, 0, 3, 0, 1); });
  EXPECT_NE(msg.find("vocab_size = 100 is not divisible by parallel.tp = 3"), std::string::npos) << msg;
  msg = error_of([&] { ModelShard::for_grid(c, 0, 1, 0, 2); });
  EXPECT_NE(msg.find("num_hidden_layers = 3 is not divisible by parallel.pp = 2"), std::string::npos) << msg;
}

// Only the pipeline degree is wrong: every tensor-parallel dimension divides by tp = 3, so the
// error can only come from the pp check, and it must name pp, not a tp dimension.
TEST(LayoutErrors, OnlyPipelineDegreeViolated) {
  auto c = cfg();
  c.vocab_size = 102;  // divisible by 3; heads 6, kv heads 3, intermediate 96 divide by 3 as well
  // The same model with pp dividing the layers is accepted: the tp = 3 dimensions are all fine.
  EXPECT_EQ(error_of([&] { ModelShard::for_grid(c, 0, 3, 0, 3); }), "(no ConfigError)");
  const std::string msg = error_of([&] { ModelShard::for_grid(c, 0, 3, 0, 2); });
  EXPECT_NE(msg.find("num_hidden_layers = 3 is not divisible by parallel.pp = 2"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("parallel.tp"), std::string::npos) << msg;
}
