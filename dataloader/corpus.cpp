#include "dataloader/corpus.h"

#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>

#include "core/checksum.h"
#include "core/error.h"
#include "core/fs.h"
#include "corpus.pb.h"
#include "dataloader/corpus_records.h"

namespace loong {

namespace {

const char* const kFamilies[] = {"default",      "clips", "frames", "text_tokens",
                                 "video_tokens", "index", "videos", "meta"};
enum Cf { kDefault = 0, kClips, kFrames, kTextTokens, kVideoTokens, kIndex, kVideos, kMeta, kNumCf };

using corpus_records::seal;

std::string be32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>((v >> (24 - 8 * i)) & 0xff);
  return s;
}
uint32_t read_be32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
std::string frame_key(const std::string& clip_id, int32_t index) {
  return clip_id + "/" + be32(static_cast<uint32_t>(index));
}

void check(const rocksdb::Status& s, const std::string& what) {
  if (!s.ok()) throw IoError("corpus: " + what + ": " + s.ToString());
}

}  // namespace

class CorpusDb {
 public:
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> cf = std::vector<rocksdb::ColumnFamilyHandle*>(kNumCf, nullptr);
  std::filesystem::path dir;

  ~CorpusDb() {
    if (db) {
      for (auto* h : cf)
        if (h) db->DestroyColumnFamilyHandle(h);
    }
  }

  std::optional<std::string> get(Cf family, const std::string& key) const {
    std::string value;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), cf[family], key, &value);
    if (s.IsNotFound()) return std::nullopt;
    check(s, dir.string() + ": read of '" + std::string(kFamilies[family]) + "'");
    return value;
  }
  std::unique_ptr<rocksdb::Iterator> iter(Cf family) const {
    return std::unique_ptr<rocksdb::Iterator>(db->NewIterator(rocksdb::ReadOptions(), cf[family]));
  }
};

namespace {

rocksdb::ColumnFamilyOptions family_options(int family) {
  rocksdb::ColumnFamilyOptions o;
  // Frames are the bulk: ZSTD when the library has it (Debian's librocksdb links lz4, zstd and
  // snappy), larger blocks for a better ratio. Metadata: LZ4.
  auto supported = rocksdb::GetSupportedCompressions();
  auto has = [&](rocksdb::CompressionType t) {
    for (auto s : supported)
      if (s == t) return true;
    return false;
  };
  rocksdb::CompressionType fast =
      has(rocksdb::kLZ4Compression) ? rocksdb::kLZ4Compression : rocksdb::kSnappyCompression;
  if (family == kFrames) {
    o.compression = has(rocksdb::kZSTD) ? rocksdb::kZSTD : fast;
    rocksdb::BlockBasedTableOptions t;
    t.block_size = 64 * 1024;
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
    o.write_buffer_size = 64 << 20;
  } else {
    o.compression = fast;
  }
  return o;
}

void open_db(CorpusDb& d, const std::filesystem::path& dir, bool writer, bool create) {
  d.dir = dir;
  {
    std::error_code ec;
    const bool exists = std::filesystem::exists(dir, ec);
    if (exists && !std::filesystem::is_directory(dir, ec))
      throw IoError("corpus " + dir.string() + ": is a file, not a corpus directory");
    if (!create && !std::filesystem::exists(dir / "CURRENT", ec))
      throw IoError("corpus " + dir.string() + ": " +
                    (exists ? "not a corpus directory (no RocksDB CURRENT file)" : "no such corpus directory") +
                    "; corpora are created by `loong ingest`");
    if (create) prepare_output_directory(dir, "corpus (--db)");
  }
  rocksdb::DBOptions opts;
  opts.create_if_missing = writer && create;
  opts.create_missing_column_families = writer;
  opts.info_log_level = rocksdb::WARN_LEVEL;
  opts.keep_log_file_num = 2;
  opts.max_open_files = 256;
  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  for (int i = 0; i < kNumCf; ++i) descs.emplace_back(kFamilies[i], family_options(i));
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  if (writer) {
    s = rocksdb::DB::Open(opts, dir.string(), descs, &handles, &raw);
    if (!s.ok()) {
      std::string m = s.ToString();
      if (m.find("lock") != std::string::npos || m.find("LOCK") != std::string::npos)
        throw IoError("corpus " + dir.string() +
                      " is already open for writing by another writer (RocksDB LOCK held): " + m);
      throw IoError("corpus " + dir.string() + ": cannot open for writing: " + m);
    }
  } else {
    if (!std::filesystem::exists(dir / "CURRENT"))
      throw IoError("corpus " + dir.string() + ": not a corpus directory (no RocksDB CURRENT file)");
    // Only open the families that exist (a corpus written by an older version may lack some).
    std::vector<std::string> names;
    check(rocksdb::DB::ListColumnFamilies(opts, dir.string(), &names), dir.string() + ": list column families");
    std::set<std::string> present(names.begin(), names.end());
    std::vector<rocksdb::ColumnFamilyDescriptor> open_descs;
    std::vector<int> ids;
    for (int i = 0; i < kNumCf; ++i)
      if (present.count(kFamilies[i])) {
        open_descs.push_back(descs[i]);
        ids.push_back(i);
      }
    s = rocksdb::DB::OpenForReadOnly(opts, dir.string(), open_descs, &handles, &raw);
    if (!s.ok()) throw IoError("corpus " + dir.string() + ": cannot open read-only: " + s.ToString());
    d.db.reset(raw);
    for (size_t k = 0; k < ids.size(); ++k) d.cf[ids[k]] = handles[k];
    for (int i = 0; i < kNumCf; ++i)
      if (!d.cf[i]) throw FormatError("corpus " + dir.string() + ": column family '" + kFamilies[i] + "' is missing");
    return;
  }
  d.db.reset(raw);
  for (int i = 0; i < kNumCf; ++i) d.cf[i] = handles[i];
}

}  // namespace

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string make_clip_id(const std::string& video_key, int32_t index) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "-%04d", index);
  return video_key + buf;
}

