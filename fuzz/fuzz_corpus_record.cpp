// The protobuf records of the corpus as CorpusReader gets them from RocksDB
// (dataloader/corpus_records.h). Byte 0 picks the record kind (low 3 bits, modulo 6) and, with
// bit 3 set, re-seals the rest first: parses it as that message, sets the right checksum and
// serializes it again, so the field checks behind the checksum are reached too (a record that a
// buggy writer sealed, or a collision). The decoded values must satisfy what readers rely on.
#include "dataloader/corpus_records.h"
#include "fuzz/fuzz_common.h"

namespace {

template <typename Msg>
bool reseal(std::string& bytes) {
  Msg m;
  if (!m.ParseFromString(bytes)) return false;
  bytes = loong::corpus_records::seal(m);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace loong;
  namespace cr = corpus_records;
  if (size == 0) return 0;
  const int kind = (data[0] & 7) % 6;
  std::string bytes(fuzz::as_text(data + 1, size - 1));
  if (data[0] & 8) {
    bool ok = false;
    switch (kind) {
      case 0: ok = reseal<corpus::ClipRecord>(bytes); break;
      case 1: ok = reseal<corpus::FrameRecord>(bytes); break;
      case 2: ok = reseal<corpus::TextTokensRecord>(bytes); break;
      case 3: ok = reseal<corpus::VideoTokensRecord>(bytes); break;
      case 4: ok = reseal<corpus::BlobRecord>(bytes); break;
      default: ok = reseal<corpus::VideoDoneRecord>(bytes); break;
    }
    if (!ok) return 0;
  }
  fuzz::expect_typed_errors([&] {
    switch (kind) {
      case 0: {
        const ClipInfo c = cr::decode_clip(bytes, "clip fuzz");
        LOONG_FUZZ_REQUIRE(c.pixel_frames >= 1 && c.latent_frames == latent_frames_for(c.pixel_frames));
        LOONG_FUZZ_REQUIRE(c.height >= 1 && c.width >= 1 && c.height <= cr::kMaxFrameSide &&
                           c.width <= cr::kMaxFrameSide);
        break;
      }
      case 1: {
        const auto f = cr::decode_frame(bytes, "clip fuzz frame 0");
        LOONG_FUZZ_REQUIRE(f.rgb().size() == static_cast<size_t>(f.height()) * f.width() * 3);
        break;
      }
      case 2: {
        const auto t = cr::decode_text_tokens(bytes, "clip fuzz");
        for (int32_t id : t.tokens()) LOONG_FUZZ_REQUIRE(id >= 0);
        break;
      }
      case 3: {
        const VideoTokens t = cr::decode_video_tokens(bytes, "clip fuzz (tokenizer fuzz)");
        LOONG_FUZZ_REQUIRE(static_cast<int64_t>(t.codes.size()) ==
                           int64_t{t.latent_frames} * t.grid_height * t.grid_width);
        break;
      }
      case 4:
        cr::decode_blob(bytes, "blob fuzz");
        break;
      default:
        cr::decode_video_done(bytes, "video fuzz");
        break;
    }
  });
  return 0;
}
