#include "dataloader/ingest.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "core/checksum.h"
#include "core/error.h"
#include "core/progress.h"
#include "dataloader/corpus.h"
#include "dataloader/manifest.h"

namespace loong {

std::string file_key(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw IoError(path.string() + ": cannot open for reading");
  uint64_t h = 14695981039346656037ull;
  std::vector<char> buf(1 << 20);
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    std::streamsize n = f.gcount();
    if (n <= 0) break;
    h = fnv1a64(std::string_view(buf.data(), static_cast<size_t>(n)), h);
  }
  if (f.bad()) throw IoError(path.string() + ": read failed");
  return hex64(h);
}

const char* skip_cause_name(IngestSkipCause cause) {
  switch (cause) {
    case IngestSkipCause::manifest_line:
      return "manifest_line";
    case IngestSkipCause::missing_file:
      return "missing_file";
    case IngestSkipCause::io_error:
      return "io_error";
    case IngestSkipCause::undecodable:
      return "undecodable";
    case IngestSkipCause::over_limit:
      return "over_limit";
    case IngestSkipCause::too_short:
      return "too_short";
    case IngestSkipCause::duplicate:
      return "duplicate";
  }
  return "unknown";
}

namespace {

// A line skipped for a cause the ingest itself decides (the file is missing, too short).
struct SkipLine : InputError {
  SkipLine(IngestSkipCause c, const std::string& what) : InputError(what), cause(c) {}
  IngestSkipCause cause;
};

// The cause of a failure about one manifest line; none for errors that are not about the line.
std::optional<IngestSkipCause> line_cause(const Error& e) {
  if (const auto* s = dynamic_cast<const SkipLine*>(&e)) return s->cause;
  if (dynamic_cast<const VideoLimitError*>(&e)) return IngestSkipCause::over_limit;
  if (dynamic_cast<const InputError*>(&e) || dynamic_cast<const FormatError*>(&e)) return IngestSkipCause::undecodable;
  if (dynamic_cast<const IoError*>(&e)) return IngestSkipCause::io_error;
  return std::nullopt;
}

// Settings fixed by the first ingest into a corpus; later ingests must match them.
std::string settings_blob(const IngestOptions& o) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "resolution=%d fps=%.6g", o.decode.resolution, o.decode.fps);
  return buf;
}

}  // namespace

