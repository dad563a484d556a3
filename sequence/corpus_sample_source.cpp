#include "sequence/corpus_sample_source.h"

#include <nlohmann/json.hpp>

#include "core/checksum.h"
#include "core/error.h"

namespace loong {
namespace {

// Number of pieces in a serialized SentencePiece ModelProto: the top-level repeated field 1.
// Read from the wire format directly: linking libsentencepiece into a process that also uses
// libprotobuf crashes at start-up (Debian's libsentencepiece carries its own protobuf-lite).
int64_t sentencepiece_piece_count(const std::string& bytes, const std::string& where) {
  size_t i = 0;
  auto varint = [&]() -> uint64_t {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (i >= bytes.size()) throw FormatError(where + ": truncated SentencePiece model");
      const uint8_t b = static_cast<uint8_t>(bytes[i++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw FormatError(where + ": malformed SentencePiece model");
  };
  int64_t pieces = 0;
  while (i < bytes.size()) {
    const uint64_t key = varint();
    const uint64_t field = key >> 3, type = key & 7;
    if (type == 0) {
      varint();
    } else if (type == 2) {
      const uint64_t len = varint();
      if (len > bytes.size() - i) throw FormatError(where + ": truncated SentencePiece model");
      i += len;
      if (field == 1) ++pieces;
    } else if (type == 1) {
      i += 8;
    } else if (type == 5) {
      i += 4;
    } else {
      throw FormatError(where + ": malformed SentencePiece model (wire type " + std::to_string(type) + ")");
    }
  }
  if (pieces == 0) throw FormatError(where + ": SentencePiece model has no pieces");
  return pieces;
}

}  // namespace

CorpusSampleSource::CorpusSampleSource(const std::filesystem::path& db, const std::string& tokenizer_id)
    : corpus_(std::make_unique<CorpusReader>(db)), tokenizer_(tokenizer_id) {
  const std::string where = "corpus " + db.string();
  // Text vocabulary: the SentencePiece model stored by `loong text train`.
  auto sp = corpus_->blob("sentencepiece.model");
  if (!sp) throw InputError(where + " has no SentencePiece model: run `loong text train --db " + db.string() + "`");
  vocab_.text_vocab = sentencepiece_piece_count(*sp, where + " blob sentencepiece.model");
  // Codebook: the tokenizer config stored by `loong tokenizer encode --id`.
  auto tok = corpus_->blob("tokenizer/" + tokenizer_id);
  if (!tok)
    throw InputError(where + " has no video tokens for tokenizer id '" + tokenizer_id +
                     "': run `loong tokenizer encode --db " + db.string() + " --tokenizer DIR --id " + tokenizer_id +
                     "`");
  try {
    auto j = nlohmann::json::parse(*tok);
    vocab_.codebook = j.at("config").at("codebook_size").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(where + ": tokenizer blob '" + tokenizer_id + "' is not a tokenizer.json (" + e.what() + ")");
  }
  provenance_.tokenizer_id = tokenizer_id;
  provenance_.tokenizer_json = *tok;
  provenance_.text_model = *sp;
  bool mixed_fps = false;
  for (const auto& c : corpus_->list_clips()) {
    auto vt = corpus_->video_tokens(tokenizer_id, c.id);
    if (!vt) continue;  // not encoded (yet): not eligible
    if (provenance_.fps == 0) provenance_.fps = c.fps;
    mixed_fps = mixed_fps || c.fps != provenance_.fps;
    if (grid_h_ == 0) grid_h_ = vt->grid_height, grid_w_ = vt->grid_width;
    if (vt->grid_height != grid_h_ || vt->grid_width != grid_w_)
      throw FormatError(where + ": clip " + c.id + " has a " + std::to_string(vt->grid_height) + "x" +
                        std::to_string(vt->grid_width) + " code grid, others " + std::to_string(grid_h_) + "x" +
                        std::to_string(grid_w_));
    const uint64_t h = fnv1a64(c.id);
    auto [it, fresh] = ids_.emplace(h, c.id);
    if (!fresh && it->second != c.id)
      throw FormatError(where + ": clip ids " + it->second + " and " + c.id + " collide");
    by_split_[c.split].push_back({h, vt->latent_frames});
  }
  if (mixed_fps) provenance_.fps = 0;  // clips ingested at different rates: no single frame rate
  if (ids_.empty()) throw InputError(where + ": no clip has video tokens for tokenizer id '" + tokenizer_id + "'");
}

std::vector<ClipEntry> CorpusSampleSource::clips(const std::string& split) const {
  auto it = by_split_.find(split);
  return it == by_split_.end() ? std::vector<ClipEntry>{} : it->second;
}

ClipTokens CorpusSampleSource::fetch(uint64_t clip_id, int64_t frames) {
  auto it = ids_.find(clip_id);
  if (it == ids_.end()) throw InputError("no clip with id hash " + std::to_string(clip_id) + " in " + describe());
  const std::string& id = it->second;
  ClipTokens t;
  auto text = corpus_->text_tokens(id);
  if (!text) throw FormatError("clip " + id + ": no caption tokens (run `loong text tokenize` after ingesting new clips, or `loong text train`)");
  t.text = std::move(*text);
  auto vt = corpus_->video_tokens(tokenizer_, id);
  if (!vt) throw FormatError("clip " + id + ": no video tokens for tokenizer '" + tokenizer_ + "'");
  const int64_t need = frames * grid_h_ * grid_w_;
  if (vt->latent_frames < frames || static_cast<int64_t>(vt->codes.size()) < need)
    throw FormatError("clip " + id + ": " + std::to_string(vt->latent_frames) + " latent frames of codes, " +
                      std::to_string(frames) + " needed");
  t.codes.assign(vt->codes.begin(), vt->codes.begin() + need);
  return t;
}

std::string CorpusSampleSource::describe() const {
  return "corpus " + corpus_->dir().string() + ", tokenizer '" + tokenizer_ + "'";
}

}  // namespace loong
