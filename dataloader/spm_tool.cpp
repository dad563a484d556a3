// loong-sentencepiece: SentencePiece training and encoding in a process of its own. Debian's
// libsentencepiece exports a bundled copy of protobuf-lite whose symbols clash with the system
// libprotobuf that the corpus records use (a process linking both crashes at start-up), so
// `loong text train` runs this helper instead of linking SentencePiece.
//   loong-sentencepiece train  --input CAPTIONS.txt --vocab-size N --model OUT.model [--model-type bpe]
//   loong-sentencepiece encode --model M.model --input CAPTIONS.txt --output IDS.txt
//   loong-sentencepiece pieces --model M.model --output N.txt   (writes the piece count, V_text)
// Input: one caption per line (UTF-8). Encode output: one line per caption, ids separated by
// spaces. Exit status 0 on success, 1 with a message on stderr otherwise.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace {

class LinesIterator : public sentencepiece::SentenceIterator {
 public:
  explicit LinesIterator(const std::vector<std::string>& lines) : lines_(lines) {}
  bool done() const override { return i_ >= lines_.size(); }
  void Next() override { ++i_; }
  const std::string& value() const override { return lines_[i_]; }
  sentencepiece::util::Status status() const override { return sentencepiece::util::Status(); }

 private:
  const std::vector<std::string>& lines_;
  size_t i_ = 0;
};

bool read_lines(const std::string& path, std::vector<std::string>& out) {
  std::ifstream f(path);
  if (!f) return false;
  std::string line;
  while (std::getline(f, line)) out.push_back(line);
  return true;
}

int fail(const std::string& m) {
  std::fprintf(stderr, "loong-sentencepiece: %s\n", m.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return fail("usage: loong-sentencepiece train|encode|pieces --flag value ...");
  std::string mode = argv[1];
  std::map<std::string, std::string> a;
  for (int i = 2; i + 1 < argc; i += 2) a[argv[i]] = argv[i + 1];
  if (mode == "pieces") {
    sentencepiece::SentencePieceProcessor sp;
    auto st = sp.Load(a["--model"]);
    if (!st.ok()) return fail("cannot load model " + a["--model"] + ": " + st.ToString());
    std::ofstream out(a["--output"]);
    out << sp.GetPieceSize() << "\n";
    if (!out) return fail("cannot write " + a["--output"]);
    return 0;
  }
  std::vector<std::string> lines;
  if (!read_lines(a["--input"], lines)) return fail("cannot read " + a["--input"]);
  if (mode == "train") {
    LinesIterator it(lines);
    std::unordered_map<std::string, std::string> kw = {
        {"vocab_size", a["--vocab-size"]},
        {"model_type", a.count("--model-type") ? a["--model-type"] : "unigram"},
        {"hard_vocab_limit", "false"},
        {"character_coverage", "1.0"},
        {"bos_id", "-1"},
        {"eos_id", "-1"},
        {"unk_id", "0"},
        {"minloglevel", "2"}};
    std::string model;
    auto st = sentencepiece::SentencePieceTrainer::Train(kw, &it, &model);
    if (!st.ok()) return fail("training failed: " + st.ToString());
    std::ofstream out(a["--model"], std::ios::binary);
    out.write(model.data(), static_cast<std::streamsize>(model.size()));
    if (!out) return fail("cannot write " + a["--model"]);
    return 0;
  }
  if (mode == "encode") {
    sentencepiece::SentencePieceProcessor sp;
    auto st = sp.Load(a["--model"]);
    if (!st.ok()) return fail("cannot load model " + a["--model"] + ": " + st.ToString());
    std::ofstream out(a["--output"]);
    for (auto& l : lines) {
      std::vector<int> ids;
      st = sp.Encode(l, &ids);
      if (!st.ok()) return fail("encoding failed: " + st.ToString());
      for (size_t k = 0; k < ids.size(); ++k) out << (k ? " " : "") << ids[k];
      out << "\n";
    }
    if (!out) return fail("cannot write " + a["--output"]);
    return 0;
  }
  return fail("unknown mode '" + mode + "'");
}