// ---- CorpusReader ----

CorpusReader::CorpusReader(const std::filesystem::path& dir) : dir_(dir), db_(std::make_unique<CorpusDb>()) {
  open_db(*db_, dir, false, false);
}
CorpusReader::CorpusReader(const std::filesystem::path& dir, WriterTag, bool create)
    : dir_(dir), db_(std::make_unique<CorpusDb>()) {
  open_db(*db_, dir, true, create);
}
CorpusReader::~CorpusReader() = default;

std::vector<ClipInfo> CorpusReader::list_clips() const {
  std::vector<ClipInfo> out;
  auto it = db_->iter(kClips);
  for (it->SeekToFirst(); it->Valid(); it->Next())
    out.push_back(corpus_records::decode_clip(it->value().ToStringView(), "clip " + it->key().ToString()));
  check(it->status(), dir_.string() + ": scan of 'clips'");
  return out;
}

std::vector<std::string> CorpusReader::clips_by_latent_frames(int32_t min_latent, int32_t max_latent,
                                                              const std::string& split) const {
  std::vector<std::string> out;
  auto it = db_->iter(kIndex);
  for (it->Seek(be32(static_cast<uint32_t>(std::max(min_latent, 0)))); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.size() < 5) throw FormatError("corpus " + dir_.string() + ": malformed key in column family 'index'");
    int32_t len = static_cast<int32_t>(read_be32(k.data()));
    if (len > max_latent) break;
    if (!split.empty() && it->value().ToString() != split) continue;
    out.emplace_back(k.data() + 4, k.size() - 4);
  }
  check(it->status(), dir_.string() + ": scan of 'index'");
  return out;
}

bool CorpusReader::has_clip(const std::string& clip_id) const { return db_->get(kClips, clip_id).has_value(); }

ClipInfo CorpusReader::clip(const std::string& clip_id) const {
  auto v = db_->get(kClips, clip_id);
  if (!v) throw InputError("corpus " + dir_.string() + ": no clip '" + clip_id + "'");
  return corpus_records::decode_clip(*v, "clip " + clip_id);
}

std::vector<uint8_t> CorpusReader::read_frames(const std::string& clip_id, int32_t first, int32_t count) const {
  ClipInfo c = clip(clip_id);
  if (first < 0 || count < 0 || int64_t{first} + count > c.pixel_frames)
    throw InputError("corpus " + dir_.string() + ": window [" + std::to_string(first) + ", " +
                     std::to_string(first + count) + ") is outside clip '" + clip_id + "' of " +
                     std::to_string(c.pixel_frames) + " frames");
  const size_t frame_bytes = static_cast<size_t>(c.height) * c.width * 3;
  std::vector<uint8_t> out(frame_bytes * count);
  std::vector<std::string> keys(count);
  std::vector<rocksdb::Slice> slices(count);
  for (int32_t i = 0; i < count; ++i) {
    keys[i] = frame_key(clip_id, first + i);
    slices[i] = keys[i];
  }
  std::vector<rocksdb::PinnableSlice> values(count);
  std::vector<rocksdb::Status> statuses(count);
  if (count > 0)
    db_->db->MultiGet(rocksdb::ReadOptions(), db_->cf[kFrames], count, slices.data(), values.data(), statuses.data());
  for (int32_t i = 0; i < count; ++i) {
    std::string what = "clip " + clip_id + " frame " + std::to_string(first + i);
    if (statuses[i].IsNotFound())
      throw FormatError("corpus " + dir_.string() + ": missing record of " + what + " in column family 'frames'");
    check(statuses[i], dir_.string() + ": read of " + what);
    auto f = corpus_records::decode_frame(values[i].ToStringView(), what);
    if (f.clip_id() != clip_id || f.frame_index() != first + i || f.height() != c.height || f.width() != c.width ||
        f.rgb().size() != frame_bytes)
      throw FormatError("corpus " + dir_.string() + ": record of " + what +
                        " in column family 'frames' disagrees with the clip's metadata");
    std::memcpy(out.data() + frame_bytes * i, f.rgb().data(), frame_bytes);
  }
  return out;
}

