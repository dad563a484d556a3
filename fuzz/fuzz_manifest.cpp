// Ingest manifests (dataloader/manifest.h; `generate --manifest` writes the same CSV). The first
// byte picks the format: 'j' JSONL, anything else CSV; the rest is the file. Every accepted entry
// must survive the trip into a corpus record: caption and path go into protobuf string fields,
// which only take valid UTF-8, so a record the reader could not parse back is a finding.
#include "corpus.pb.h"
#include "dataloader/manifest.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace loong;
  if (size == 0) return 0;
  const std::filesystem::path name = data[0] == 'j' ? "fuzz/manifest.jsonl" : "fuzz/manifest.csv";
  fuzz::expect_typed_errors([&] {
    const Manifest m = parse_manifest(fuzz::as_text(data + 1, size - 1), name);
    for (const auto& e : m.entries) {
      LOONG_FUZZ_REQUIRE(e.line >= 1);
      LOONG_FUZZ_REQUIRE(e.split == "train" || e.split == "test");
      LOONG_FUZZ_REQUIRE(!e.path.empty());
      corpus::ClipRecord r;
      r.set_caption(e.caption);
      r.set_source_path(e.path.string());
      r.set_split(e.split);
      std::string bytes;
      LOONG_FUZZ_REQUIRE(r.SerializeToString(&bytes));
      corpus::ClipRecord back;
      LOONG_FUZZ_REQUIRE(back.ParseFromString(bytes));
      LOONG_FUZZ_REQUIRE(back.caption() == e.caption);
    }
    for (const auto& p : m.problems) LOONG_FUZZ_REQUIRE(p.line >= 1 && !p.reason.empty());
  });
  return 0;
}
