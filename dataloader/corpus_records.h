// Decoding of the corpus's protobuf records (proto/corpus.proto) from the bytes RocksDB returns:
// parse, verify the checksum, and check every field a reader relies on (sizes, counts, ranges),
// so a record that parses but could not have been written by CorpusWriter is a FormatError
// naming the record and its column family instead of a wrong allocation or read further on.
// CorpusReader (dataloader/corpus.h) reads every record through these functions.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "core/checksum.h"
#include "core/error.h"
#include "corpus.pb.h"
#include "dataloader/corpus.h"

namespace loong::corpus_records {

// Checksum of a record: FNV-1a 64 of its serialization with checksum = 0.
template <typename Msg>
uint64_t record_checksum(Msg msg) {
  msg.set_checksum(0);
  std::string bytes;
  msg.SerializeToString(&bytes);
  return fnv1a64(bytes);
}

// Sets the checksum and serializes (the bytes CorpusWriter stores).
template <typename Msg>
std::string seal(Msg& msg) {
  msg.set_checksum(record_checksum(msg));
  std::string out;
  if (!msg.SerializeToString(&out)) throw IoError("corpus: cannot serialize a record");
  return out;
}

// Largest frame side the corpus holds (pixels); larger is a corrupt record, not a video.
inline constexpr int32_t kMaxFrameSide = 16384;

// Each: FormatError "corpus: ... record of <what> in column family '<family>' ..." when the
// bytes do not parse, the checksum does not match, or a field is out of range.
// clips: pixel_frames = 1 + 4k, latent_frames consistent, 1 <= height, width <= kMaxFrameSide,
// fps finite and positive, clip_index and first_frame >= 0, split "train" or "test".
ClipInfo decode_clip(std::string_view bytes, const std::string& what);
// frames: 1 <= height, width <= kMaxFrameSide, rgb of height * width * 3 bytes.
corpus::FrameRecord decode_frame(std::string_view bytes, const std::string& what);
// text_tokens: every token id >= 0.
corpus::TextTokensRecord decode_text_tokens(std::string_view bytes, const std::string& what);
// video_tokens: latent_frames, grid sides >= 1, codes = latent_frames * grid_h * grid_w, all >= 0.
VideoTokens decode_video_tokens(std::string_view bytes, const std::string& what);
// meta: a blob record; returns its data.
std::string decode_blob(std::string_view bytes, const std::string& what);
// videos: clips and frames >= 0.
corpus::VideoDoneRecord decode_video_done(std::string_view bytes, const std::string& what);

}  // namespace loong::corpus_records
