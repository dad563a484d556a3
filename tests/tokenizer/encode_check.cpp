// Checks the codes `loong tokenizer encode` stored in a corpus against VideoTokenizer::encode run
// here on the same clips (the corpus's frames, the saved tokenizer loaded afresh): for every clip,
// the stored record must exist, have the clip's latent frames and an H/8 x W/8 grid, and hold
// exactly the codes encode() returns. Used by tests/tokenizer/tokenizer_cli_test.py.
//
//   encode_check --db CORPUS --tokenizer DIR --id ID
// Prints one line per mismatching clip and a summary "N clips, M equal"; exit 0 only when every
// clip (at least one) matches, 1 otherwise.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>

#include "core/error.h"
#include "dataloader/corpus.h"
#include "tokenizer/video_tokenizer.h"

using namespace loong;

int main(int argc, char** argv) {
  CLI::App app{"Stored video tokens vs VideoTokenizer::encode (test tool)."};
  std::string db, dir, id;
  app.add_option("--db", db)->required();
  app.add_option("--tokenizer", dir)->required();
  app.add_option("--id", id)->required();
  CLI11_PARSE(app, argc, argv);
  try {
    CorpusReader corpus(db);
    tok::VideoTokenizer t(std::filesystem::path{dir});
    int64_t clips = 0, equal = 0;
    for (const auto& c : corpus.list_clips()) {
      ++clips;
      const auto stored = corpus.video_tokens(id, c.id);
      if (!stored) {
        std::printf("%s: no '%s' tokens stored\n", c.id.c_str(), id.c_str());
        continue;
      }
      const auto frames = corpus.read_frames(c.id, 0, c.pixel_frames);
      const auto codes = t.encode(frames.data(), 1, c.pixel_frames, c.height, c.width);
      const bool shape = stored->latent_frames == c.latent_frames && stored->grid_height == c.height / 8 &&
                         stored->grid_width == c.width / 8;
      int64_t differ = 0;
      for (size_t i = 0; i < std::min(codes.size(), stored->codes.size()); ++i) differ += codes[i] != stored->codes[i];
      if (shape && codes.size() == stored->codes.size() && differ == 0) {
        ++equal;
      } else {
        std::printf("%s: stored %d x %d x %d (%zu codes), encode() %d x %d x %d (%zu codes), %lld differ\n",
                    c.id.c_str(), stored->latent_frames, stored->grid_height, stored->grid_width,
                    stored->codes.size(), c.latent_frames, c.height / 8, c.width / 8, codes.size(),
                    static_cast<long long>(differ));
      }
    }
    std::printf("%lld clips, %lld equal\n", static_cast<long long>(clips), static_cast<long long>(equal));
    return clips > 0 && equal == clips ? 0 : 1;
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
