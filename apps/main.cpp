// `loong`: the single command-line entry point; each subcommand is registered from apps/cmd_*.cpp.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <new>
#include <typeinfo>

#include "apps/commands.h"
#include "core/error.h"
#include "core/memory_budget.h"

namespace {
constexpr int kExitUsage = 2;
}  // namespace

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
    // --help and --version exit 0; a usage error (unknown flag, missing or malformed value) 2.
    return app.exit(e) == 0 ? 0 : kExitUsage;
  } catch (const loong::DivergedError& e) {
    std::fprintf(stderr, "loong: error: %s\n", e.what());
    return loong::kExitNonFinite;
  } catch (const loong::Error& e) {
    std::fprintf(stderr, "loong: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    // Sizes are estimated before allocating (core/memory_budget.h); this is the last line.
    const loong::MachineMemory m = loong::machine_memory();
    std::fprintf(stderr, "loong: error: out of memory (this machine has %s, %s available)\n",
                 loong::format_bytes(static_cast<double>(m.total_bytes)).c_str(),
                 loong::format_bytes(static_cast<double>(m.available_bytes)).c_str());
    return 1;
  } catch (const std::exception& e) {
    // A library exception we did not turn into a typed error: still a message and status 1,
    // never an abort; the text says it is our bug to fix.
    std::fprintf(stderr, "loong: error: %s (unexpected %s; please report it)\n", e.what(),
                 typeid(e).name());
    return 1;
  }
  return 0;
}
