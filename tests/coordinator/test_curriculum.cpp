#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "coordinator/curriculum.h"
#include "coordinator/sample_order.h"
#include "core/error.h"

using namespace loong;

TEST(Curriculum, DefaultIsShortToLong) {
  auto c = Curriculum::paper_default();
  ASSERT_EQ(c.stages.size(), 3u);
  EXPECT_EQ(c.stages[0].latent_frames, 1);
  EXPECT_EQ(c.stages[1].latent_frames, 5);
  EXPECT_EQ(c.stages[2].latent_frames, 17);
  EXPECT_EQ(c.locate(0), (std::pair<size_t, int64_t>{0, 0}));
  EXPECT_EQ(c.locate(200), (std::pair<size_t, int64_t>{1, 0}));
  EXPECT_EQ(c.locate(599), (std::pair<size_t, int64_t>{2, 199}));
  EXPECT_EQ(c.locate(600).first, 3u);
}

TEST(Curriculum, ParsesStagesAndNamesBadKeys) {
  auto cfg = TomlConfig::parse_string(
      "[[curriculum.stage]]\nlatent_frames = 1\nsteps = 10\n[[curriculum.stage]]\nname = \"b\"\n"
      "latent_frames = 3\nsteps = 5\nlr = 0.01\n",
      "job.toml");
  auto c = Curriculum::from_toml(cfg);
  ASSERT_EQ(c.stages.size(), 2u);
  EXPECT_EQ(c.stages[1].name, "b");
  EXPECT_EQ(c.stages[1].latent_frames, 3);
  EXPECT_EQ(c.total_steps(), 15);
  auto bad = TomlConfig::parse_string("[[curriculum.stage]]\nlatent_frame = 2\n", "job.toml");
  try {
    Curriculum::from_toml(bad);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("#1: unknown key 'latent_frame'"), std::string::npos) << e.what();
  }
  auto order = TomlConfig::parse_string(
      "[[curriculum.stage]]\nlatent_frames = 5\n[[curriculum.stage]]\nlatent_frames = 1\n", "job.toml");
  EXPECT_THROW(Curriculum::from_toml(order), ConfigError);
}

TEST(SampleOrder, EachEpochIsAPermutationAndTheOrderIsReproducible) {
  std::vector<uint64_t> clips = {40, 7, 13, 99, 2, 61, 5};
  SampleOrder a(clips, 1234, 1), b({5, 61, 2, 99, 13, 7, 40}, 1234, 1), other_stage(clips, 1234, 2);
  std::vector<uint64_t> e0, e1, s2;
  for (int64_t i = 0; i < 7; ++i) e0.push_back(a.clip_at(i));
  for (int64_t i = 7; i < 14; ++i) e1.push_back(a.clip_at(i));
  for (int64_t i = 0; i < 7; ++i) s2.push_back(other_stage.clip_at(i));
  auto sorted = clips;
  std::sort(sorted.begin(), sorted.end());
  for (auto* e : {&e0, &e1, &s2}) {
    auto x = *e;
    std::sort(x.begin(), x.end());
    EXPECT_EQ(x, sorted) << "an epoch uses every clip exactly once";
  }
  EXPECT_NE(e0, e1) << "epochs are reshuffled";
  EXPECT_NE(e0, s2) << "stages have their own order";
  // Input order does not matter, and random access (as on resume) gives the same clip.
  for (int64_t i = 20; i >= 0; --i) EXPECT_EQ(a.clip_at(i), b.clip_at(i));
  EXPECT_THROW(SampleOrder({}, 1, 0), InputError);
}

#include "coordinator/train_job.h"

TEST(SampleOrder, CaptionDropoutDropsTheConfiguredFractionDeterministically) {
  for (double p : {0.0, 0.1, 0.25, 0.5}) {
    int64_t dropped = 0;
    const int64_t n = 20000;
    for (int64_t i = 0; i < n; ++i) dropped += SampleOrder::caption_dropped(7, 1, static_cast<uint64_t>(i), p);
    // Binomial(20000, p): 4 standard deviations at most 0.0142 from p.
    EXPECT_NEAR(static_cast<double>(dropped) / n, p, 0.015) << "p " << p;
  }
  // The same (seed, stage, sample) gives the same decision; another seed or stage another pattern.
  int64_t same = 0, other_seed = 0, other_stage = 0;
  for (uint64_t i = 0; i < 4000; ++i) {
    const bool d = SampleOrder::caption_dropped(7, 1, i, 0.3);
    same += d == SampleOrder::caption_dropped(7, 1, i, 0.3);
    other_seed += d != SampleOrder::caption_dropped(8, 1, i, 0.3);
    other_stage += d != SampleOrder::caption_dropped(7, 2, i, 0.3);
  }
  EXPECT_EQ(same, 4000);
  // Independent patterns disagree on 2 p (1 - p) = 42% of samples.
  EXPECT_GT(other_seed, 1400);
  EXPECT_GT(other_stage, 1400);
}

TEST(ExampleConfigs, EveryShippedTrainConfigParses) {
  for (const char* name : {"train_mnist.toml", "train_paper_gpu.toml"}) {
    const auto job = TrainJob::from_toml(TomlConfig::parse_file(std::string(LOONG_SOURCE_DIR "/configs/") + name));
    EXPECT_EQ(job.curriculum.stages.size(), 3u) << name;
    EXPECT_EQ(job.curriculum.stages.back().latent_frames, 17) << name;
  }
  // The paper config's model is the ~0.7B class it says it is (matmul parameters without the vocabulary).
  auto paper = TrainJob::from_toml(TomlConfig::parse_file(LOONG_SOURCE_DIR "/configs/train_paper_gpu.toml"));
  auto m = paper.model_for(VocabLayout{1000, 8192, 64}, 16, 16);
  const double non_vocab = static_cast<double>(matmul_parameter_count(m) - m.vocab_size * m.hidden_size);
  EXPECT_GT(non_vocab, 6.0e8);
  EXPECT_LT(non_vocab, 7.5e8);
  EXPECT_EQ(m.max_position_embeddings, 1 + 64 + 1 + 17 * 256 + 1 - 1);
}

TEST(TrainJobConfig, CaptionDropoutIsAFractionInZeroToOne) {
  auto job = [](const std::string& value) {
    return TrainJob::from_toml(TomlConfig::parse_string("[train]\ncaption_dropout = " + value + "\n", "job.toml"));
  };
  EXPECT_DOUBLE_EQ(job("0.1").caption_dropout, 0.1);
  EXPECT_DOUBLE_EQ(job("0.0").caption_dropout, 0.0);
  for (const char* bad : {"1.0", "-0.1", "nan", "inf", "1.5"}) {
    try {
      job(bad);
      FAIL() << bad;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("train.caption_dropout"), std::string::npos) << e.what();
    }
  }
}
