// checksums.json of a training checkpoint (checkpoint/checkpoint_store.h). The input is the file;
// it sits in a complete step directory (DONE and a training_state.pb present) and
// CheckpointStore::validate, whose contract is to return the reason a directory is not a usable
// checkpoint, judges it. validate must answer, never throw: `--resume auto` relies on it to skip a
// bad checkpoint and use an older one. So here any exception, typed or not, is a finding.
#include "checkpoint/checkpoint_store.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace loong;
  static const std::filesystem::path dir = [] {
    const auto d = fuzz::scratch_dir() / "step_00000001";
    std::filesystem::create_directories(d);
    fuzz::write_bytes(d / "DONE", "");
    fuzz::write_bytes(d / "training_state.pb", "\x08\x01");
    return d;
  }();
  fuzz::write_bytes(dir / "checksums.json", fuzz::as_text(data, size));
  const std::string why = CheckpointStore::validate(dir);
  (void)why;
  return 0;
}
