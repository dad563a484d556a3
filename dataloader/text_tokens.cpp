#include "dataloader/text_tokens.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/checksum.h"
#include "core/error.h"
#include "core/fs.h"
#include "dataloader/corpus.h"
#include "dataloader/moving_mnist.h"

namespace loong {

std::filesystem::path sentencepiece_tool() {
  if (const char* e = std::getenv("LOONG_SENTENCEPIECE")) return e;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto p = self.parent_path() / "loong-sentencepiece";
    if (std::filesystem::exists(p, ec)) return p;
  }
  return LOONG_SENTENCEPIECE_BUILD_PATH;
}

namespace {

std::string one_line(std::string s) {
  for (auto& ch : s)
    if (ch == '\n' || ch == '\r') ch = ' ';
  return s;
}

// Removes the scratch directory however the caller leaves.
struct ScratchDir {
  std::filesystem::path path;
  explicit ScratchDir(std::filesystem::path p) : path(std::move(p)) { std::filesystem::create_directories(path); }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// Encodes the captions of `clips` with `model` and stores them as text tokens of model `s.model_id`.
void encode_and_store(CorpusWriter& corpus, const std::vector<ClipInfo>& clips, const std::filesystem::path& model,
                      const std::filesystem::path& scratch, TextTrainSummary& s) {
  if (clips.empty()) return;
  std::vector<std::string> captions;
  for (auto& c : clips) captions.push_back(c.caption);
  const auto tokens = encode_texts(model, captions, s.vocab_size, scratch);
  for (size_t i = 0; i < clips.size(); ++i) {
    corpus.put_text_tokens(clips[i].id, s.model_id, tokens[i]);
    s.tokens += static_cast<int64_t>(tokens[i].size());
    s.max_tokens = std::max<int64_t>(s.max_tokens, static_cast<int64_t>(tokens[i].size()));
  }
  s.captions += static_cast<int64_t>(clips.size());
}

}  // namespace

int sentencepiece_pieces(const std::filesystem::path& model, const std::filesystem::path& scratch) {
  const std::string tool = sentencepiece_tool().string();
  const auto out = scratch / "pieces.txt";
  if (run_command({tool, "pieces", "--model", model.string(), "--output", out.string()}) != 0)
    throw IoError("cannot read the SentencePiece model " + model.string() + " (" + tool + " pieces)");
  int n = std::atoi(read_file(out).c_str());
  if (n <= 0) throw FormatError("SentencePiece model " + model.string() + " has no pieces");
  return n;
}

std::vector<std::vector<int32_t>> encode_texts(const std::filesystem::path& model, const std::vector<std::string>& texts,
                                               int vocab_size, const std::filesystem::path& scratch) {
  std::vector<std::vector<int32_t>> out;
  if (texts.empty()) return out;
  const std::string tool = sentencepiece_tool().string();
  const auto input = scratch / "encode.txt", ids = scratch / "ids.txt";
  std::string text;
  for (auto& t : texts) text += one_line(t) + "\n";
  write_file_atomic(input, text);
  if (run_command({tool, "encode", "--model", model.string(), "--input", input.string(), "--output", ids.string()}) !=
      0)
    throw IoError("SentencePiece encoding failed (" + tool + " encode, see the message above)");
  std::ifstream in(ids);
  std::string line;
  while (out.size() < texts.size() && std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<int32_t> toks;
    int t;
    while (ls >> t) {
      if (t < 0 || t >= vocab_size)
        throw IoError(tool + " encode returned token " + std::to_string(t) + " outside [0, " +
                      std::to_string(vocab_size) + ") for text " + std::to_string(out.size() + 1) + " (\"" +
                      one_line(texts[out.size()]) + "\")");
      toks.push_back(t);
    }
    out.push_back(std::move(toks));
  }
  if (out.size() != texts.size())
    throw IoError(tool + " encode produced " + std::to_string(out.size()) + " lines for " +
                  std::to_string(texts.size()) + " texts");
  return out;
}

TextTrainSummary train_text_tokens(CorpusWriter& corpus, int vocab_size, const std::filesystem::path& scratch_dir,
                                   const std::string& model_type, const std::string& train_split) {
  if (model_type != "bpe" && model_type != "unigram") throw ConfigError("--model-type must be bpe or unigram");
  if (vocab_size < 8 || vocab_size > 1000000) throw ConfigError("--vocab-size must be in [8, 1000000]");
  auto clips = corpus.list_clips();
  if (clips.empty()) throw InputError("corpus " + corpus.dir().string() + " has no clips (run `loong ingest` first)");
  std::string text;
  int64_t trained_on = 0;
  for (auto& c : clips) {
    if (!train_split.empty() && c.split != train_split) continue;
    text += one_line(c.caption) + "\n";
    ++trained_on;
  }
  if (trained_on == 0)
    throw InputError("corpus " + corpus.dir().string() + " has no captions in split '" + train_split +
                     "' to train on (use --train-split \"\" for every split)");
  ScratchDir scratch(scratch_dir);
  const auto captions = scratch.path / "captions.txt", model = scratch.path / "sentencepiece.model";
  write_file_atomic(captions, text);
  const std::string tool = sentencepiece_tool().string();
  if (run_command({tool, "train", "--input", captions.string(), "--vocab-size", std::to_string(vocab_size), "--model",
                   model.string(), "--model-type", model_type}) != 0)
    throw IoError("SentencePiece training failed (" + tool + " train, see the message above)");
  const std::string blob = read_file(model);
  TextTrainSummary s;
  s.model_id = hex64(fnv1a64(blob));
  s.trained_on = trained_on;
  s.vocab_size = sentencepiece_pieces(model, scratch.path);
  // The model first: tokens naming a model id that is not stored would be unusable.
  corpus.put_blob("sentencepiece.model", blob);
  encode_and_store(corpus, clips, model, scratch.path, s);
  return s;
}

TextTrainSummary tokenize_new_captions(CorpusWriter& corpus, const std::filesystem::path& scratch_dir, bool all) {
  auto blob = corpus.blob("sentencepiece.model");
  if (!blob)
    throw InputError("corpus " + corpus.dir().string() + " has no SentencePiece model (run `loong text train --db " +
                     corpus.dir().string() + "` first)");
  ScratchDir scratch(scratch_dir);
  const auto model = scratch.path / "sentencepiece.model";
  write_file_atomic(model, *blob);
  TextTrainSummary s;
  s.model_id = hex64(fnv1a64(*blob));
  s.vocab_size = sentencepiece_pieces(model, scratch.path);
  std::vector<ClipInfo> todo;
  for (auto& c : corpus.list_clips()) {
    if (!all && corpus.text_tokens_model(c.id) == s.model_id)
      ++s.already_current;
    else
      todo.push_back(std::move(c));
  }
  encode_and_store(corpus, todo, model, scratch.path, s);
  return s;
}

}  // namespace loong
