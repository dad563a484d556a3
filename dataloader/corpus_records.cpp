#include "dataloader/corpus_records.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace loong::corpus_records {
namespace {

FormatError bad(const std::string& what, const char* family, const std::string& why) {
  return FormatError("corpus: record of " + what + " in column family '" + family + "' " + why);
}

template <typename Msg>
Msg unseal(std::string_view bytes, const std::string& what, const char* family) {
  Msg msg;
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !msg.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    throw bad(what, family, "does not parse (corrupt)");
  if (record_checksum(msg) != msg.checksum())
    throw FormatError("corpus: checksum mismatch in record of " + what + " in column family '" + family + "'");
  return msg;
}

void check_side(int64_t v, const std::string& what, const char* family, const char* field) {
  if (v < 1 || v > kMaxFrameSide)
    throw bad(what, family, std::string("has ") + field + " " + std::to_string(v) + ", outside [1, " +
                                std::to_string(kMaxFrameSide) + "]");
}

}  // namespace

ClipInfo decode_clip(std::string_view bytes, const std::string& what) {
  const char* family = "clips";
  const auto r = unseal<corpus::ClipRecord>(bytes, what, family);
  if (r.pixel_frames() < 1 || (r.pixel_frames() - 1) % 4 != 0)
    throw bad(what, family, "has pixel_frames " + std::to_string(r.pixel_frames()) + ", not 1 + 4k");
  if (r.latent_frames() != latent_frames_for(r.pixel_frames()))
    throw bad(what, family,
              "has latent_frames " + std::to_string(r.latent_frames()) + " for " + std::to_string(r.pixel_frames()) +
                  " pixel frames (expected " + std::to_string(latent_frames_for(r.pixel_frames())) + ")");
  check_side(r.height(), what, family, "height");
  check_side(r.width(), what, family, "width");
  if (!std::isfinite(r.fps()) || !(r.fps() > 0)) throw bad(what, family, "has fps " + std::to_string(r.fps()));
  if (r.clip_index() < 0 || r.first_frame() < 0)
    throw bad(what, family, "has a negative clip_index or first_frame");
  if (r.split() != "train" && r.split() != "test")
    throw bad(what, family, "has split '" + r.split() + "', neither train nor test");
  ClipInfo c;
  c.id = r.clip_id();
  c.video_key = r.video_key();
  c.source_path = r.source_path();
  c.clip_index = r.clip_index();
  c.split = r.split();
  c.pixel_frames = r.pixel_frames();
  c.latent_frames = r.latent_frames();
  c.height = r.height();
  c.width = r.width();
  c.fps = r.fps();
  c.first_frame = r.first_frame();
  c.caption = r.caption();
  return c;
}

corpus::FrameRecord decode_frame(std::string_view bytes, const std::string& what) {
  const char* family = "frames";
  auto f = unseal<corpus::FrameRecord>(bytes, what, family);
  check_side(f.height(), what, family, "height");
  check_side(f.width(), what, family, "width");
  const size_t need = static_cast<size_t>(f.height()) * static_cast<size_t>(f.width()) * 3;
  if (f.rgb().size() != need)
    throw bad(what, family, "holds " + std::to_string(f.rgb().size()) + " bytes of RGB for " +
                                std::to_string(f.height()) + "x" + std::to_string(f.width()) + " (" +
                                std::to_string(need) + ")");
  return f;
}

corpus::TextTokensRecord decode_text_tokens(std::string_view bytes, const std::string& what) {
  const char* family = "text_tokens";
  auto r = unseal<corpus::TextTokensRecord>(bytes, what, family);
  for (int i = 0; i < r.tokens_size(); ++i)
    if (r.tokens(i) < 0) throw bad(what, family, "has token id " + std::to_string(r.tokens(i)) + " < 0");
  return r;
}

VideoTokens decode_video_tokens(std::string_view bytes, const std::string& what) {
  const char* family = "video_tokens";
  const auto r = unseal<corpus::VideoTokensRecord>(bytes, what, family);
  if (r.latent_frames() < 1 || r.grid_height() < 1 || r.grid_width() < 1)
    throw bad(what, family, "has grid " + std::to_string(r.latent_frames()) + "x" + std::to_string(r.grid_height()) +
                                "x" + std::to_string(r.grid_width()) + " (every side must be >= 1)");
  // Three int32 sides can overflow int64 (found by fuzz/fuzz_corpus_record.cpp): multiply the
  // third only once the first two fit in the codes (<= 2^31 each side of the product).
  const int64_t frame_cells = int64_t{r.latent_frames()} * r.grid_height();
  if (frame_cells > r.codes_size() || frame_cells * r.grid_width() != r.codes_size())
    throw bad(what, family, "holds " + std::to_string(r.codes_size()) + " codes for a grid of " +
                                std::to_string(r.latent_frames()) + "x" + std::to_string(r.grid_height()) + "x" +
                                std::to_string(r.grid_width()));
  VideoTokens t;
  t.latent_frames = r.latent_frames();
  t.grid_height = r.grid_height();
  t.grid_width = r.grid_width();
  t.codes.assign(r.codes().begin(), r.codes().end());
  for (int32_t c : t.codes)
    if (c < 0) throw bad(what, family, "has code " + std::to_string(c) + " < 0");
  return t;
}

std::string decode_blob(std::string_view bytes, const std::string& what) {
  return unseal<corpus::BlobRecord>(bytes, what, "meta").data();
}

corpus::VideoDoneRecord decode_video_done(std::string_view bytes, const std::string& what) {
  const char* family = "videos";
  auto r = unseal<corpus::VideoDoneRecord>(bytes, what, family);
  if (r.clips() < 0 || r.frames() < 0)
    throw bad(what, family, "has " + std::to_string(r.clips()) + " clips of " + std::to_string(r.frames()) +
                                " frames in all (negative)");
  return r;
}

}  // namespace loong::corpus_records
