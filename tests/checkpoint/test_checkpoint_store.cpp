#include <gtest/gtest.h>

#include <fstream>

#include "checkpoint/checkpoint_store.h"
#include "core/error.h"
#include "core/fs.h"

namespace fs = std::filesystem;
using namespace loong;

namespace {
fs::path fresh(const std::string& name) {
  auto d = fs::temp_directory_path() / ("loong_ckpt_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  return d;
}
void write_checkpoint(CheckpointStore& s, uint64_t step, int64_t keep) {
  auto tmp = s.begin(step);
  write_file_atomic(tmp / "model.safetensors", std::string(1000, static_cast<char>('a' + step)));
  write_file_atomic(tmp / "config.json", "{}");
  proto::TrainingState st;
  st.set_step(step);
  s.commit(step, st, keep);
}
}  // namespace

TEST(CheckpointStore, PicksNewestCompleteAndSkipsBrokenOnes) {
  CheckpointStore s(fresh("pick"));
  for (uint64_t k : {2, 4, 6}) write_checkpoint(s, k, 10);
  ASSERT_EQ(*s.latest_valid(), s.dir_for(6));
  EXPECT_EQ(CheckpointStore::read_state(s.dir_for(6)).step(), 6u);
  fs::remove(s.dir_for(6) / "DONE");  // interrupted before completion
  {
    std::fstream f(s.dir_for(4) / "model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(500);
    f.put('X');  // one corrupted byte
  }
  std::vector<std::string> skipped;
  auto best = s.latest_valid(&skipped);
  ASSERT_TRUE(best.has_value());
  EXPECT_EQ(*best, s.dir_for(2));
  ASSERT_EQ(skipped.size(), 2u);
  EXPECT_NE(skipped[0].find("no DONE marker"), std::string::npos) << skipped[0];
  EXPECT_NE(skipped[1].find("model.safetensors does not match its checksum"), std::string::npos) << skipped[1];
}

TEST(CheckpointStore, KeepsTheNewestK) {
  CheckpointStore s(fresh("keep"));
  for (uint64_t k = 1; k <= 5; ++k) write_checkpoint(s, k, 2);
  EXPECT_FALSE(fs::exists(s.dir_for(3)));
  EXPECT_TRUE(fs::exists(s.dir_for(4)));
  EXPECT_TRUE(fs::exists(s.dir_for(5)));
  EXPECT_FALSE(CheckpointStore(fresh("empty")).latest_valid().has_value());
}

TEST(CheckpointStore, ChecksumsOfTheWrongShapeAreSkippedNotFatal) {
  CheckpointStore s(fresh("shape"));
  for (uint64_t k : {2, 4}) write_checkpoint(s, k, 10);
  for (const char* bad : {"[1,2,3]", "{\"model.safetensors\": 7, \"training_state.pb\": \"1\"}", "\"text\"", "{"}) {
    write_file_atomic(s.dir_for(4) / "checksums.json", bad);
    const std::string why = CheckpointStore::validate(s.dir_for(4));
    EXPECT_NE(why.find("checksums.json"), std::string::npos) << bad << " -> " << why;
    std::vector<std::string> skipped;
    const auto best = s.latest_valid(&skipped);
    ASSERT_TRUE(best.has_value()) << bad;
    EXPECT_EQ(*best, s.dir_for(2)) << "--resume auto uses the older good checkpoint for checksums.json = " << bad;
    ASSERT_EQ(skipped.size(), 1u);
  }
  EXPECT_NE(CheckpointStore::validate(s.dir_for(9)).find("does not exist"), std::string::npos);
  const fs::path plain = fresh("plain");
  fs::create_directories(plain);
  EXPECT_NE(CheckpointStore::validate(plain).find("not a checkpoint directory"), std::string::npos);
}

TEST(CheckpointStore, AMissingPipelineShardIsDetectedAndNeverCommitted) {
  CheckpointStore s(fresh("shards"));
  auto tmp = s.begin(3);
  write_file_atomic(tmp / "config.json", "{}");
  write_file_atomic(tmp / "model-00001-of-00002.safetensors", std::string(100, 'a'));
  write_file_atomic(tmp / "model-00002-of-00002.safetensors", std::string(100, 'b'));
  write_file_atomic(tmp / "model.safetensors.index.json",
                    R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})");
  fs::remove(tmp / "model-00002-of-00002.safetensors");  // the second stage's writer died
  proto::TrainingState st;
  st.set_step(3);
  try {
    s.commit(3, st, 10);
    FAIL() << "an incomplete checkpoint must not be committed";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("shard model-00002-of-00002.safetensors"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(s.dir_for(3) / "DONE"));
  // A committed checkpoint that later loses a shard (checksums.json of an older version covered
  // only the files present) is not valid either.
  write_file_atomic(tmp / "model-00002-of-00002.safetensors", std::string(100, 'b'));
  s.commit(3, st, 10);
  ASSERT_EQ(CheckpointStore::validate(s.dir_for(3)), "");
  fs::remove(s.dir_for(3) / "model-00002-of-00002.safetensors");
  EXPECT_NE(CheckpointStore::validate(s.dir_for(3)).find("model-00002-of-00002.safetensors"), std::string::npos);
}
