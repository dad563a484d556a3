// `loong`: the single command-line entry point; each subcommand is registered from apps/cmd_*.cpp.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "apps/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{
      "Loong cluster: train Loong-style autoregressive text-to-video models on a cluster and generate "
      "minute-long videos.\nRun `loong <command> --help` for the options of a command."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "loong 0.1.0");
  loong::apps::register_train_lm(app);
  loong::apps::register_inspect(app);
  loong::apps::register_ingest(app);
  loong::apps::register_dataset(app);
  loong::apps::register_text(app);
  loong::apps::register_tokenizer(app);
  loong::apps::register_train(app);
  loong::apps::register_generate(app);
  loong::apps::register_eval(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const loong::Error& e) {
    std::fprintf(stderr, "loong: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
