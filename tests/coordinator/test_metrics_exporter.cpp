// The exporter serves Prometheus text format on loopback with the metric names the dashboard uses.
// The answer is parsed into (name, labels) -> value and compared exactly, series by series.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "coordinator/metrics_exporter.h"

using namespace loong;

namespace {
// GET path over HTTP/1.0; the body of the answer ("" when it is not 200).
std::string http_get_body(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "";
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  (void)!::write(fd, request.data(), request.size());
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  if (out.rfind("HTTP/1.1 200 OK\r\n", 0) != 0) return "";
  const size_t body = out.find("\r\n\r\n");
  return body == std::string::npos ? "" : out.substr(body + 4);
}

// One series of the exposition: `name{a="x",b="y"}` with the labels sorted by name.
using Series = std::string;
Series series(const std::string& name, std::map<std::string, std::string> labels = {}) {
  if (labels.empty()) return name;
  std::string s = name + "{";
  for (const auto& [k, v] : labels) s += (s.back() == '{' ? "" : ",") + k + "=\"" + v + "\"";
  return s + "}";
}

// Parses the Prometheus text format (version 0.0.4): comment lines skipped, every sample line
// `name[{label="value",...}] value [timestamp]` into series -> value. A line it cannot read fails
// the test (the exporter must only write well-formed lines); a repeated series too.
std::map<Series, double> parse_exposition(const std::string& text, std::set<std::string>* types = nullptr) {
  std::map<Series, double> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream c(line);
      std::string hash, kind, name;
      c >> hash >> kind >> name;
      if (kind == "TYPE" && types) types->insert(name);
      continue;
    }
    size_t i = line.find_first_of("{ ");
    if (i == std::string::npos) {
      ADD_FAILURE() << "no value: " << line;
      continue;
    }
    const std::string name = line.substr(0, i);
    std::map<std::string, std::string> labels;
    if (line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        const size_t eq = line.find('=', i);
        if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
          ADD_FAILURE() << "bad label in: " << line;
          return out;
        }
        const std::string key = line.substr(i, eq - i);
        std::string value;
        size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\' && j + 1 < line.size()) {
            ++j;
            value += line[j] == 'n' ? '\n' : line[j];
          } else {
            value += line[j];
          }
        }
        if (j >= line.size()) {
          ADD_FAILURE() << "unterminated label value in: " << line;
          return out;
        }
        labels[key] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      ++i;  // '}'
    }
    std::istringstream rest(line.substr(i));
    std::string value_text;
    rest >> value_text;
    char* end = nullptr;
    const double v = std::strtod(value_text.c_str(), &end);
    if (value_text.empty() || *end != '\0') {
      ADD_FAILURE() << "bad value in: " << line;
      continue;
    }
    const Series key = series(name, labels);
    if (!out.emplace(key, v).second) ADD_FAILURE() << "series twice: " << key;
  }
  return out;
}

