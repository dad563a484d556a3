// `loong text train --db DIR [--vocab-size 1000]`: SentencePiece model on the corpus captions,
// stored in the corpus, and every caption tokenized (dataloader/text_tokens.h).
#include <unistd.h>

#include <cstdio>

#include "apps/commands.h"
#include "dataloader/corpus.h"
#include "dataloader/text_tokens.h"

namespace loong::apps {

void register_text(CLI::App& app) {
  auto* cmd = app.add_subcommand("text", "Caption tokens of a corpus");
  cmd->require_subcommand(1);
  auto* train = cmd->add_subcommand(
      "train",
      "Train a SentencePiece model on all captions of the corpus, store it as blob sentencepiece.model and "
      "write every caption's token ids to the text_tokens column family. Re-running replaces both.");
  auto db = std::make_shared<std::string>();
  auto vocab = std::make_shared<int>(1000);
  train->add_option("--db", *db, "Corpus directory (no other writer may hold it)")->required();
  train
      ->add_option("--vocab-size", *vocab,
                   "Requested vocabulary size (pieces); small corpora get fewer (the model never exceeds what the "
                   "captions support)")
      ->capture_default_str();
  auto type = std::make_shared<std::string>("bpe");
  train
      ->add_option("--model-type", *type,
                   "bpe (learns whole words even on the small vocabularies of synthetic captions) or unigram")
      ->capture_default_str();
  train->callback([db, vocab, type] {
    CorpusWriter w(*db);
    auto scratch = std::filesystem::path(*db) / ("text-train.tmp." + std::to_string(getpid()));
    TextTrainSummary s = train_text_tokens(w, *vocab, scratch, *type);
    w.flush();
    std::printf("text train: %lld captions, %lld tokens (longest %lld), vocabulary %d, model %s\n",
                static_cast<long long>(s.captions), static_cast<long long>(s.tokens),
                static_cast<long long>(s.max_tokens), s.vocab_size, s.model_id.c_str());
  });
}

}  // namespace loong::apps
