// The job config of `loong train` (coordinator/train_job.h): TOML syntax, unknown keys, types and
// ranges of every key, the curriculum stages; then the model config the coordinator derives for a
// small data source (configs/train_mnist.toml's scale), as it does before any work starts.
#include "coordinator/train_job.h"
#include "core/toml_config.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace loong;
  fuzz::expect_typed_errors([&] {
    const TomlConfig c = TomlConfig::parse_string(fuzz::as_text(data, size), "fuzz/train.toml");
    const TrainJob job = TrainJob::from_toml(c);
    LOONG_FUZZ_REQUIRE(!job.curriculum.stages.empty());
    VocabLayout vocab;
    vocab.text_vocab = 512;
    vocab.codebook = 1024;
    vocab.pad_to = 64;
    const LlamaConfig m = job.model_for(vocab, 4, 4);
    LOONG_FUZZ_REQUIRE(m.vocab_size == vocab.size() && m.max_position_embeddings > 0);
  });
  return 0;
}
