// The exporter serves Prometheus text format on loopback with the metric names the dashboard uses.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "coordinator/metrics_exporter.h"
#include "coordinator/metrics_http_server.h"
#include "core/error.h"

using namespace loong;

namespace {
// Sends `request` as is and returns everything the server answers until it closes.
std::string http_request(int port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "";
  }
  (void)!::write(fd, request.data(), request.size());
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

std::string http_get(int port, const std::string& path) {
  return http_request(port, "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n");
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

TEST(MetricsHttpServer, AnswersOnlyGetAndHeadOfMetrics) {
  int scrapes = 0;
  MetricsHttpServer server("127.0.0.1", 0, [&scrapes] { return "x_total " + std::to_string(++scrapes) + "\n"; });
  ASSERT_GT(server.port(), 0);
  const std::string get = http_get(server.port(), "/metrics?x=1");
  EXPECT_EQ(get.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << get;
  EXPECT_NE(get.find("Content-Length: 10\r\n"), std::string::npos) << get;
  EXPECT_EQ(get.substr(get.size() - 10), "x_total 1\n");
  const std::string head = http_request(server.port(), "HEAD /metrics HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n") << "HEAD answers without a body";
  EXPECT_EQ(http_get(server.port(), "/").rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(http_request(server.port(), "POST /metrics HTTP/1.0\r\n\r\n").rfind("HTTP/1.1 405", 0), 0u);
  EXPECT_EQ(http_request(server.port(), "garbage\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(http_request(server.port(), std::string(16 * 1024 + 100, 'a')).rfind("HTTP/1.1 431", 0), 0u);
  EXPECT_EQ(scrapes, 2) << "the body is made for GET and HEAD of /metrics only";
}

TEST(MetricsHttpServer, AStalledClientDelaysTheNextScrapeByAtMostTheTimeout) {
  MetricsHttpServer server("127.0.0.1", 0, [] { return std::string("up 1\n"); });
  int stalled = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(server.port()));
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  ASSERT_EQ(::connect(stalled, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);  // and never sends
  const auto t0 = std::chrono::steady_clock::now();
  const std::string body = http_get(server.port(), "/metrics");
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(body.find("up 1"), std::string::npos);
  EXPECT_LT(s, 4.0);
  ::close(stalled);
}

TEST(MetricsHttpServer, APortInUseIsAConfigErrorNamingIt) {
  MetricsHttpServer first("127.0.0.1", 0, [] { return std::string(); });
  try {
    MetricsHttpServer second("127.0.0.1", first.port(), [] { return std::string(); });
    FAIL() << "a second server on the same port";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(first.port())), std::string::npos) << e.what();
  }
  EXPECT_THROW(MetricsHttpServer("no-such-host.invalid", 0, [] { return std::string(); }), ConfigError);
}
