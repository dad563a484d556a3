// `loong text train --db DIR [--vocab-size 1000] [--train-split train]`: SentencePiece model on the
// corpus captions, stored in the corpus, and every caption tokenized; `loong text tokenize --db DIR`:
// captions of clips ingested later, with the stored model (dataloader/text_tokens.h).
#include <unistd.h>

#include <cstdio>

#include "apps/commands.h"
#include "dataloader/corpus.h"
#include "dataloader/text_tokens.h"

namespace loong::apps {

namespace {

// Temporary files of the helper go to the system's temp directory, not into the corpus directory.
std::filesystem::path scratch_dir() {
  return std::filesystem::temp_directory_path() / ("loong-text." + std::to_string(getpid()));
}

}  // namespace

void register_text(CLI::App& app) {
  auto* cmd = app.add_subcommand("text", "Caption tokens of a corpus (SentencePiece)");
  cmd->require_subcommand(1);
  auto* train = cmd->add_subcommand(
      "train",
      "Train a SentencePiece model on the captions of the train split, store it as blob sentencepiece.model and "
      "write every caption's token ids (all splits) to the text_tokens column family. Re-running replaces both "
      "(a new model invalidates language models trained on the old tokens; use `text tokenize` for new clips).");
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
  auto split = std::make_shared<std::string>("train");
  train
      ->add_option("--train-split", *split,
                   "Captions of this split train the model (\"\" = every split); all splits are tokenized")
      ->capture_default_str();
  train->callback([db, vocab, type, split] {
    CorpusWriter w(*db);
    TextTrainSummary s = train_text_tokens(w, *vocab, scratch_dir(), *type, *split);
    w.flush();
    std::printf(
        "text train: model %s trained on %lld captions, V_text = %d pieces; %lld captions tokenized, %lld tokens "
        "(longest %lld)\n",
        s.model_id.c_str(), static_cast<long long>(s.trained_on), s.vocab_size, static_cast<long long>(s.captions),
        static_cast<long long>(s.tokens), static_cast<long long>(s.max_tokens));
  });

  auto* tok = cmd->add_subcommand(
      "tokenize",
      "Tokenize, with the model stored by `text train`, the captions of clips that have no text tokens yet or "
      "tokens of another model (e.g. after a later `loong ingest`); the model is not changed");
  auto tdb = std::make_shared<std::string>();
  auto all = std::make_shared<bool>(false);
  tok->add_option("--db", *tdb, "Corpus directory (no other writer may hold it)")->required();
  tok->add_flag("--all", *all, "Re-tokenize every caption");
  tok->callback([tdb, all] {
    CorpusWriter w(*tdb);
    TextTrainSummary s = tokenize_new_captions(w, scratch_dir(), *all);
    w.flush();
    std::printf("text tokenize: model %s (V_text = %d); %lld captions tokenized, %lld already current, %lld tokens\n",
                s.model_id.c_str(), s.vocab_size, static_cast<long long>(s.captions),
                static_cast<long long>(s.already_current), static_cast<long long>(s.tokens));
  });
}

}  // namespace loong::apps
