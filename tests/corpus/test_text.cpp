// Caption tokens through the CLI: the SentencePiece model learns from the train split only, and
// clips ingested after `loong text train` get tokens of the stored model from `loong text tokenize`
// (the model, and so every language model trained on its tokens, stays valid).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "core/fs.h"
#include "dataloader/corpus.h"
#include "dataloader/moving_mnist.h"

namespace fs = std::filesystem;
using namespace loong;

namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::path(LOONG_TEST_CACHE) / "work" / (name + "-" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A short test-pattern video; `seconds` differs per file so that the files' bytes differ.
void make_clip(const fs::path& out, double seconds) {
  ASSERT_EQ(run_command({"ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=8", "-t",
                         std::to_string(seconds), "-pix_fmt", "yuv420p", out.string()}),
            0);
}

int run_loong(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {LOONG_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

int ingest(const fs::path& manifest, const fs::path& db) {
  return run_loong({"ingest", "--manifest", manifest.string(), "--db", db.string(), "--clip-frames", "9", "--no-progress"});
}

std::map<std::string, std::vector<int32_t>> tokens_by_caption(const CorpusReader& r) {
  std::map<std::string, std::vector<int32_t>> out;
  for (auto& c : r.list_clips()) {
    auto t = r.text_tokens(c.id);
    if (t) out[c.caption] = *t;
  }
  return out;
}

}  // namespace

TEST(Text, ModelLearnsFromTrainSplitOnlyAndLaterClipsGetTokensOfTheStoredModel) {
  const fs::path d = fresh_dir("text-split");
  const fs::path db = d / "db";
  make_clip(d / "a.mp4", 1.125);
  make_clip(d / "b.mp4", 1.25);
  make_clip(d / "c.mp4", 1.375);
  make_clip(d / "e.mp4", 1.5);
  write_file_atomic(d / "first.csv",
                    "path,caption,split\n"
                    "a.mp4,the red ball moves left,train\n"
                    "b.mp4,the red ball moves right,train\n"
                    "c.mp4,zebra quokka jumps,test\n");
  ASSERT_EQ(ingest(d / "first.csv", db), 0);
  // No model yet: tokenize has nothing to tokenize with.
  EXPECT_EQ(run_loong({"text", "tokenize", "--db", db.string()}), 1);
  ASSERT_EQ(run_loong({"text", "train", "--db", db.string(), "--vocab-size", "200"}), 0);

  std::string model_id;
  std::vector<int32_t> left;
  {
    CorpusReader r(db);
    model_id = r.text_model_id();
    ASSERT_FALSE(model_id.empty());
    auto tok = tokens_by_caption(r);
    ASSERT_EQ(tok.size(), 3u);  // every split is tokenized
    left = tok.at("the red ball moves left");
    // Train captions are covered by the model: no <unk> (id 0).
    for (auto& cap : {"the red ball moves left", "the red ball moves right"})
      EXPECT_EQ(std::count(tok.at(cap).begin(), tok.at(cap).end(), 0), 0) << cap;
    // 'z', 'q', 'k', 'j', 'u', 'p' occur only in the test caption: a model that never saw it has
    // no piece for them, so they come out as <unk>.
    const auto& test = tok.at("zebra quokka jumps");
    EXPECT_GT(std::count(test.begin(), test.end(), 0), 0);
  }

  // A later ingest: the new clip has no tokens until `text tokenize`, which keeps the model.
  write_file_atomic(d / "later.csv", "path,caption,split\ne.mp4,the ball moves right,train\n");
  ASSERT_EQ(ingest(d / "later.csv", db), 0);
  {
    CorpusReader r(db);
    EXPECT_EQ(tokens_by_caption(r).count("the ball moves right"), 0u);
  }
  ASSERT_EQ(run_loong({"text", "tokenize", "--db", db.string()}), 0);
  {
    CorpusReader r(db);
    EXPECT_EQ(r.text_model_id(), model_id);
    auto tok = tokens_by_caption(r);
    ASSERT_EQ(tok.size(), 4u);
    EXPECT_EQ(tok.at("the red ball moves left"), left);  // old tokens untouched
    const auto& later = tok.at("the ball moves right");
    ASSERT_FALSE(later.empty());
    EXPECT_EQ(std::count(later.begin(), later.end(), 0), 0);
    // Same model: the shared words "the" and "right" encode as in the training captions.
    const auto& right = tok.at("the red ball moves right");
    EXPECT_EQ(later.front(), right.front());
    EXPECT_EQ(later.back(), right.back());
    for (auto& c : r.list_clips()) EXPECT_EQ(r.text_tokens_model(c.id), model_id) << c.id;
  }
  // Training on an empty split is refused with a message, not a model of nothing.
  EXPECT_EQ(run_loong({"text", "train", "--db", db.string(), "--train-split", "validation"}), 1);
  CorpusReader r(db);
  EXPECT_EQ(r.text_model_id(), model_id);
}
