// Manifest and corpus-record parsing without video files or RocksDB: the regressions found while
// fuzzing these readers (fuzz/fuzz_manifest.cpp, fuzz/fuzz_corpus_record.cpp, docs/fuzzing.md).
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "core/error.h"
#include "corpus.pb.h"
#include "dataloader/corpus_records.h"
#include "dataloader/manifest.h"

using namespace loong;
namespace cr = loong::corpus_records;

namespace {

// Whether protobuf reads back a ClipRecord whose caption is `s` (the corpus's test of UTF-8).
bool protobuf_round_trips_caption(const std::string& s) {
  corpus::ClipRecord r;
  r.set_caption(s);
  std::string bytes;
  r.SerializeToString(&bytes);
  corpus::ClipRecord back;
  return back.ParseFromString(bytes) && back.caption() == s;
}

corpus::ClipRecord good_clip() {
  corpus::ClipRecord r;
  r.set_clip_id("00112233aabbccdd-0000");
  r.set_video_key("00112233aabbccdd");
  r.set_split("train");
  r.set_pixel_frames(17);
  r.set_latent_frames(5);
  r.set_height(64);
  r.set_width(64);
  r.set_fps(8);
  r.set_caption("a digit");
  return r;
}

void expect_format_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    FAIL() << "expected FormatError containing '" << needle << "'";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace

// Overlong forms, surrogates and code points above U+10FFFF passed the old check, went into the
// corpus, and made the clip record unreadable: protobuf refuses them when parsing a string field.
TEST(Manifest, CaptionsProtobufCannotReadBackAreProblemsNotEntries) {
  for (const std::string bad : {"\xc0\x80", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf7\xbf\xbf\xbf"}) {
    EXPECT_FALSE(protobuf_round_trips_caption("x" + bad)) << "protobuf accepts the sample, the test proves nothing";
    const Manifest m = parse_manifest("path,caption\na.mp4,x" + bad + "\n", "/data/m.csv");
    EXPECT_TRUE(m.entries.empty());
    ASSERT_EQ(m.problems.size(), 1u);
    EXPECT_EQ(m.problems[0].reason, "m.csv:2: caption is not valid UTF-8");
  }
  for (const std::string good : {"caf\xc3\xa9", "\xe2\x9c\x93", "\xf0\x9f\x8e\xa5", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf"}) {
    ASSERT_TRUE(protobuf_round_trips_caption(good));
    const Manifest m = parse_manifest("path,caption\na.mp4," + good + "\n", "/data/m.csv");
    ASSERT_EQ(m.entries.size(), 1u) << good;
    EXPECT_EQ(m.entries[0].caption, good);
  }
}

// The path is recorded in the clip's source_path, a protobuf string field, too.
TEST(Manifest, PathThatIsNotUtf8IsAProblem) {
  const Manifest m = parse_manifest("path,caption\nv\xff.mp4,ok\nok.mp4,fine\n", "/data/m.csv");
  ASSERT_EQ(m.entries.size(), 1u);
  EXPECT_EQ(m.entries[0].path, "/data/ok.mp4");
  ASSERT_EQ(m.problems.size(), 1u);
  EXPECT_EQ(m.problems[0].reason, "m.csv:2: path is not valid UTF-8");
}

TEST(Manifest, ParseFromBytesNamesTheManifestAndPicksTheFormatByExtension) {
  const Manifest j = parse_manifest("{\"path\": \"a.mp4\", \"caption\": \"c\", \"split\": \"test\"}\n", "/d/m.jsonl");
  ASSERT_EQ(j.entries.size(), 1u);
  EXPECT_EQ(j.entries[0].path, "/d/a.mp4");
  EXPECT_EQ(j.entries[0].split, "test");
  expect_format_error([] { parse_manifest("file,text\n", "/d/m.csv"); }, "/d/m.csv:1: the CSV header must name");
}

TEST(CorpusRecords, SealedGoodRecordsDecode) {
  auto r = good_clip();
  const ClipInfo c = cr::decode_clip(cr::seal(r), "clip x");
  EXPECT_EQ(c.pixel_frames, 17);
  EXPECT_EQ(c.latent_frames, 5);
  EXPECT_EQ(c.caption, "a digit");
  corpus::VideoTokensRecord v;
  v.set_latent_frames(1);
  v.set_grid_height(2);
  v.set_grid_width(2);
  for (int k : {3, 0, 1023, 7}) v.add_codes(k);
  EXPECT_EQ(cr::decode_video_tokens(cr::seal(v), "clip x").codes, (std::vector<int32_t>{3, 0, 1023, 7}));
}

TEST(CorpusRecords, ChecksumMismatchAndGarbageAreFormatErrors) {
  auto r = good_clip();
  std::string bytes = cr::seal(r);
  bytes[bytes.size() - 3] ^= 0x01;  // inside the caption
  expect_format_error([&] { cr::decode_clip(bytes, "clip x"); }, "checksum mismatch in record of clip x");
  expect_format_error([&] { cr::decode_clip("\xff\xff\xff", "clip x"); },
                      "record of clip x in column family 'clips' does not parse");
}

// A record that parses and carries a valid checksum but whose fields no writer produces was
// returned as is: a video-tokens record with fewer codes than its grid made readers index past
// the codes; a clip with a negative height made read_frames size a buffer from height * width.
TEST(CorpusRecords, SealedRecordsWithImpossibleFieldsAreFormatErrors) {
  corpus::VideoTokensRecord v;
  v.set_latent_frames(2);
  v.set_grid_height(2);
  v.set_grid_width(2);
  v.add_codes(1);
  expect_format_error([&] { cr::decode_video_tokens(cr::seal(v), "clip x (tokenizer t)"); },
                      "record of clip x (tokenizer t) in column family 'video_tokens' holds 1 codes for a grid of "
                      "2x2x2");
  // Found by fuzz/fuzz_corpus_record.cpp: the grid's cell count overflowed int64.
  v.set_latent_frames(2147483647);
  v.set_grid_height(2147483647);
  v.set_grid_width(2147483647);
  expect_format_error([&] { cr::decode_video_tokens(cr::seal(v), "clip x"); },
                      "holds 1 codes for a grid of 2147483647x2147483647x2147483647");
  v.set_latent_frames(2);
  v.set_grid_height(2);
  v.set_grid_width(2);
  v.clear_codes();
  v.set_grid_width(0);
  expect_format_error([&] { cr::decode_video_tokens(cr::seal(v), "clip x"); }, "has grid 2x2x0");
  v.set_grid_width(1);
  for (int k : {1, 2, -5, 4}) v.add_codes(k);
  expect_format_error([&] { cr::decode_video_tokens(cr::seal(v), "clip x"); }, "has code -5 < 0");

  auto c = good_clip();
  c.set_height(-64);
  expect_format_error([&] { cr::decode_clip(cr::seal(c), "clip x"); }, "has height -64, outside [1, 16384]");
  c = good_clip();
  c.set_pixel_frames(0);
  expect_format_error([&] { cr::decode_clip(cr::seal(c), "clip x"); }, "has pixel_frames 0, not 1 + 4k");
  c = good_clip();
  c.set_latent_frames(9);
  expect_format_error([&] { cr::decode_clip(cr::seal(c), "clip x"); }, "has latent_frames 9 for 17 pixel frames");
  c = good_clip();
  c.set_split("validation");
  expect_format_error([&] { cr::decode_clip(cr::seal(c), "clip x"); }, "split 'validation'");

  corpus::FrameRecord f;
  f.set_height(2);
  f.set_width(2);
  f.set_rgb(std::string(11, '\0'));
  expect_format_error([&] { cr::decode_frame(cr::seal(f), "clip x frame 0"); }, "holds 11 bytes of RGB for 2x2 (12)");
  corpus::TextTokensRecord t;
  t.add_tokens(-1);
  expect_format_error([&] { cr::decode_text_tokens(cr::seal(t), "clip x"); }, "has token id -1 < 0");
}
