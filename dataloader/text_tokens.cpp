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

TextTrainSummary train_text_tokens(CorpusWriter& corpus, int vocab_size, const std::filesystem::path& scratch,
                                   const std::string& model_type) {
  if (model_type != "bpe" && model_type != "unigram") throw ConfigError("--model-type must be bpe or unigram");
  if (vocab_size < 8 || vocab_size > 1000000) throw ConfigError("--vocab-size must be in [8, 1000000]");
  auto clips = corpus.list_clips();
  if (clips.empty()) throw InputError("corpus " + corpus.dir().string() + " has no clips (run `loong ingest` first)");
  std::filesystem::create_directories(scratch);
  const auto captions = scratch / "captions.txt", model = scratch / "sentencepiece.model", ids = scratch / "ids.txt";
  std::string text;
  for (auto& c : clips) {
    std::string cap = c.caption;
    for (auto& ch : cap)
      if (ch == '\n' || ch == '\r') ch = ' ';
    text += cap + "\n";
  }
  write_file_atomic(captions, text);
  const std::string tool = sentencepiece_tool().string();
  if (run_command({tool, "train", "--input", captions.string(), "--vocab-size", std::to_string(vocab_size), "--model",
                   model.string(), "--model-type", model_type}) != 0)
    throw IoError("SentencePiece training failed (" + tool + " train, see the message above)");
  if (run_command(
          {tool, "encode", "--model", model.string(), "--input", captions.string(), "--output", ids.string()}) != 0)
    throw IoError("SentencePiece encoding failed (" + tool + " encode)");
  const std::string blob = read_file(model);
  corpus.put_blob("sentencepiece.model", blob);
  TextTrainSummary s;
  s.model_id = hex64(fnv1a64(blob));
  std::ifstream in(ids);
  std::string line;
  size_t i = 0;
  int max_id = -1;
  while (std::getline(in, line) && i < clips.size()) {
    std::istringstream ls(line);
    std::vector<int32_t> toks;
    int t;
    while (ls >> t) {
      toks.push_back(t);
      max_id = std::max(max_id, t);
    }
    corpus.put_text_tokens(clips[i].id, s.model_id, toks);
    s.tokens += static_cast<int64_t>(toks.size());
    s.max_tokens = std::max<int64_t>(s.max_tokens, static_cast<int64_t>(toks.size()));
    ++i;
  }
  if (i != clips.size())
    throw IoError(tool + " encode produced " + std::to_string(i) + " lines for " + std::to_string(clips.size()) +
                  " captions");
  s.captions = static_cast<int64_t>(i);
  s.vocab_size = max_id + 1;
  std::error_code ec;
  std::filesystem::remove_all(scratch, ec);
  return s;
}

}  // namespace loong
