#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/checksum.h"
#include "core/error.h"
#include "core/fs.h"
#include "dataloader/corpus.h"
#include "sequence/sequence_manifest.h"

namespace fs = std::filesystem;
using namespace loong;

namespace {
fs::path fresh(const std::string& name) {
  auto d = fs::temp_directory_path() / ("loong_manifest_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
SourceProvenance provenance() {
  SourceProvenance p;
  p.fps = 8;
  p.tokenizer_id = "default";
  p.tokenizer_json = R"({"config": {"codebook_size": 64, "resolution": 32}, "steps": 120, "fingerprint": "00ff"})";
  p.text_model = std::string("\x0a\x03" "abc", 5);
  return p;
}
}  // namespace

TEST(SequenceManifest, RoundTripsThroughTheCheckpointFiles) {
  const VocabLayout vocab{40, 64, 64};
  const SampleShape shape{12, 5, 4, 4};
  const auto d = fresh("roundtrip");
  const auto p = provenance();
  SequenceManifest::for_training(vocab, shape, 17, p).write(d, p.text_model);
  EXPECT_EQ(read_file(d / SequenceManifest::kTextModelFile), p.text_model);
  const SequenceManifest m = SequenceManifest::read(d);
  EXPECT_EQ(m.vocab.text_vocab, 40);
  EXPECT_EQ(m.vocab.codebook, 64);
  EXPECT_EQ(m.vocab.video_offset(), 45);
  EXPECT_EQ(m.vocab.size(), vocab.size());
  EXPECT_EQ(m.shape.text_budget, 12);
  EXPECT_EQ(m.shape.frames, 5);
  EXPECT_EQ(m.shape.grid_h, 4);
  EXPECT_EQ(m.shape.grid_w, 4);
  EXPECT_EQ(m.shape.model_length(), shape.model_length());
  EXPECT_EQ(m.max_latent_frames, 17);
  EXPECT_EQ(m.fps, 8);
  EXPECT_EQ(m.tokenizer_id, "default");
  EXPECT_EQ(m.tokenizer_fingerprint, "00ff");
  EXPECT_EQ(m.tokenizer_steps, 120);
  EXPECT_EQ(m.tokenizer_config.at("codebook_size").get<int>(), 64);
  EXPECT_EQ(m.text_model_id, hex64(fnv1a64(p.text_model)));
}

TEST(SequenceManifest, MissingOrAlteredFilesAreTypedErrors) {
  const auto p = provenance();
  const auto none = fresh("none");
  EXPECT_THROW(SequenceManifest::read(none), InputError);

  const auto d = fresh("altered");
  SequenceManifest::for_training(VocabLayout{40, 64, 64}, SampleShape{12, 5, 4, 4}, 17, p).write(d, p.text_model);
  write_file_atomic(d / SequenceManifest::kTextModelFile, "another model");
  EXPECT_THROW(SequenceManifest::read(d), FormatError);
  fs::remove(d / SequenceManifest::kTextModelFile);
  EXPECT_THROW(SequenceManifest::read(d), FormatError);

  write_file_atomic(d / SequenceManifest::kFile, R"({"format": 1, "text_vocab": 40})");
  try {
    SequenceManifest::read(d);
    FAIL() << "a manifest without keys was accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("sequence.json"), std::string::npos) << e.what();
  }
}

TEST(SequenceManifest, SourceWithoutProvenanceStillRecordsTheFormat) {
  const auto d = fresh("bare");
  SequenceManifest::for_training(VocabLayout{24, 16, 64}, SampleShape{4, 3, 2, 3}, 3, SourceProvenance{}).write(d, "");
  EXPECT_FALSE(fs::exists(d / SequenceManifest::kTextModelFile));
  const SequenceManifest m = SequenceManifest::read(d);
  EXPECT_TRUE(m.text_model_id.empty());
  EXPECT_TRUE(m.tokenizer_fingerprint.empty());
  EXPECT_EQ(m.shape.frames, 3);
  EXPECT_EQ(m.fps, 0);
}
