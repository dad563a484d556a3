#include "dataloader/video_decoder.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
}

#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "core/error.h"

namespace loong {

namespace {

std::string av_err(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

struct FormatCloser {
  void operator()(AVFormatContext* f) const { avformat_close_input(&f); }
};
struct CodecCloser {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameFree {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketFree {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwsFree {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};

// Converts decoded frames to square RGB crops, recreating the swscale context if the source
// size or format changes mid-stream.
class Converter {
 public:
  Converter(int resolution, const std::string& name) : r_(resolution), name_(name) {}
  std::vector<uint8_t> convert(const AVFrame* f) {
    if (!sws_ || f->width != w_ || f->height != h_ || f->format != fmt_) {
      w_ = f->width;
      h_ = f->height;
      fmt_ = f->format;
      auto [sw, sh] = scaled_size(w_, h_, r_);
      sw_ = sw;
      sh_ = sh;
      sws_.reset(sws_getContext(w_, h_, static_cast<AVPixelFormat>(fmt_), sw_, sh_, AV_PIX_FMT_RGB24,
                                SWS_AREA | SWS_ACCURATE_RND, nullptr, nullptr, nullptr));
      if (!sws_) throw InputError(name_ + ": cannot convert frames of pixel format " + std::to_string(fmt_));
      scaled_.assign(static_cast<size_t>(sw_) * sh_ * 3 + 64, 0);
    }
    uint8_t* dst[4] = {scaled_.data(), nullptr, nullptr, nullptr};
    int dst_stride[4] = {sw_ * 3, 0, 0, 0};
    sws_scale(sws_.get(), f->data, f->linesize, 0, h_, dst, dst_stride);
    const int x0 = (sw_ - r_) / 2, y0 = (sh_ - r_) / 2;
    std::vector<uint8_t> out(static_cast<size_t>(r_) * r_ * 3);
    for (int y = 0; y < r_; ++y)
      std::memcpy(out.data() + static_cast<size_t>(y) * r_ * 3,
                  scaled_.data() + (static_cast<size_t>(y0 + y) * sw_ + x0) * 3, static_cast<size_t>(r_) * 3);
    return out;
  }

 private:
  int r_;
  std::string name_;
  int w_ = 0, h_ = 0, fmt_ = -1, sw_ = 0, sh_ = 0;
  std::unique_ptr<SwsContext, SwsFree> sws_;
  std::vector<uint8_t> scaled_;
};

}  // namespace

std::pair<int, int> scaled_size(int width, int height, int resolution) {
  if (width <= height) {
    int h = static_cast<int>(std::lround(static_cast<double>(height) * resolution / width));
    return {resolution, std::max(h, resolution)};
  }
  int w = static_cast<int>(std::lround(static_cast<double>(width) * resolution / height));
  return {std::max(w, resolution), resolution};
}

DecodedVideo decode_video(const std::filesystem::path& path, const DecodeOptions& o) {
  const std::string name = path.string();
  if (o.resolution < 1 || !(o.fps > 0)) throw InputError(name + ": resolution and fps must be positive");
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(name + ": file not found");
  if (std::filesystem::file_size(path, ec) == 0) throw InputError(name + ": file is empty (0 bytes)");

  AVFormatContext* raw_fmt = nullptr;
  int rc = avformat_open_input(&raw_fmt, name.c_str(), nullptr, nullptr);
  if (rc < 0) throw InputError(name + ": not a readable media file (" + av_err(rc) + ")");
  std::unique_ptr<AVFormatContext, FormatCloser> fmt(raw_fmt);
  rc = avformat_find_stream_info(fmt.get(), nullptr);
  if (rc < 0) throw InputError(name + ": cannot read stream info (" + av_err(rc) + ")");
  const AVCodec* codec = nullptr;
  int stream_index = av_find_best_stream(fmt.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (stream_index < 0 || !codec) throw InputError(name + ": no video stream (audio-only or unsupported codec)");
  AVStream* st = fmt->streams[stream_index];
  const AVCodecParameters* par = st->codecpar;
  if (par->width <= 0 || par->height <= 0) throw InputError(name + ": video stream has no frame size");
  if (par->width > o.max_width || par->height > o.max_height)
    throw VideoLimitError(name + ": frame size " + std::to_string(par->width) + "x" + std::to_string(par->height) +
                          " exceeds the limit " + std::to_string(o.max_width) + "x" + std::to_string(o.max_height));
  double duration = -1;
  if (st->duration > 0 && st->time_base.den > 0)
    duration = st->duration * av_q2d(st->time_base);
  else if (fmt->duration > 0)
    duration = static_cast<double>(fmt->duration) / AV_TIME_BASE;
  if (duration > o.max_duration_s)
    throw VideoLimitError(name + ": duration " + std::to_string(duration) + " s exceeds the limit of " +
                          std::to_string(o.max_duration_s) + " s");

  std::unique_ptr<AVCodecContext, CodecCloser> dec(avcodec_alloc_context3(codec));
  if (!dec) throw IoError(name + ": out of memory for a decoder");
  avcodec_parameters_to_context(dec.get(), par);
  dec->thread_count = std::max(o.decoder_threads, 1);
  dec->pkt_timebase = st->time_base;
  rc = avcodec_open2(dec.get(), codec, nullptr);
  if (rc < 0) throw InputError(name + ": cannot open the " + codec->name + " decoder (" + av_err(rc) + ")");

  DecodedVideo out;
  out.source_width = par->width;
  out.source_height = par->height;
  if (st->avg_frame_rate.num > 0 && st->avg_frame_rate.den > 0) out.source_fps = av_q2d(st->avg_frame_rate);
  const double tb = av_q2d(st->time_base);
  const double default_frame_s = out.source_fps > 0 ? 1.0 / out.source_fps : 1.0 / o.fps;

  Converter conv(o.resolution, name);
  std::unique_ptr<AVFrame, FrameFree> frame(av_frame_alloc()), pending(av_frame_alloc());
  std::unique_ptr<AVPacket, PacketFree> pkt(av_packet_alloc());
  bool have_pending = false, have_first = false;
  int64_t first_pts = 0, pending_slot = 0, next_out = 0, decoded = 0;
  double pending_end = 0;
  std::vector<uint8_t> pending_rgb;
  bool pending_converted = false;
  const int64_t max_out = static_cast<int64_t>(std::ceil(o.max_duration_s * o.fps)) + 1;

  auto emit_until = [&](int64_t slot_exclusive) {
    for (; next_out < slot_exclusive; ++next_out) {
      if (!pending_converted) {
        pending_rgb = conv.convert(pending.get());
        pending_converted = true;
      }
      if (static_cast<int64_t>(out.frames.size()) >= max_out)
        throw VideoLimitError(name + ": longer than the limit of " + std::to_string(o.max_duration_s) + " s");
      out.frames.push_back(pending_rgb);
    }
  };
  auto take = [&](AVFrame* f) {
    if (f->width > o.max_width || f->height > o.max_height)
      throw VideoLimitError(name + ": frame size " + std::to_string(f->width) + "x" + std::to_string(f->height) +
                            " exceeds the limit");
    int64_t pts = f->best_effort_timestamp;
    if (pts == AV_NOPTS_VALUE) pts = have_first ? first_pts + static_cast<int64_t>(decoded * default_frame_s / tb) : 0;
    if (!have_first) {
      first_pts = pts;
      have_first = true;
    }
    ++decoded;
    double t = (pts - first_pts) * tb;
    if (t > o.max_duration_s)
      throw VideoLimitError(name + ": longer than the limit of " + std::to_string(o.max_duration_s) + " s");
    int64_t slot = std::llround(t * o.fps);
    if (have_pending) {
      if (slot < pending_slot) return;  // out-of-order timestamp: ignore the frame
      emit_until(slot);
    }
    av_frame_unref(pending.get());
    av_frame_move_ref(pending.get(), f);
    pending_converted = false;
    have_pending = true;
    pending_slot = std::max(slot, next_out);
    double dur = pending->pkt_duration > 0 ? pending->pkt_duration * tb : default_frame_s;
    pending_end = t + dur;
  };
  auto drain = [&]() {
    while (true) {
      int r = avcodec_receive_frame(dec.get(), frame.get());
      if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return;
      if (r < 0) throw InputError(name + ": decoding failed (" + av_err(r) + ")");
      take(frame.get());
      av_frame_unref(frame.get());
    }
  };

  int errors = 0;
  while (true) {
    rc = av_read_frame(fmt.get(), pkt.get());
    if (rc == AVERROR_EOF) break;
    if (rc < 0) {
      // A truncated or damaged file ends the stream early; what decoded so far is kept
      // unless nothing did.
      break;
    }
    if (pkt->stream_index == stream_index) {
      int s = avcodec_send_packet(dec.get(), pkt.get());
      if (s < 0 && s != AVERROR(EAGAIN)) ++errors;
      drain();
    }
    av_packet_unref(pkt.get());
  }
  avcodec_send_packet(dec.get(), nullptr);
  drain();
  if (!have_pending) throw InputError(name + ": no decodable video frame" + (errors ? " (corrupt stream)" : ""));
  // The output ends where the stream ends (its last frame's end time, rounded to a slot), as in
  // ffmpeg's fps filter: a last frame whose nearest slot is that end (e.g. 24 fps -> 8 fps, the
  // frame at 2.958 s of a 3-s clip) is not shown again as an extra frame. At least one frame.
  int64_t end_slot = static_cast<int64_t>(std::llround(pending_end * o.fps));
  if (out.frames.empty()) end_slot = std::max<int64_t>(end_slot, pending_slot + 1);
  emit_until(end_slot);
  return out;
}

}  // namespace loong
