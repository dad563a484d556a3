// `loong generate`: a video from a caption with a trained checkpoint and its video tokenizer
// (generate/generate_job.h; algorithm and stitching in generate/video_generator.h,
// generate/segment_plan.h and docs/generation.md).
#include <spdlog/spdlog.h>

#include <cstdio>

#include "apps/commands.h"
#include "generate/generate_job.h"

namespace loong::apps {

void register_generate(CLI::App& app) {
  auto r = std::make_shared<GenerateRequest>();
  auto reencode = std::make_shared<std::string>("on");
  auto* cmd = app.add_subcommand(
      "generate",
      "Generate a video from a caption. Up to the trained length (the latent frames per sample of the checkpoint's\n"
      "curriculum stage) the model samples directly; beyond it the video is extended segment by segment: with\n"
      "--reencode on the last --tail-frames latent frames are decoded to pixels and re-encoded with the tokenizer,\n"
      "and the model continues from `<bos> text <bov> re-encoded tail` (positions never exceed the trained length);\n"
      "with --reencode off it continues from the raw sampled codes of the tail (the baseline). Writes the mp4 at\n"
      "the training clips' frame rate, a JSONL line per frame (the model's NLL of the sampled codes of the frame's\n"
      "latent frame, mean intensity, fraction of bright pixels) and optionally a PNG contact sheet; prints a\n"
      "summary per 10 s. Every input is checked before any work. See docs/generation.md.");
  cmd->add_option("--checkpoint", r->checkpoint,
                  "Training checkpoint directory (step_XXXXXXXX) or checkpoint root (the newest complete one is used)")
      ->required();
  cmd->add_option("--tokenizer", r->tokenizer, "Video tokenizer directory the checkpoint's codes came from")->required();
  cmd->add_option("--prompt", r->prompt, "Caption to generate from (at most the checkpoint's text budget in tokens)");
  cmd->add_option("--prompts", r->prompts,
                  "File with one caption per line (blank lines skipped): one video each, numbered next to --out "
                  "(video_001.mp4, ...); prompt i (from 0) uses seed + i");
  cmd->add_option("--seconds", r->seconds, "Length of the video in seconds, in (0, 3600]")->capture_default_str();
  cmd->add_option("--out", r->out, "Output mp4")->required();
  cmd->add_option("--stats", r->stats, "Per-frame statistics, JSONL (default: --out with extension .jsonl)");
  cmd->add_option("--contact-sheet", r->contact_sheet, "Also write a PNG grid of frames (one per second by default)");
  cmd->add_option("--sheet-every", r->sheet_every, "Frames between contact-sheet frames (0: one per second)")
      ->capture_default_str();
  cmd->add_option("--top-k", r->sampling.top_k, "Sample among the k most likely codes (0: all codes)")
      ->capture_default_str();
  cmd->add_option("--temperature", r->sampling.temperature, "Softmax temperature (0: greedy)")->capture_default_str();
  cmd->add_option("--cfg-scale", r->sampling.cfg_scale,
                  "Classifier-free guidance scale s: logits = uncond + s * (cond - uncond), the unconditional branch "
                  "fed the empty caption (as [train] caption_dropout trains it) and decoded alongside; 1 = no guidance "
                  "(half the work), 0 = unconditional; finite, >= 0. Default: " + std::to_string(kDefaultGuidanceScale).substr(0, 3) +
                  " when the checkpoint was trained with caption dropout, else 1");
  cmd->add_option("--seed", r->sampling.seed, "Random seed; the same seed gives the same video")->capture_default_str();
  cmd->add_option("--reencode", *reencode, "on: re-encode the tail of each segment from pixels; off: raw codes")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  cmd->add_option("--tail-frames", r->sampling.tail_latents,
                  "Latent frames (n) each later segment continues from, in [1, L); 0: L / 2")
      ->capture_default_str();
  cmd->add_option("--manifest", r->manifest,
                  "Also write a CSV manifest (path,caption,split; paths relative to its folder) of the videos, as "
                  "`loong eval videos` and `loong ingest` read it");
  cmd->add_option("--sink-frames", r->sampling.sink_latents,
                  "Frame sink: each later segment's prefix starts with the video's first k latent frames, then the "
                  "last (tail - k); 0 = off (docs/quality.md measures it)")
      ->capture_default_str();
  cmd->add_option("--fps", r->fps, "Frame rate of the output (0: the training clips' rate, from the checkpoint)")
      ->capture_default_str();
  cmd->callback([r, reencode, cmd] {
    r->sampling.reencode = *reencode == "on";
    r->cfg_scale_given = cmd->count("--cfg-scale") > 0;
    GenerateJob job(*r);
    if (!job.warning().empty()) spdlog::warn("{}", job.warning());
    const auto& m = job.checkpoint().manifest();
    std::printf(
        "checkpoint %s: trained on %lld latent frames of %lldx%lld codes (%lld positions), K = %lld, text budget %lld\n"
        "video: %lld frames at %d fps = %zu segment(s), %lld latent frames sampled, tail %lld, re-encoding %s, "
        "cfg scale %g\n",
        job.checkpoint().dir().c_str(), static_cast<long long>(m.shape.frames), static_cast<long long>(m.shape.grid_h),
        static_cast<long long>(m.shape.grid_w), static_cast<long long>(m.shape.model_length()),
        static_cast<long long>(m.vocab.codebook), static_cast<long long>(m.shape.text_budget),
        static_cast<long long>(job.pixel_frames()), job.fps(), job.plan().segments.size(),
        static_cast<long long>(job.plan().sampled_latents), static_cast<long long>(job.tail_latents()),
        reencode->c_str(), static_cast<double>(job.cfg_scale()));
    std::fflush(stdout);
    for (const auto& f : job.run(true)) {
      std::printf("\"%s\" -> %s (%.1f s)\n  stats: %s\n", f.prompt.c_str(), f.video.c_str(), f.seconds_taken,
                  f.stats.c_str());
      if (!f.contact_sheet.empty()) std::printf("  contact sheet: %s\n", f.contact_sheet.c_str());
      std::printf("  %-12s %8s %14s %15s\n", "window", "nll", "mean intensity", "bright fraction");
      for (const auto& w : f.summary) {
        char span[32];
        std::snprintf(span, sizeof span, "%.0f-%.0f s", w.t0, w.t1);
        std::printf("  %-12s %8.4f %14.4f %15.4f\n", span, w.nll, w.mean_intensity, w.bright_fraction);
      }
    }
  });
}

}  // namespace loong::apps
