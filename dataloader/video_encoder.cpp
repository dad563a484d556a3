#include "dataloader/video_encoder.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

#include <memory>
#include <string>

#include "core/error.h"

namespace loong {

void write_mp4(const std::filesystem::path& path, const std::vector<std::vector<uint8_t>>& frames, int width,
               int height, int fps) {
  const std::string name = path.string();
  if (width < 2 || height < 2 || width % 2 || height % 2 || fps < 1)
    throw InputError(name + ": mp4 frames need even width/height and fps >= 1");
  for (auto& f : frames)
    if (f.size() != static_cast<size_t>(width) * height * 3) throw InputError(name + ": frame of the wrong size");
  AVFormatContext* oc = nullptr;
  if (avformat_alloc_output_context2(&oc, nullptr, "mp4", name.c_str()) < 0 || !oc)
    throw IoError(name + ": cannot create an mp4 muxer");
  std::unique_ptr<AVFormatContext, void (*)(AVFormatContext*)> out(oc, [](AVFormatContext* c) {
    if (c->pb) avio_closep(&c->pb);
    avformat_free_context(c);
  });
  // libavcodec's x264 wrapper prints the encoder's settings banner at INFO level for every file;
  // FFmpeg's INFO messages are not wanted in this process (warnings and errors still print).
  if (av_log_get_level() > AV_LOG_WARNING) av_log_set_level(AV_LOG_WARNING);
  const AVCodec* codec = avcodec_find_encoder_by_name("libx264");
  const bool x264 = codec != nullptr;
  if (!codec) codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
  if (!codec) throw IoError(name + ": FFmpeg has neither libx264 nor mpeg4 encoders");
  AVStream* st = avformat_new_stream(oc, nullptr);
  std::unique_ptr<AVCodecContext, void (*)(AVCodecContext*)> enc(avcodec_alloc_context3(codec),
                                                                 [](AVCodecContext* c) { avcodec_free_context(&c); });
  enc->width = width;
  enc->height = height;
  enc->pix_fmt = AV_PIX_FMT_YUV420P;
  enc->time_base = AVRational{1, fps};
  enc->framerate = AVRational{fps, 1};
  enc->gop_size = 16;
  enc->max_b_frames = 0;  // B-frames make the mp4 edit list hide the last frame from readers
  enc->thread_count = 1;
  if (oc->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (x264) {
    av_opt_set(enc->priv_data, "crf", "12", 0);
    av_opt_set(enc->priv_data, "preset", "veryfast", 0);
    // x264 prints its encoding statistics at INFO level on close; they would bury the progress
    // lines of `loong dataset` (12 lines per video). Its warnings and errors are not needed here
    // either: a failure shows up as an error return, which is reported.
    av_opt_set(enc->priv_data, "x264-params", "log=-1", 0);
  } else {
    enc->bit_rate = 2000000;
    enc->qmax = 4;
  }
  if (avcodec_open2(enc.get(), codec, nullptr) < 0) throw IoError(name + ": cannot open the video encoder");
  avcodec_parameters_from_context(st->codecpar, enc.get());
  st->time_base = enc->time_base;
  if (avio_open(&oc->pb, name.c_str(), AVIO_FLAG_WRITE) < 0) throw IoError(name + ": cannot open for writing");
  if (avformat_write_header(oc, nullptr) < 0) throw IoError(name + ": cannot write the mp4 header");

  std::unique_ptr<SwsContext, void (*)(SwsContext*)> sws(
      sws_getContext(width, height, AV_PIX_FMT_RGB24, width, height, AV_PIX_FMT_YUV420P, SWS_BICUBIC | SWS_ACCURATE_RND,
                     nullptr, nullptr, nullptr),
      sws_freeContext);
  std::unique_ptr<AVFrame, void (*)(AVFrame*)> frame(av_frame_alloc(), [](AVFrame* f) { av_frame_free(&f); });
  std::unique_ptr<AVPacket, void (*)(AVPacket*)> pkt(av_packet_alloc(), [](AVPacket* p) { av_packet_free(&p); });
  frame->format = AV_PIX_FMT_YUV420P;
  frame->width = width;
  frame->height = height;
  if (av_frame_get_buffer(frame.get(), 0) < 0) throw IoError(name + ": out of memory");
  auto drain = [&]() {
    while (avcodec_receive_packet(enc.get(), pkt.get()) == 0) {
      if (pkt->duration <= 0) pkt->duration = 1;  // one frame; else the muxer cuts the last frame
      av_packet_rescale_ts(pkt.get(), enc->time_base, st->time_base);
      pkt->stream_index = st->index;
      if (av_interleaved_write_frame(oc, pkt.get()) < 0) throw IoError(name + ": write failed");
    }
  };
  for (size_t i = 0; i < frames.size(); ++i) {
    av_frame_make_writable(frame.get());
    const uint8_t* src[1] = {frames[i].data()};
    int src_stride[1] = {width * 3};
    sws_scale(sws.get(), src, src_stride, 0, height, frame->data, frame->linesize);
    frame->pts = static_cast<int64_t>(i);
    if (avcodec_send_frame(enc.get(), frame.get()) < 0) throw IoError(name + ": encoding failed");
    drain();
  }
  avcodec_send_frame(enc.get(), nullptr);
  drain();
  if (av_write_trailer(oc) < 0) throw IoError(name + ": cannot finish the mp4 file");
}

}  // namespace loong