IngestSummary ingest(const std::filesystem::path& manifest_path, const std::filesystem::path& db_dir,
                     const IngestOptions& o) {
  if (o.clip_frames < 1 || (o.clip_frames - 1) % 4 != 0)
    throw ConfigError("--clip-frames must be 1 + 4k (1, 5, 9, ..., 65), got " + std::to_string(o.clip_frames));
  if (o.min_frames < 1 || o.min_frames > o.clip_frames)
    throw ConfigError("--min-frames must be in [1, --clip-frames], got " + std::to_string(o.min_frames));
  if (o.decode.resolution < 8 || o.decode.resolution > 4096)
    throw ConfigError("--resolution must be in [8, 4096], got " + std::to_string(o.decode.resolution));
  if (!(o.decode.fps > 0 && o.decode.fps <= 240)) throw ConfigError("--fps must be in (0, 240]");
  if (o.threads < 1) throw ConfigError("--threads must be >= 1");

  const auto t0 = std::chrono::steady_clock::now();
  Manifest m = read_manifest(manifest_path);
  CorpusWriter writer(db_dir, CorpusWriter::Mode::CreateIfMissing);
  const std::string settings = settings_blob(o);
  if (auto existing = writer.blob("ingest.settings")) {
    if (*existing != settings)
      throw ConfigError("corpus " + db_dir.string() + " holds clips made with " + *existing +
                        "; this ingest asks for " + settings + " (use another --db)");
  } else {
    writer.put_blob("ingest.settings", settings);
  }

  IngestSummary s;
  s.videos_listed = static_cast<int64_t>(m.entries.size());
  for (auto& p : m.problems) s.skipped.push_back({p.reason, p.line, IngestSkipCause::manifest_line});
  if (o.observer) o.observer->started(s.videos_listed, s.skipped);
  const std::string mname = manifest_path.filename().string();

  std::mutex mu;
  // File key -> the manifest line that claimed it in this run: a second line with the same bytes
  // would overwrite the first one's clips and caption, so it is reported instead.
  std::map<std::string, int64_t> claimed;
  std::atomic<size_t> next{0};
  int64_t done = 0;
  ProgressBar bar("ingest", static_cast<int64_t>(m.entries.size()), 10.0);
  auto report = [&]() {
    if (o.progress)
      bar.update(done, std::to_string(s.clips) + " clips, " + std::to_string(s.skipped.size()) + " skipped");
  };

  auto work = [&]() {
    while (true) {
      size_t i = next.fetch_add(1);
      if (i >= m.entries.size()) return;
      const ManifestEntry& e = m.entries[i];
      std::string skip;
      IngestSkipCause cause = IngestSkipCause::undecodable;
      bool present = false;
      int64_t clips = 0, frames = 0;
      try {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(e.path, ec))
          throw SkipLine(IngestSkipCause::missing_file, e.path.string() + ": file not found");
        const std::string key = file_key(e.path);
        {
          std::lock_guard<std::mutex> lock(mu);
          auto [it, fresh] = claimed.emplace(key, e.line);
          if (!fresh) {
            const ManifestEntry* first = nullptr;
            for (const auto& other : m.entries)
              if (other.line == it->second) first = &other;
            throw SkipLine(IngestSkipCause::duplicate,
                           e.path.string() + ": the same bytes as line " + std::to_string(it->second) +
                               (first ? " (" + first->path.string() + ", caption \"" + first->caption + "\")" : "") +
                               "; a video keeps the caption of its first line, this line's caption \"" + e.caption +
                               "\" is not stored");
          }
        }
        if (writer.has_video(key)) {
          present = true;
        } else {
          DecodedVideo v = decode_video(e.path, o.decode);
          const int64_t n = static_cast<int64_t>(v.frames.size());
          VideoClips vc;
          vc.video_key = key;
          vc.source_path = e.path.string();
          int64_t pos = 0;
          while (pos < n) {
            int64_t len = std::min<int64_t>(o.clip_frames, n - pos);
            len = 1 + 4 * ((len - 1) / 4);
            if (len < o.min_frames) break;
            ClipInfo c;
            c.clip_index = static_cast<int32_t>(vc.clips.size());
            c.id = make_clip_id(key, c.clip_index);
            c.video_key = key;
            c.source_path = vc.source_path;
            c.split = e.split;
            c.pixel_frames = static_cast<int32_t>(len);
            c.latent_frames = latent_frames_for(c.pixel_frames);
            c.height = c.width = o.decode.resolution;
            c.fps = o.decode.fps;
            c.first_frame = pos;
            c.caption = e.caption;
            std::vector<FrameData> fr(static_cast<size_t>(len));
            for (int64_t k = 0; k < len; ++k) fr[k].rgb = std::move(v.frames[pos + k]);
            vc.clips.push_back(std::move(c));
            vc.frames.push_back(std::move(fr));
            if (len < o.clip_frames) break;  // the tail clip is the last
            pos += len;
          }
          if (vc.clips.empty())
            throw SkipLine(IngestSkipCause::too_short,
                           e.path.string() + ": " + std::to_string(n) + " frames at " + std::to_string(o.decode.fps) +
                               " fps, shorter than --min-frames " + std::to_string(o.min_frames));
          writer.put_video(vc);
          clips = static_cast<int64_t>(vc.clips.size());
          for (auto& c : vc.clips) frames += c.pixel_frames;
        }
      } catch (const Error& err) {
        const std::optional<IngestSkipCause> c = line_cause(err);
        if (!c) throw;
        skip = mname + ":" + std::to_string(e.line) + ": " + err.what(), cause = *c;
      }
      std::lock_guard<std::mutex> lock(mu);
      ++done;
      IngestEntryResult result;
      if (!skip.empty()) {
        s.skipped.push_back({skip, e.line, cause});
        result.outcome = IngestEntryResult::Outcome::skipped;
        result.skip = &s.skipped.back();
      } else if (present) {
        ++s.videos_present;
        result.outcome = IngestEntryResult::Outcome::present;
      } else {
        ++s.videos_ingested;
        s.clips += clips;
        s.frames += frames;
        result.clips = clips, result.frames = frames;
      }
      if (o.observer) o.observer->finished(result);
      report();
    }
  };
  std::vector<std::thread> pool;
  const int nthreads = std::max(1, std::min<int>(o.threads, static_cast<int>(m.entries.size())));
  for (int t = 0; t < nthreads; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  if (o.progress) bar.finish(std::to_string(s.clips) + " clips, " + std::to_string(s.skipped.size()) + " skipped");
  writer.flush();
  // Threads finish videos in any order; report skips in manifest order.
  std::stable_sort(s.skipped.begin(), s.skipped.end(),
                   [](const IngestSkip& a, const IngestSkip& b) { return a.line < b.line; });
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

}  // namespace loong