std::optional<std::vector<int32_t>> CorpusReader::text_tokens(const std::string& clip_id) const {
  auto v = db_->get(kTextTokens, clip_id);
  if (!v) return std::nullopt;
  auto r = corpus_records::decode_text_tokens(*v, "clip " + clip_id);
  return std::vector<int32_t>(r.tokens().begin(), r.tokens().end());
}

std::string CorpusReader::text_tokens_model(const std::string& clip_id) const {
  auto v = db_->get(kTextTokens, clip_id);
  if (!v) return std::string();
  return corpus_records::decode_text_tokens(*v, "clip " + clip_id).model_id();
}

std::string CorpusReader::text_model_id() const {
  auto v = blob("sentencepiece.model");
  return v ? hex64(fnv1a64(*v)) : std::string();
}

std::optional<VideoTokens> CorpusReader::video_tokens(const std::string& tokenizer_id,
                                                      const std::string& clip_id) const {
  auto v = db_->get(kVideoTokens, tokenizer_id + std::string(1, '\0') + clip_id);
  if (!v) return std::nullopt;
  return corpus_records::decode_video_tokens(*v, "clip " + clip_id + " (tokenizer " + tokenizer_id + ")");
}

std::vector<std::string> CorpusReader::tokenizers() const {
  std::vector<std::string> out;
  auto it = db_->iter(kVideoTokens);
  it->SeekToFirst();
  while (it->Valid()) {
    std::string k = it->key().ToString();
    std::string id = k.substr(0, k.find('\0'));
    out.push_back(id);
    it->Seek(id + std::string(1, '\x01'));  // skip to the next tokenizer id
  }
  check(it->status(), dir_.string() + ": scan of 'video_tokens'");
  return out;
}

std::optional<std::string> CorpusReader::blob(const std::string& name) const {
  auto v = db_->get(kMeta, "blob/" + name);
  if (!v) return std::nullopt;
  return corpus_records::decode_blob(*v, "blob " + name);
}

bool CorpusReader::has_video(const std::string& video_key) const {
  auto v = db_->get(kVideos, video_key);
  if (!v) return false;
  corpus_records::decode_video_done(*v, "video " + video_key);
  return true;
}

CorpusStats CorpusReader::stats() const {
  CorpusStats s;
  auto count = [&](Cf family) {
    int64_t n = 0;
    auto it = db_->iter(family);
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
    check(it->status(), dir_.string() + ": scan of '" + kFamilies[family] + "'");
    return n;
  };
  s.frames = count(kFrames);
  s.videos = count(kVideos);
  s.text_token_records = count(kTextTokens);
  {
    auto it = db_->iter(kIndex);
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (it->key().size() < 5)
        throw FormatError("corpus " + dir_.string() + ": malformed key in column family 'index'");
      ++s.clips;
      ++s.clips_per_latent_frames[static_cast<int32_t>(read_be32(it->key().data()))];
      ++s.clips_per_split[it->value().ToString()];
    }
    check(it->status(), dir_.string() + ": scan of 'index'");
  }
  {
    auto it = db_->iter(kVideoTokens);
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string k = it->key().ToString();
      ++s.video_token_records[k.substr(0, k.find('\0'))];
    }
    check(it->status(), dir_.string() + ": scan of 'video_tokens'");
  }
  {
    auto it = db_->iter(kMeta);
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string k = it->key().ToString();
      if (k.rfind("blob/", 0) == 0) s.blobs.push_back(k.substr(5));
    }
    check(it->status(), dir_.string() + ": scan of 'meta'");
  }
  std::error_code ec;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir_, ec))
    if (e.is_regular_file(ec)) s.disk_bytes += e.file_size(ec);
  return s;
}

// ---- CorpusWriter ----

CorpusWriter::CorpusWriter(const std::filesystem::path& dir, Mode mode)
    : CorpusReader(dir, WriterTag{}, mode == Mode::CreateIfMissing) {}

CorpusWriter::~CorpusWriter() {
  if (db_ && db_->db) db_->db->FlushWAL(true);
}

