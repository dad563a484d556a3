// `loong generate` as a library: one request (flags), every check on user input done when the job
// is built, before any weights are read or tokens sampled; then one video per prompt.
//
// Checks, in order (each a typed error naming the input): --seconds in (0, 3600], --top-k >= 0,
// --temperature and --cfg-scale finite and >= 0, exactly one of --prompt / --prompts; the output paths writable (their
// directory exists, they are not directories, a probe file can be created); the checkpoint
// (GenerationCheckpoint::open); the tokenizer (loads, belongs to the checkpoint); the frame rate;
// the segment plan (--tail-frames); each prompt non-empty and at most the text budget in tokens
// (tokenized with the checkpoint's own SentencePiece model). Over-long prompts are an error, not
// truncated: training truncated captions silently, but a user should know their words are cut.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "generate/generation_checkpoint.h"
#include "generate/generation_stats.h"
#include "generate/video_generator.h"

namespace loong {

struct GenerateRequest {
  std::filesystem::path checkpoint;  // step directory or checkpoint root
  std::filesystem::path tokenizer;   // video tokenizer directory (tokenizer.json + safetensors)
  std::string prompt;                // one prompt, or
  std::filesystem::path prompts;     // a file with one prompt per line (blank lines skipped)
  double seconds = 10;
  std::filesystem::path out;            // video.mp4; with several prompts video_001.mp4, ...
  std::filesystem::path stats;          // JSONL per frame; "" = out with extension .jsonl
  std::filesystem::path contact_sheet;  // PNG, optional (numbered like out with several prompts)
  int64_t sheet_every = 0;              // frames between contact-sheet frames; 0 = one per second
  double fps = 0;                       // 0: the training clips' rate recorded in the checkpoint
  std::filesystem::path manifest;       // also a CSV `path,caption,split` of the videos written ("" = none)
  SamplingOptions sampling;             // prompt i (0-based) is sampled with seed + i
  // false: sampling.cfg_scale is chosen from the checkpoint: kDefaultGuidanceScale when it was
  // trained with caption dropout (it knows the empty caption), 1 (no guidance) otherwise.
  bool cfg_scale_given = false;
};

// The guidance scale `loong generate` uses by default on checkpoints trained with caption dropout:
// of 1, 2, 3, 5 on the demo's 10-s prompt set, 2 kept the digit as well as 3 (0.458 vs 0.462 of
// frames) and started the motion the captioned way most often (0.25 vs 0.10); docs/quality.md.
inline constexpr float kDefaultGuidanceScale = 2.0f;

struct GeneratedFiles {
  std::string prompt;
  std::filesystem::path video, stats, contact_sheet;
  std::vector<WindowSummary> summary;  // per 10 s
  double seconds_taken = 0;            // wall time of sampling + decoding + writing
};

class GenerateJob {
 public:
  explicit GenerateJob(const GenerateRequest& request);
  ~GenerateJob();

  const GenerationCheckpoint& checkpoint() const { return checkpoint_; }
  const std::vector<std::string>& prompts() const { return prompts_; }
  const std::vector<std::vector<int32_t>>& prompt_tokens() const { return tokens_; }
  int64_t pixel_frames() const { return frames_; }
  int fps() const { return fps_; }
  int64_t tail_latents() const { return tail_; }
  const SegmentPlan& plan() const { return plan_; }
  const std::string& warning() const { return warning_; }  // tokenizer not fully verified, or ""
  float cfg_scale() const { return request_.sampling.cfg_scale; }  // as resolved from the checkpoint

  // Generates every prompt in turn and writes its mp4, stats and contact sheet; `show_progress`
  // draws a progress bar per video.
  std::vector<GeneratedFiles> run(bool show_progress = true);
  // Writes request.manifest for `files` (paths relative to its folder).
  void write_manifest(const std::vector<GeneratedFiles>& files) const;
  // The video of prompt `prompt_index` (no files written), sampled with seed + prompt_index;
  // `progress` as in VideoGenerator::generate.
  GeneratedVideo generate(size_t prompt_index, const std::function<void(const GeneratedVideo&)>& progress = {});

 private:
  GenerateRequest request_;
  GenerationCheckpoint checkpoint_;
  std::vector<std::string> prompts_;
  std::vector<std::vector<int32_t>> tokens_;
  std::vector<std::filesystem::path> videos_, stats_, sheets_;
  int64_t frames_ = 0, tail_ = 0;
  int fps_ = 0;
  SegmentPlan plan_;
  std::string warning_;
  std::unique_ptr<tok::VideoTokenizer> tokenizer_;
  std::unique_ptr<LlamaModel> model_;
};

}  // namespace loong
