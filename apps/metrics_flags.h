// The Prometheus flags of the long-running commands that are not `loong train` (whose exporter is
// configured by [metrics] in its job config): `loong ingest` and `loong tokenizer train`.
#pragma once
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "coordinator/metrics_endpoint.h"

namespace loong::apps {

struct MetricsFlags {
  MetricsEndpointOptions endpoint;
  bool off = false;
  double linger_s = 0;  // keep serving this long after the work, so a last scrape sees the end

  // The endpoint (its URL printed on stderr), or null with --no-metrics or --metrics-address ""
  // ("" means no exporter everywhere, as `address = ""` in `loong train`'s [metrics]).
  std::unique_ptr<MetricsEndpoint> start() const {
    if (off || endpoint.address.empty()) return nullptr;
    auto e = std::make_unique<MetricsEndpoint>(endpoint);
    std::fprintf(stderr, "metrics: %s\n", e->url().c_str());
    return e;
  }
  void linger(const MetricsEndpoint* e) const {
    if (e && linger_s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(linger_s));
  }
};

// Adds --metrics-address, --metrics-port, --metrics-targets, --metrics-job-name, --metrics-linger
// and --no-metrics to `cmd`, writing into `flags` (which must outlive the parse and the callback).
inline void add_metrics_flags(CLI::App* cmd, MetricsFlags& flags, const std::string& job_name) {
  flags.endpoint.job_name = job_name;
  cmd->add_option("--metrics-address", flags.endpoint.address,
                  "Prometheus exporter bind address (GET /metrics); loopback by default, 0.0.0.0 or :: for all "
                  "interfaces, \"\" for no exporter (as --no-metrics)")
      ->capture_default_str()
      ->group("Metrics");
  cmd->add_option("--metrics-port", flags.endpoint.port,
                  "Exporter port; 0 = any free port (logged, and in the target file)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535))
      ->group("Metrics");
  cmd->add_option("--metrics-targets", flags.endpoint.targets_dir,
                  "Write <dir>/<job name>.json (host:port) for Prometheus file-based service discovery while running "
                  "(see cluster/prometheus/prometheus.yml)")
      ->group("Metrics");
  cmd->add_option("--metrics-job-name", flags.endpoint.job_name, "job_name label and target file name")
      ->capture_default_str()
      ->group("Metrics");
  cmd->add_option("--metrics-linger", flags.linger_s,
                  "Keep serving this many seconds after the work ends, so that Prometheus scrapes the final values")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0))
      ->group("Metrics");
  cmd->add_flag("--no-metrics", flags.off, "Do not start the Prometheus exporter")->group("Metrics");
}

}  // namespace loong::apps