// The series of one metric name (all label sets).
std::map<Series, double> family(const std::map<Series, double>& all, const std::string& name) {
  std::map<Series, double> f;
  for (const auto& [k, v] : all)
    if (k == name || k.rfind(name + "{", 0) == 0) f.emplace(k, v);
  return f;
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
    for (int f = 0; f < 6; ++f) r.add_frame_loss_sum(f == 0 ? 8.0 : 2.0), r.add_frame_token_count(f == 5 ? 8 : 2);
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
    std::set<std::string> types;
    const auto got = parse_exposition(http_get_body(m.port(), "/metrics"), &types);
    ASSERT_FALSE(got.empty()) << "no scrape answer";
    // Every family the dashboard reads that has a series by now is declared with its type.
    for (const char* name :
         {"loong_train_loss", "loong_train_frame_loss", "loong_train_segment_loss",
          "loong_train_stage", "loong_train_stage_progress_ratio", "loong_train_step", "loong_train_tokens_total",
          "loong_train_tokens_per_second", "loong_train_model_flops_per_second", "loong_train_mfu_ratio",
          "loong_train_step_seconds", "loong_train_grad_norm", "loong_train_learning_rate",
          "loong_train_skipped_steps_total", "loong_train_corrupt_samples_total", "loong_train_samples_total",
          "loong_checkpoints_written_total", "loong_checkpoint_duration_seconds", "loong_worker_up",
          "loong_worker_last_report_timestamp_seconds"})
      EXPECT_EQ(types.count(name), 1u) << "no # TYPE line for " << name;
    // A family without any series is not written at all (held-out losses come from evaluations).
    EXPECT_EQ(types.count("loong_heldout_video_token_loss"), 0u);
    // Values from the step above, by hand (chosen to have short decimal forms: prometheus-cpp writes
    // 16 significant digits, so an exact comparison needs values that survive that): loss 30/10;
    // frame f: sum/count (8/2, 2/2, ..., eov 2/8); unweighted 18/18; stage index 1 -> "2"; 5 of 10
    // steps; 1000 FLOP/token x 5 frames x 4000 tokens/s; that over 1e9 x 2 workers.
    const std::map<Series, double> want = {
        {series("loong_train_loss", {{"kind", "weighted"}, {"stage", "2"}}), 3.0},
        {series("loong_train_loss", {{"kind", "unweighted"}, {"stage", "2"}}), 1.0},
        {series("loong_train_frame_loss", {{"frame", "0"}, {"split", "train"}}), 4.0},
        {series("loong_train_frame_loss", {{"frame", "1"}, {"split", "train"}}), 1.0},
        {series("loong_train_frame_loss", {{"frame", "2"}, {"split", "train"}}), 1.0},
        {series("loong_train_frame_loss", {{"frame", "3"}, {"split", "train"}}), 1.0},
        {series("loong_train_frame_loss", {{"frame", "4"}, {"split", "train"}}), 1.0},
        {series("loong_train_frame_loss", {{"frame", "eov"}, {"split", "train"}}), 0.25},
        {series("loong_train_segment_loss", {{"segment", "first_frame"}}), 4.0},
        {series("loong_train_segment_loss", {{"segment", "short_clip"}}), 1.0},
        {series("loong_train_step"), 7.0},
        {series("loong_train_stage"), 2.0},
        {series("loong_train_stage_progress_ratio"), 0.5},
        {series("loong_train_tokens_total"), 2000.0},
        {series("loong_train_tokens_per_second"), 4000.0},
        {series("loong_train_model_flops_per_second"), 2e7},
        {series("loong_train_mfu_ratio"), 0.01},
        {series("loong_train_step_seconds", {{"part", "compute"}, {"worker", "1"}}), 0.25},
        {series("loong_train_step_seconds", {{"part", "communication"}, {"worker", "1"}}), 0.0},
        {series("loong_train_step_seconds", {{"part", "data_wait"}, {"worker", "1"}}), 0.0},
        {series("loong_train_grad_norm"), 0.5},
        {series("loong_train_learning_rate"), 5e-4},
        {series("loong_train_skipped_steps_total"), 0.0},
        {series("loong_train_corrupt_samples_total"), 0.0},
        {series("loong_train_samples_total"), 40.0},
        {series("loong_checkpoints_written_total"), 1.0},
        {series("loong_checkpoint_duration_seconds"), 1.5},
        {series("loong_worker_up", {{"worker", "0"}}), 0.0},
        {series("loong_worker_up", {{"worker", "1"}}), 1.0},
    };
    for (const auto& [k, v] : want) {
      const auto it = got.find(k);
      if (it == got.end()) {
        ADD_FAILURE() << "missing series " << k;
        continue;
      }
      EXPECT_EQ(it->second, v) << k;
    }
    // Families checked in full: no series beyond the expected ones (e.g. no frame label twice,
    // no held-out series from a training step, no worker that does not exist).
    for (const char* name : {"loong_train_loss", "loong_train_frame_loss", "loong_train_step_seconds",
                             "loong_worker_up", "loong_heldout_video_token_loss"}) {
      std::map<Series, double> expected;
      for (const auto& [k, v] : family(want, name)) expected.emplace(k, v);
      EXPECT_EQ(family(got, name), expected) << name;
    }
    // The report time is a Unix timestamp of this run (a value, not compared to a clock here).
    EXPECT_EQ(family(got, "loong_worker_last_report_timestamp_seconds").size(), 1u);
    for (const auto& [k, v] : got) EXPECT_EQ(k.find("step=\""), std::string::npos) << "the step number is a label: " << k;
  }
  EXPECT_FALSE(std::filesystem::exists(targets / "unit.json")) << "the target file goes away with the job";
}
