// The video corpus: a RocksDB database with one column family per kind of record (layout in
// docs/corpus.md; records in proto/corpus.proto):
//   clips        clip id -> ClipRecord (metadata + caption, no pixels)
//   frames       clip id + '/' + frame index (4-byte big-endian) -> FrameRecord (uint8 RGB)
//   text_tokens  clip id -> TextTokensRecord
//   video_tokens tokenizer id + '\0' + clip id -> VideoTokensRecord
//   index        latent frames (4-byte big-endian) + clip id -> "" (clips by length)
//   videos       video key -> VideoDoneRecord (the video's clips are all present)
//   meta         "blob/" + name -> BlobRecord (SentencePiece model, tokenizer blobs, settings)
// Every record read is checksum-verified; a mismatch is a FormatError naming the clip (or blob)
// and the column family.
//
// One process writes (CorpusWriter; RocksDB's LOCK file makes a second writer fail with an
// IoError naming the directory); any number of processes read (CorpusReader opens read-only and
// sees the corpus as it was when opened).
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace loong {

// Metadata of one clip. Frames are RGB uint8, `height` x `width` (square after ingest).
struct ClipInfo {
  std::string id;             // "<video key, 16 hex>-<clip index, 4 digits>"
  std::string video_key;      // FNV-1a 64 of the source file's bytes, 16 hex digits
  std::string source_path;    // the file the clip came from (informational)
  int32_t clip_index = 0;     // position within its video
  std::string split;          // "train" or "test"
  int32_t pixel_frames = 0;   // 1 + 4k
  int32_t latent_frames = 0;  // (pixel_frames - 1) / 4 + 1
  int32_t height = 0, width = 0;
  double fps = 0;
  int64_t first_frame = 0;  // index of the clip's first frame in the resampled video
  std::string caption;      // UTF-8
};

inline int32_t latent_frames_for(int32_t pixel_frames) { return (pixel_frames - 1) / 4 + 1; }

// Discrete codes of one clip from one video tokenizer: row-major [latent_frames, grid_h, grid_w].
struct VideoTokens {
  int32_t latent_frames = 0, grid_height = 0, grid_width = 0;
  std::vector<int32_t> codes;
};

// One frame of a clip as written by ingest: RGB uint8, row-major [height, width, 3].
struct FrameData {
  std::vector<uint8_t> rgb;
};

// A whole video's worth of clips, written atomically (one RocksDB WriteBatch) together with the
// video's done record. `frames[i]` holds the frames of `clips[i]`, each [H, W, 3] uint8.
struct VideoClips {
  std::string video_key;
  std::string source_path;
  std::vector<ClipInfo> clips;
  std::vector<std::vector<FrameData>> frames;
};

struct CorpusStats {
  int64_t clips = 0, frames = 0, videos = 0, text_token_records = 0;
  std::map<std::string, int64_t> clips_per_split;
  std::map<int32_t, int64_t> clips_per_latent_frames;  // length histogram from the index
  std::map<std::string, int64_t> video_token_records;  // per tokenizer id
  std::vector<std::string> blobs;                      // blob names
  uint64_t disk_bytes = 0;                             // total size of the DB directory
};

class CorpusDb;  // RocksDB handles (corpus.cpp)

// Read access. Opens `dir` read-only (DB::OpenForReadOnly); many processes may do so at once,
// also while a writer is running (a reader sees the data as of its opening). Not copyable;
// const methods are safe to call from several threads.
class CorpusReader {
 public:
  // IoError naming `dir` if it is not a corpus or cannot be opened.
  explicit CorpusReader(const std::filesystem::path& dir);
  virtual ~CorpusReader();
  CorpusReader(const CorpusReader&) = delete;
  CorpusReader& operator=(const CorpusReader&) = delete;

  const std::filesystem::path& dir() const { return dir_; }

  // All clips, ordered by id (= by video, then clip index). Reads the clips column family only.
  std::vector<ClipInfo> list_clips() const;
  // Ids of clips with min_latent <= latent_frames <= max_latent (and of `split`, unless empty),
  // from the index column family, ordered by (latent frames, id).
  std::vector<std::string> clips_by_latent_frames(int32_t min_latent, int32_t max_latent = INT32_MAX,
                                                  const std::string& split = "") const;
  // InputError naming the clip if absent.
  ClipInfo clip(const std::string& clip_id) const;
  bool has_clip(const std::string& clip_id) const;
  // Frames [first, first + count) of the clip as uint8 [count, H, W, 3], row-major.
  // InputError if the window is outside the clip; FormatError if a frame record is missing or
  // corrupt.
  std::vector<uint8_t> read_frames(const std::string& clip_id, int32_t first, int32_t count) const;
  // Caption tokens, or nullopt if the clip has not been tokenized (`loong text train`).
  std::optional<std::vector<int32_t>> text_tokens(const std::string& clip_id) const;
  // Id of the SentencePiece model that produced this clip's text tokens ("" if none).
  std::string text_tokens_model(const std::string& clip_id) const;
  // Id of the SentencePiece model blob the text tokens came from ("" if none).
  std::string text_model_id() const;
  std::optional<VideoTokens> video_tokens(const std::string& tokenizer_id, const std::string& clip_id) const;
  // Distinct tokenizer ids present in the video_tokens column family.
  std::vector<std::string> tokenizers() const;
  // A named blob (e.g. "sentencepiece.model", "tokenizer/<id>"), or nullopt.
  std::optional<std::string> blob(const std::string& name) const;
  // True if the video with this key was completely ingested.
  bool has_video(const std::string& video_key) const;
  // Counts and histogram; scans keys of every column family (does not parse frames).
  CorpusStats stats() const;

 protected:
  struct WriterTag {};
  CorpusReader(const std::filesystem::path& dir, WriterTag, bool create);
  std::filesystem::path dir_;
  std::unique_ptr<CorpusDb> db_;
};

// The single writer. Only ingest creates a corpus (Mode::CreateIfMissing): every other writer
// (text tokens, video tokens) opens an existing one, so a mistyped --db is an error, not a new
// empty corpus. Thread-safe: several ingest threads may call put_video concurrently.
class CorpusWriter : public CorpusReader {
 public:
  enum class Mode { OpenExisting, CreateIfMissing };
  // IoError naming `dir` if another process (or object) holds the corpus open for writing, or
  // (OpenExisting) if `dir` is not a corpus.
  explicit CorpusWriter(const std::filesystem::path& dir, Mode mode = Mode::OpenExisting);
  ~CorpusWriter() override;

  // Writes the clips, their frames, index entries and the video's done record in one atomic
  // batch. InputError if frame shapes disagree with the clip metadata.
  void put_video(const VideoClips& video);
  void put_text_tokens(const std::string& clip_id, const std::string& model_id, const std::vector<int32_t>& tokens);
  void put_video_tokens(const std::string& tokenizer_id, const std::string& clip_id, const VideoTokens& tokens);
  void put_blob(const std::string& name, const std::string& data);
  // Flushes memtables to SST files (durability is already given by the WAL).
  void flush();
};

// Hex form of a 64-bit key, 16 lower-case digits.
std::string hex64(uint64_t v);
// Clip id for clip `index` of the video with key `video_key`.
std::string make_clip_id(const std::string& video_key, int32_t index);

}  // namespace loong
