// sequence.json of a training checkpoint (sequence/sequence_manifest.h), as generation reads it.
// Every input goes through SequenceManifest::from_json (after the JSON parse SequenceManifest::read
// does); one it accepts is then placed, with a valid config.json, into a complete checkpoint
// directory whose checksums.json covers it, and opened with GenerationCheckpoint::open, which
// reads it again from disk and checks it against the model config (vocabulary, positions).
#include <nlohmann/json.hpp>

#include "checkpoint/checkpoint_store.h"
#include "core/checksum.h"
#include "core/safetensors.h"
#include "dataloader/corpus.h"
#include "fuzz/fuzz_common.h"
#include "generate/generation_checkpoint.h"
#include "model/llama_config.h"
#include "sequence/sequence_manifest.h"

namespace {

// The checkpoint directory (written once) and how checksums.json spells a checksum, learned from
// the checksum CheckpointStore::validate accepts, so the harness follows the store's format.
struct Checkpoint {
  std::filesystem::path dir;
  bool hex = false;
};

std::string spell(const Checkpoint& c, const std::filesystem::path& file) {
  const uint64_t sum = loong::file_checksum(file);
  return c.hex ? loong::hex64(sum) : std::to_string(sum);
}

void write_checksums(const Checkpoint& c) {
  nlohmann::json sums = nlohmann::json::object();
  for (const char* f : {"training_state.pb", "config.json", "sequence.json", "model.safetensors"}) sums[f] = spell(c, c.dir / f);
  loong::fuzz::write_bytes(c.dir / "checksums.json", sums.dump());
}

const Checkpoint& checkpoint() {
  static const Checkpoint c = [] {
    Checkpoint k;
    k.dir = loong::fuzz::scratch_dir() / "step_00000001";
    std::filesystem::create_directories(k.dir);
    loong::LlamaConfig m;
    m.hidden_size = 64;
    m.num_hidden_layers = 2;
    m.num_attention_heads = 4;
    m.num_key_value_heads = 4;
    m.intermediate_size = 128;
    m.vocab_size = 1600;  // text 512 + 5 specials + codebook 1024, padded to 64
    m.max_position_embeddings = 256;
    loong::fuzz::write_bytes(k.dir / "config.json", m.to_hf_json().dump(2));
    loong::fuzz::write_bytes(k.dir / "training_state.pb", "\x08\x01");
    loong::fuzz::write_bytes(k.dir / "sequence.json", "{}");
    // The weights are never read here (GenerationCheckpoint::open checks configs only); the
    // store wants the file present and covered by checksums.json.
    const float w[1] = {0};
    loong::SafetensorsWriter st;
    st.add_f32("w", {1}, w);
    st.write(k.dir / "model.safetensors");
    loong::fuzz::write_bytes(k.dir / "DONE", "");
    std::string reasons;
    for (bool hex : {false, true}) {
      k.hex = hex;
      write_checksums(k);
      const std::string why = loong::CheckpointStore::validate(k.dir);
      if (why.empty()) return k;
      reasons += std::string(hex ? " hex: " : " decimal: ") + why;
    }
    std::fprintf(stderr, "fuzz harness: CheckpointStore::validate rejects the fixture checkpoint;%s\n", reasons.c_str());
    std::abort();
  }();
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace loong;
  const Checkpoint& c = checkpoint();
  const std::string_view text = fuzz::as_text(data, size);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    return 0;  // SequenceManifest::read turns these (syntax, number overflow) into a FormatError
  }
  bool accepted = false;
  fuzz::expect_typed_errors([&] {
    const SequenceManifest m = SequenceManifest::from_json(j, "fuzz/sequence.json");
    LOONG_FUZZ_REQUIRE(m.shape.frames >= 1 && m.max_latent_frames >= m.shape.frames);
    accepted = true;
  });
  if (!accepted) return 0;
  fuzz::write_bytes(c.dir / "sequence.json", text);
  write_checksums(c);
  fuzz::expect_typed_errors([&] {
    const GenerationCheckpoint g = GenerationCheckpoint::open(c.dir);
    LOONG_FUZZ_REQUIRE(g.config().vocab_size == g.manifest().vocab.size());
    LOONG_FUZZ_REQUIRE(g.config().max_position_embeddings >= g.manifest().shape.model_length());
  });
  return 0;
}
