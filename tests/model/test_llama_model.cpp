#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.h"
#include "core/fs.h"
#include "model/llama_model.h"
#include "optim/adamw_optimizer.h"

namespace fs = std::filesystem;
#include "tests/common/tiny_llama.h"

using namespace loong;

namespace {
LlamaConfig tiny() { return loong::testing::tiny_llama(50, 64); }
fs::path temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("loong_test_model_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST(LlamaConfig, InconsistentShapesNameTheField) {
  auto c = tiny();
  c.num_attention_heads = 5;
  EXPECT_NE(error_of([&] { c.validate("job.toml"); }).find("job.toml: num_attention_heads = 5"), std::string::npos);
  c = tiny();
  c.num_key_value_heads = 3;
  EXPECT_NE(error_of([&] { c.validate("x"); }).find("num_key_value_heads = 3"), std::string::npos);
  c = tiny();
  c.hidden_size = 36;
  c.num_attention_heads = 4;  // head_dim 9: odd, RoPE needs pairs
  EXPECT_NE(error_of([&] { c.validate("x"); }).find("even head_dim"), std::string::npos);
  c = tiny();
  c.vocab_size = 0;
  EXPECT_NE(error_of([&] { c.validate("x"); }).find("vocab_size = 0"), std::string::npos);
  EXPECT_THROW(LlamaModel{c}, ConfigError);
}

TEST(LlamaConfig, HfJsonRoundTripAndErrors) {
  auto c = tiny();
  auto j = c.to_hf_json();
  EXPECT_EQ(j["architectures"][0], "LlamaForCausalLM");
  EXPECT_EQ(LlamaConfig::from_hf_json(j, "config.json").to_hf_json(), j);
  j.erase("hidden_size");
  EXPECT_NE(error_of([&] { LlamaConfig::from_hf_json(j, "config.json"); }).find("missing key 'hidden_size'"),
            std::string::npos);
  j = c.to_hf_json();
  j["num_hidden_layers"] = "two";
  EXPECT_NE(error_of([&] { LlamaConfig::from_hf_json(j, "config.json"); }).find("num_hidden_layers"),
            std::string::npos);
}

TEST(LlamaModel, TokenOutsideVocabularyIsAnInputError) {
  LlamaModel m(tiny());
  m.init_random(1);
  std::vector<int32_t> x = {1, 2, 50, 3}, y = {2, 3, 4, 5};
  std::vector<float> w(4, 1.0f);
  auto msg = error_of([&] { m.forward(x.data(), y.data(), w.data(), 1, 4); });
  EXPECT_NE(msg.find("token id 50 at position 2"), std::string::npos) << msg;
  x[2] = -1;
  EXPECT_NE(error_of([&] { m.forward(x.data(), y.data(), w.data(), 1, 4); }).find("token id -1"), std::string::npos);
  x[2] = 4;
  y[0] = 77;
  EXPECT_NE(error_of([&] { m.forward(x.data(), y.data(), w.data(), 1, 4); }).find("target id 77"), std::string::npos);
  std::vector<int32_t> long_x(65, 1), long_y(65, 1);
  std::vector<float> long_w(65, 1.0f);
  EXPECT_NE(error_of([&] {
              m.forward(long_x.data(), long_y.data(), long_w.data(), 1, 65);
            }).find("exceeds max_position_embeddings"),
            std::string::npos);
}

TEST(LlamaModel, SaveLoadRoundTripReproducesLogits) {
  LlamaModel a(tiny());
  a.init_random(7);
  auto dir = temp_dir("roundtrip");
  save_llama(a, dir);
  LlamaModel b(load_llama_config(dir));
  load_llama_weights(b, dir);
  std::vector<int32_t> x = {1, 5, 9, 13, 2, 7}, y = {5, 9, 13, 2, 7, 1};
  std::vector<float> w(6, 1.0f);
  a.forward(x.data(), y.data(), w.data(), 2, 3);
  b.forward(x.data(), y.data(), w.data(), 2, 3);
  ASSERT_EQ(a.logits().size(), b.logits().size());
  for (size_t i = 0; i < a.logits().size(); ++i) ASSERT_EQ(a.logits()[i], b.logits()[i]);
}

TEST(LlamaModel, LoadRejectsTruncatedMismatchedAndIncompleteFiles) {
  LlamaModel a(tiny());
  a.init_random(3);
  auto dir = temp_dir("bad");
  save_llama(a, dir);
  // A different architecture in config.json.
  auto other = tiny();
  other.num_hidden_layers = 3;
  LlamaModel c(other);
  EXPECT_NE(error_of([&] { load_llama_weights(c, dir); }).find("describes a different model"), std::string::npos);
  // Truncated weights.
  auto st = dir / "model.safetensors";
  fs::resize_file(st, fs::file_size(st) / 2);
  LlamaModel b(tiny());
  auto msg = error_of([&] { load_llama_weights(b, dir); });
  EXPECT_NE(msg.find(st.string()), std::string::npos) << msg;
  // Malformed config.json.
  write_file_atomic(dir / "config.json", "{\"hidden_size\": ");
  EXPECT_NE(error_of([&] { load_llama_config(dir); }).find("config.json: not valid JSON"), std::string::npos);
}

TEST(LlamaModel, GradientMatchesFiniteDifferenceOnSampledWeights) {
  auto cfg = tiny();
  LlamaModel m(cfg);
  m.init_random(11, 0.2f);
  std::mt19937 rng(5);
  std::uniform_int_distribution<int32_t> tok(0, 49);
  const int64_t B = 2, T = 9;
  std::vector<int32_t> x(B * T), y(B * T);
  std::vector<float> w(B * T);
  for (int i = 0; i < B * T; ++i) x[i] = tok(rng), y[i] = tok(rng), w[i] = 0.5f + (i % 3);
  m.zero_grad();
  auto l = m.forward(x.data(), y.data(), w.data(), B, T);
  m.backward(static_cast<float>(l.weight_sum));
  std::vector<float> g(m.grads().begin(), m.grads().end());
  auto loss = [&] {
    auto r = m.forward(x.data(), y.data(), w.data(), B, T);
    return r.weighted_sum / r.weight_sum;
  };
  const float h = 1e-2f;
  for (const auto& t : m.tensors()) {
    for (int64_t k : {int64_t{0}, t.numel / 2, t.numel - 1}) {
      float& p = m.param(t)[k];
      const float saved = p;
      p = saved + h;
      const double lp = loss();
      p = saved - h;
      const double lm = loss();
      p = saved;
      const double numeric = (lp - lm) / (2 * h);
      EXPECT_NEAR(g[t.offset + k], numeric, 2e-3 + 2e-2 * std::fabs(numeric)) << t.name << "[" << k << "]";
    }
  }
}

TEST(LlamaModel, TrainingLearnsARepeatedSequence) {
  // A periodic sequence is predictable after one period: the loss must fall far below chance.
  auto cfg = tiny();
  LlamaModel m(cfg);
  m.init_random(2);
  AdamWConfig ac;
  ac.weight_decay = 0.0f;
  AdamWOptimizer opt(m.tensors(), static_cast<int64_t>(m.params().size()), ac);
  const int64_t T = 48;
  std::vector<int32_t> x(T), y(T);
  std::vector<float> w(T, 1.0f);
  const int32_t period[6] = {3, 17, 42, 8, 8, 29};
  for (int64_t t = 0; t < T; ++t) x[t] = period[t % 6], y[t] = period[(t + 1) % 6];
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    m.zero_grad();
    auto l = m.forward(x.data(), y.data(), w.data(), 1, T);
    if (step == 0) first = l.weighted_sum / l.weight_sum;
    last = l.weighted_sum / l.weight_sum;
    m.backward(static_cast<float>(l.weight_sum));
    opt.step(m.params(), m.grads(), 1e-2f, opt.clip_coefficient(std::sqrt(opt.local_grad_sum_squares(m.grads(), 0))));
  }
  EXPECT_NEAR(first, std::log(50.0), 0.5);
  EXPECT_LT(last, 0.2) << "first " << first;
}
