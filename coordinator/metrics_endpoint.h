// Where a process's Prometheus metrics are served: a prometheus-cpp registry behind a small HTTP
// server (GET /metrics, coordinator/metrics_http_server.h) and, optionally, a file-based service
// discovery target file announcing it. Shared by the training exporter (coordinator/metrics_exporter.h) and the
// progress metrics of `loong ingest` and `loong tokenizer train`.
#pragma once
#include <filesystem>
#include <memory>
#include <string>

#include "coordinator/metrics_http_server.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
template <typename T>
class Family;
}  // namespace prometheus

namespace loong {

struct MetricsEndpointOptions {
  // Bind address: loopback unless told otherwise; "0.0.0.0" / "::" (all interfaces) announce the
  // host name in the target file instead. Must not be empty: callers read "" as "no endpoint".
  std::string address = "127.0.0.1";
  int port = 0;                       // 0: any free port (see MetricsEndpoint::port())
  std::string job_name = "loong";     // `job_name` label of the target and the target file's name
  std::filesystem::path targets_dir;  // file SD: <dir>/<job_name>.json while serving ("" = none)
};

class MetricsEndpoint {
 public:
  // Starts serving (ConfigError naming the address when it cannot listen) and writes the target
  // file atomically. The destructor stops serving and removes the target file.
  explicit MetricsEndpoint(const MetricsEndpointOptions& options);
  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  // Metric families registered here are served; the registry lives as long as the endpoint.
  prometheus::Registry& registry() { return *registry_; }
  // New families in the registry: one without labels (its single series), or one to add labelled
  // series to. Names follow Prometheus conventions (units in the name, `_total` for counters).
  prometheus::Gauge& gauge(const std::string& name, const std::string& help);
  prometheus::Counter& counter(const std::string& name, const std::string& help);
  prometheus::Family<prometheus::Gauge>& gauge_family(const std::string& name, const std::string& help);
  prometheus::Family<prometheus::Counter>& counter_family(const std::string& name, const std::string& help);
  int port() const { return server_->port(); }
  // http://address:port/metrics, for log lines.
  std::string url() const;

 private:
  MetricsEndpointOptions options_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<MetricsHttpServer> server_;
};

}  // namespace loong
