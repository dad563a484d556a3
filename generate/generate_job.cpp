#include "generate/generate_job.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>

#include "core/error.h"
#include "core/fs.h"
#include "core/memory_budget.h"
#include "core/progress.h"
#include "dataloader/text_tokens.h"
#include "dataloader/video_encoder.h"

namespace fs = std::filesystem;

namespace loong {
namespace {

// `path` with `_NNN` (1-based) before its extension when there are several prompts.
fs::path numbered(const fs::path& path, size_t index, size_t count) {
  if (count <= 1 || path.empty()) return path;
  char num[16];
  std::snprintf(num, sizeof num, "_%03zu", index + 1);
  fs::path p = path;
  p.replace_filename(path.stem().string() + num + path.extension().string());
  return p;
}

// InputError naming `flag` unless a file can be created at `path`: its directory exists, it is not
// a directory itself, and a probe file next to it can be written (and is removed again).
void check_writable(const fs::path& path, const std::string& flag) {
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw InputError(flag + " " + path.string() + ": directory " + dir.string() + " does not exist");
  if (fs::is_directory(path, ec)) throw InputError(flag + " " + path.string() + " is a directory");
  fs::path probe = path;
  probe += ".probe-" + std::to_string(::getpid());
  {
    std::ofstream f(probe);
    if (!f) throw InputError(flag + " " + path.string() + ": cannot create files in " + dir.string());
  }
  fs::remove(probe, ec);
  if (fs::exists(path, ec)) {
    std::ofstream f(path, std::ios::app);
    if (!f) throw InputError(flag + " " + path.string() + " exists and cannot be overwritten");
  }
}

std::string trimmed(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// Removes the tokenizer exchange directory however the constructor leaves.
struct ScratchDir {
  fs::path path;
  ScratchDir() : path(fs::temp_directory_path() / ("loong-generate-" + std::to_string(::getpid()))) {
    fs::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

GenerateJob::GenerateJob(const GenerateRequest& r) : request_(r) {
  // Flags first: nothing is read before they make sense.
  if (!std::isfinite(r.seconds) || r.seconds <= 0 || r.seconds > 3600)
    throw InputError("--seconds " + std::to_string(r.seconds) + " must be in (0, 3600]");
  validate_sampling(r.sampling);
  if (r.sampling.tail_latents < 0) throw InputError("--tail-frames must be >= 1 (or 0 for half the trained length)");
  if (r.fps < 0 || !std::isfinite(r.fps) || r.fps > 240)
    throw InputError("--fps " + std::to_string(r.fps) + ": must be in (0, 240] (or 0 for the checkpoint's rate)");
  if (r.out.empty()) throw InputError("--out is required");
  if (r.prompt.empty() == r.prompts.empty()) {
    if (r.prompts.empty()) throw InputError("the prompt is empty: give --prompt \"a caption\" or --prompts FILE");
    throw InputError("give either --prompt or --prompts, not both");
  }
  if (!r.prompts.empty()) {
    std::ifstream in(r.prompts);
    if (!in) throw InputError("--prompts " + r.prompts.string() + " cannot be read");
    std::string line;
    while (std::getline(in, line))
      if (!trimmed(line).empty()) prompts_.push_back(trimmed(line));
    if (prompts_.empty()) throw InputError("--prompts " + r.prompts.string() + " holds no prompt (blank lines are skipped)");
  } else {
    prompts_.push_back(r.prompt);
    if (trimmed(r.prompt).empty()) throw InputError("the prompt is empty (only white space)");
  }

  // Outputs: found unwritable now, not after minutes of sampling.
  for (size_t i = 0; i < prompts_.size(); ++i) {
    videos_.push_back(numbered(r.out, i, prompts_.size()));
    fs::path st = r.stats.empty() ? fs::path(r.out).replace_extension(".jsonl") : r.stats;
    stats_.push_back(numbered(st, i, prompts_.size()));
    sheets_.push_back(numbered(r.contact_sheet, i, prompts_.size()));
    check_writable(videos_.back(), "--out");
    check_writable(stats_.back(), "--stats");
    if (!sheets_.back().empty()) check_writable(sheets_.back(), "--contact-sheet");
  }
  if (!r.manifest.empty()) check_writable(r.manifest, "--manifest");
  // No output may replace another output or an input (the defaults derive --stats from --out).
  {
    std::vector<std::pair<fs::path, std::string>> files;
    for (size_t i = 0; i < prompts_.size(); ++i) {
      files.emplace_back(videos_[i], "--out");
      files.emplace_back(stats_[i], r.stats.empty() ? "--stats (derived from --out)" : "--stats");
      if (!sheets_[i].empty()) files.emplace_back(sheets_[i], "--contact-sheet");
    }
    if (!r.manifest.empty()) files.emplace_back(r.manifest, "--manifest");
    if (!r.prompts.empty()) files.emplace_back(r.prompts, "--prompts (an input)");
    std::map<fs::path, std::string> seen;
    for (const auto& [path, flag] : files) {
      std::error_code ec;
      fs::path key = fs::weakly_canonical(fs::absolute(path, ec), ec);
      if (ec) key = path.lexically_normal();
      auto [it, fresh] = seen.emplace(key, flag);
      if (!fresh)
        throw InputError(flag + " " + path.string() + " is the same file as " + it->second +
                         ": each output needs its own path");
    }
  }

  // The checkpoint, the tokenizer, and whether they belong together.
  checkpoint_ = GenerationCheckpoint::open(r.checkpoint);
  if (!fs::exists(r.tokenizer / "tokenizer.json"))
    throw InputError("--tokenizer " + r.tokenizer.string() + " holds no tokenizer.json (a `loong tokenizer train` output)");
  tokenizer_ = std::make_unique<tok::VideoTokenizer>(r.tokenizer);
  const int64_t res = tokenizer_->config().resolution;
  warning_ = checkpoint_.check_tokenizer(*tokenizer_, r.tokenizer);

  const SequenceManifest& m = checkpoint_.manifest();
  if (!r.cfg_scale_given) {
    request_.sampling.cfg_scale = m.caption_dropout > 0 ? kDefaultGuidanceScale : 1.0f;
  } else if (r.sampling.cfg_scale != 1.0f && m.caption_dropout == 0) {
    warning_ += std::string(warning_.empty() ? "" : "; ") + "--cfg-scale " + std::to_string(r.sampling.cfg_scale) +
                ": this checkpoint was trained without caption dropout, so its empty-caption branch was never "
                "trained and guidance extrapolates from it";
  }
  const double fps = r.fps > 0 ? r.fps : m.fps;
  if (fps <= 0)
    throw InputError("checkpoint " + checkpoint_.dir().string() +
                     " records no single frame rate for its clips: give --fps");
  fps_ = static_cast<int>(std::lround(fps));
  if (fps_ < 1 || std::fabs(fps - fps_) > 1e-6) throw InputError("frame rate " + std::to_string(fps) + " is not a whole number of frames per second");
  frames_ = std::max<int64_t>(1, std::llround(r.seconds * fps_));
  // The decoded frames of a video are held until it is written (RGB bytes, plus the float copy of
  // a segment the tokenizer decodes): refuse a length this machine cannot hold.
  require_memory(product({static_cast<double>(frames_), static_cast<double>(res), static_cast<double>(res), 3.0}),
                 std::to_string(frames_) + " frames of " + std::to_string(res) + "x" + std::to_string(res) +
                     " (--seconds " + std::to_string(r.seconds) + " at " + std::to_string(fps_) + " fps)");
  tail_ = r.sampling.tail_latents > 0 ? r.sampling.tail_latents : std::max<int64_t>(1, m.shape.frames / 2);
  plan_ = plan_segments(frames_, m.shape.frames, tail_);
  if (r.sampling.sink_latents > 0 && r.sampling.sink_latents >= tail_)
    throw InputError("--sink-frames " + std::to_string(r.sampling.sink_latents) + " must be below --tail-frames (" +
                     std::to_string(tail_) + " latent frames): the sink is part of each later segment's prefix");

  // Prompts, with the model's own SentencePiece model.
  ScratchDir scratch;
  const fs::path spm = checkpoint_.text_model();
  tokens_ = encode_texts(spm, prompts_, static_cast<int>(m.vocab.text_vocab), scratch.path);
  for (size_t i = 0; i < prompts_.size(); ++i) {
    const std::string which = prompts_.size() > 1 ? "prompt " + std::to_string(i + 1) + " (\"" + prompts_[i] + "\")"
                                                   : "the prompt";
    if (tokens_[i].empty()) throw InputError(which + " tokenizes to no tokens");
    if (static_cast<int64_t>(tokens_[i].size()) > m.shape.text_budget)
      throw InputError(which + " is " + std::to_string(tokens_[i].size()) + " tokens long; the model's text budget is " +
                       std::to_string(m.shape.text_budget) + " tokens (shorten it)");
  }
  model_ = checkpoint_.load_model();
}

GenerateJob::~GenerateJob() = default;

GeneratedVideo GenerateJob::generate(size_t i, const std::function<void(const GeneratedVideo&)>& progress) {
  SamplingOptions o = request_.sampling;
  o.seed = request_.sampling.seed + i;
  o.tail_latents = tail_;
  VideoGenerator g(*model_, checkpoint_.manifest(), *tokenizer_);
  return g.generate(tokens_.at(i), frames_, o, progress);
}

std::vector<GeneratedFiles> GenerateJob::run(bool show_progress) {
  std::vector<GeneratedFiles> out;
  for (size_t i = 0; i < prompts_.size(); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    std::unique_ptr<ProgressBar> bar;
    if (show_progress)
      bar = std::make_unique<ProgressBar>(prompts_.size() > 1 ? "generate " + std::to_string(i + 1) : "generate",
                                          plan_.sampled_latents);
    GeneratedVideo v = generate(i, [&](const GeneratedVideo& so_far) {
      if (!bar) return;
      char status[96];
      std::snprintf(status, sizeof status, "segment %lld/%zu, nll %.3f",
                    static_cast<long long>(so_far.latent_segment.back() + 1), plan_.segments.size(),
                    so_far.latent_nll.back());
      bar->update(static_cast<int64_t>(so_far.latent_nll.size()), status);
    });
    if (bar) bar->finish();
    GeneratedFiles f;
    f.prompt = prompts_[i];
    f.video = videos_[i], f.stats = stats_[i], f.contact_sheet = sheets_[i];
    write_mp4(f.video, v.frames, static_cast<int>(v.width), static_cast<int>(v.height), fps_);
    write_generation_stats(f.stats, v, fps_);
    if (!f.contact_sheet.empty())
      write_contact_sheet(f.contact_sheet, v, request_.sheet_every > 0 ? request_.sheet_every : fps_, 10);
    f.summary = summarise_windows(v, fps_, 10.0);
    f.seconds_taken = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    out.push_back(std::move(f));
  }
  if (!request_.manifest.empty()) write_manifest(out);
  return out;
}

void GenerateJob::write_manifest(const std::vector<GeneratedFiles>& files) const {
  // Paths relative to the manifest's folder (as `loong ingest` and `loong eval videos` resolve them);
  // captions quoted CSV-style (a quote inside becomes two).
  const fs::path base = fs::absolute(request_.manifest).parent_path();
  std::string csv = "path,caption,split\n";
  for (const auto& f : files) {
    std::string caption;
    for (char ch : f.prompt) caption += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    csv += fs::relative(fs::absolute(f.video), base).string() + ",\"" + caption + "\",test\n";
  }
  write_file_atomic(request_.manifest, csv);
}

}  // namespace loong
