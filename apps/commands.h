// Each `loong` subcommand lives in its own apps/cmd_*.cpp and registers itself here.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>

namespace loong::apps {

// Adds a subcommand to `app`; the callback it installs runs the command and may throw
// loong::Error, which main() reports as a message with exit status 1.
void register_train_lm(CLI::App& app);
void register_inspect(CLI::App& app);  // cmd_inspect.cpp
void register_ingest(CLI::App& app);   // cmd_ingest.cpp
void register_dataset(CLI::App& app);  // cmd_dataset.cpp
void register_text(CLI::App& app);     // cmd_text.cpp
void register_tokenizer(CLI::App& app);  // cmd_tokenizer.cpp
void register_train(CLI::App& app);      // cmd_train.cpp
void register_generate(CLI::App& app);   // cmd_generate.cpp
void register_eval(CLI::App& app);       // cmd_eval.cpp

}  // namespace loong::apps
