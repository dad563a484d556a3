// `loong inspect --db DIR`: what a video corpus holds, without reading frames: clip, frame and
// video counts, clips per split, the latent-length histogram, text tokens, video tokenizers
// present, stored blobs, and the size on disk.
#include <cstdio>

#include "apps/commands.h"
#include "dataloader/corpus.h"

namespace loong::apps {

void register_inspect(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "Print what a video corpus holds (counts, length histogram, tokenizers)");
  auto db = std::make_shared<std::string>();
  cmd->add_option("--db", *db, "Corpus directory (RocksDB), as written by `loong ingest`")->required();
  cmd->callback([db] {
    CorpusReader r(*db);
    CorpusStats s = r.stats();
    std::printf("corpus %s\n", db->c_str());
    std::printf("  videos        %lld\n", static_cast<long long>(s.videos));
    std::printf("  clips         %lld\n", static_cast<long long>(s.clips));
    std::printf("  frames        %lld\n", static_cast<long long>(s.frames));
    for (auto& [split, n] : s.clips_per_split)
      std::printf("  split %-7s %lld clips\n", split.c_str(), static_cast<long long>(n));
    std::printf("  clips by latent frames (pixel frames = 1 + 4 (latent - 1)):\n");
    int64_t most = 1;
    for (auto& [len, n] : s.clips_per_latent_frames) most = std::max(most, n);
    for (auto& [len, n] : s.clips_per_latent_frames) {
      int bar = static_cast<int>(40 * n / most);
      std::printf("    %4d latent (%4d px)  %8lld  %s\n", len, 1 + 4 * (len - 1), static_cast<long long>(n),
                  std::string(std::max(bar, 1), '#').c_str());
    }
    std::printf(
        "  text tokens   %lld clips%s\n", static_cast<long long>(s.text_token_records),
        r.text_model_id().empty() ? " (no SentencePiece model)" : (" (model " + r.text_model_id() + ")").c_str());
    if (s.video_token_records.empty()) std::printf("  video tokens  none\n");
    for (auto& [tok, n] : s.video_token_records)
      std::printf("  video tokens  tokenizer %s: %lld clips\n", tok.c_str(), static_cast<long long>(n));
    for (auto& b : s.blobs) std::printf("  blob          %s\n", b.c_str());
    std::printf("  on disk       %.2f MiB (%llu bytes)\n", s.disk_bytes / 1048576.0,
                static_cast<unsigned long long>(s.disk_bytes));
  });
}

}  // namespace loong::apps
