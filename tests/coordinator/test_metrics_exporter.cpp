// The exporter serves Prometheus text format on loopback with the metric names the dashboard uses.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "coordinator/metrics_exporter.h"

using namespace loong;

namespace {
std::string http_get(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "";
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  (void)!::write(fd, req.data(), req.size());
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}
}  // namespace

TEST(MetricsExporter, ServesTrainingMetricsAndWritesItsTargetFile) {
  const auto targets = std::filesystem::temp_directory_path() / ("loong_targets_" + std::to_string(::getpid()));
  MetricsOptions o;
  o.port = 0;
  o.job_name = "unit";
  o.peak_flops = 1e9;
  o.targets_dir = targets;
  {
    MetricsExporter m(
        o, [](int64_t frames) { return 1000.0 * frames; }, 2);
    ASSERT_GT(m.port(), 0);
    // The target file points Prometheus's file_sd at this exporter.
    auto t = nlohmann::json::parse(std::ifstream(targets / "unit.json"));
    EXPECT_EQ(t[0]["targets"][0], "127.0.0.1:" + std::to_string(m.port()));

    CurriculumStage stage{"short", 5, 4096, 10, 1e-3, 1e-4, 1};
    proto::StepReport r;
    r.set_loss_weighted_sum(30.0);
    r.set_weight_sum(10.0);
    r.set_grad_norm(0.5);
    for (int f = 0; f < 6; ++f) r.add_frame_loss_sum(f == 0 ? 8.0 : 2.0), r.add_frame_token_count(f == 5 ? 1 : 2);
    auto* rt = r.add_ranks();
    rt->set_worker(1);
    rt->set_compute_s(0.25);
    StepEvent e;
    e.step = 7;
    e.stage = &stage;
    e.stage_index = 1;
    e.step_in_stage = 5;
    e.lr = 5e-4;
    e.tokens = 2000;
    e.tokens_per_s = 4000;
    e.report = &r;
    e.consumed_samples = 40;
    m.record_step(e);
    m.record_checkpoint({7, 1.5, "/tmp/x"});
    const std::string body = http_get(m.port(), "/metrics");
    for (const char* line :
         {"loong_train_loss{kind=\"weighted\",stage=\"2\"} 3", "loong_train_frame_loss{frame=\"0\",split=\"train\"} 4",
          "loong_train_frame_loss{frame=\"eov\",split=\"train\"} 2",
          "loong_train_segment_loss{segment=\"first_frame\"} 4", "loong_train_step 7", "loong_train_stage 2",
          "loong_train_stage_progress_ratio 0.5", "loong_train_tokens_total 2000",
          "loong_train_model_flops_per_second 20000000", "loong_train_mfu_ratio 0.01",
          "loong_train_step_seconds{part=\"compute\",worker=\"1\"} 0.25", "loong_worker_up{worker=\"1\"} 1",
          "loong_worker_up{worker=\"0\"} 0", "loong_train_samples_total 40", "loong_checkpoints_written_total 1",
          "loong_checkpoint_duration_seconds 1.5", "loong_train_learning_rate 0.0005"})
      EXPECT_NE(body.find(line), std::string::npos) << "missing: " << line << "\n" << body;
    EXPECT_EQ(body.find("step=\""), std::string::npos) << "the step number must never be a label";
  }
  EXPECT_FALSE(std::filesystem::exists(targets / "unit.json")) << "the target file goes away with the job";
}