void CorpusWriter::put_video(const VideoClips& v) {
  if (v.frames.size() != v.clips.size())
    throw InputError("corpus: video " + v.source_path + ": clips and frame lists differ in count");
  rocksdb::WriteBatch batch;
  int64_t total_frames = 0;
  for (size_t i = 0; i < v.clips.size(); ++i) {
    const ClipInfo& c = v.clips[i];
    const auto& frames = v.frames[i];
    if (static_cast<int32_t>(frames.size()) != c.pixel_frames || c.latent_frames != latent_frames_for(c.pixel_frames))
      throw InputError("corpus: clip " + c.id + " of " + v.source_path + ": frame count disagrees with its metadata");
    corpus::ClipRecord r;
    r.set_clip_id(c.id);
    r.set_video_key(c.video_key);
    r.set_source_path(c.source_path);
    r.set_clip_index(c.clip_index);
    r.set_split(c.split);
    r.set_pixel_frames(c.pixel_frames);
    r.set_latent_frames(c.latent_frames);
    r.set_height(c.height);
    r.set_width(c.width);
    r.set_fps(c.fps);
    r.set_first_frame(c.first_frame);
    r.set_caption(c.caption);
    check(batch.Put(db_->cf[kClips], c.id, seal(r)), "batch");
    check(batch.Put(db_->cf[kIndex], be32(static_cast<uint32_t>(c.latent_frames)) + c.id, c.split), "batch");
    const size_t frame_bytes = static_cast<size_t>(c.height) * c.width * 3;
    for (int32_t f = 0; f < c.pixel_frames; ++f) {
      if (frames[f].rgb.size() != frame_bytes)
        throw InputError("corpus: clip " + c.id + " frame " + std::to_string(f) + ": wrong size");
      corpus::FrameRecord fr;
      fr.set_clip_id(c.id);
      fr.set_frame_index(f);
      fr.set_height(c.height);
      fr.set_width(c.width);
      fr.set_rgb(frames[f].rgb.data(), frame_bytes);
      check(batch.Put(db_->cf[kFrames], frame_key(c.id, f), seal(fr)), "batch");
    }
    total_frames += c.pixel_frames;
  }
  corpus::VideoDoneRecord d;
  d.set_video_key(v.video_key);
  d.set_source_path(v.source_path);
  d.set_clips(static_cast<int32_t>(v.clips.size()));
  d.set_frames(total_frames);
  check(batch.Put(db_->cf[kVideos], v.video_key, seal(d)), "batch");
  check(db_->db->Write(rocksdb::WriteOptions(), &batch), dir_.string() + ": write of video " + v.source_path);
}

void CorpusWriter::put_text_tokens(const std::string& clip_id, const std::string& model_id,
                                   const std::vector<int32_t>& tokens) {
  corpus::TextTokensRecord r;
  r.set_clip_id(clip_id);
  r.set_model_id(model_id);
  for (int32_t t : tokens) r.add_tokens(t);
  check(db_->db->Put(rocksdb::WriteOptions(), db_->cf[kTextTokens], clip_id, seal(r)),
        dir_.string() + ": write of text tokens of clip " + clip_id);
}

void CorpusWriter::put_video_tokens(const std::string& tokenizer_id, const std::string& clip_id, const VideoTokens& t) {
  if (tokenizer_id.empty() || tokenizer_id.find('\0') != std::string::npos)
    throw InputError("corpus: tokenizer id must be non-empty without NUL bytes");
  if (static_cast<int64_t>(t.codes.size()) != int64_t{t.latent_frames} * t.grid_height * t.grid_width)
    throw InputError("corpus: video tokens of clip " + clip_id + ": codes size disagrees with the grid");
  corpus::VideoTokensRecord r;
  r.set_clip_id(clip_id);
  r.set_tokenizer_id(tokenizer_id);
  r.set_latent_frames(t.latent_frames);
  r.set_grid_height(t.grid_height);
  r.set_grid_width(t.grid_width);
  for (int32_t c : t.codes) r.add_codes(c);
  check(db_->db->Put(rocksdb::WriteOptions(), db_->cf[kVideoTokens], tokenizer_id + std::string(1, '\0') + clip_id,
                     seal(r)),
        dir_.string() + ": write of video tokens of clip " + clip_id);
}

void CorpusWriter::put_blob(const std::string& name, const std::string& data) {
  corpus::BlobRecord r;
  r.set_name(name);
  r.set_data(data);
  check(db_->db->Put(rocksdb::WriteOptions(), db_->cf[kMeta], "blob/" + name, seal(r)),
        dir_.string() + ": write of blob " + name);
}

void CorpusWriter::flush() {
  rocksdb::FlushOptions fo;
  check(db_->db->Flush(fo, db_->cf), dir_.string() + ": flush");
}

}  // namespace loong
