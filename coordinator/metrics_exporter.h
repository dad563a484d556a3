// Prometheus metrics of a training job, served by the coordinator (coordinator/metrics_endpoint.h).
// Names follow Prometheus conventions (base units in the name, `_total` for counters); labels are
// bounded sets (stage, latent-frame index, segment, worker rank, step part); the step number is a
// value (`loong_train_step`), never a label. The dashboard in cluster/grafana/ reads exactly these.
#pragma once
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "coordinator/coordinator.h"
#include "coordinator/metrics_endpoint.h"

namespace loong {

// address, port (0: any free port, see port()), job_name, targets_dir: coordinator/metrics_endpoint.h
struct MetricsOptions : MetricsEndpointOptions {
  double peak_flops = 0;  // per worker; 0 disables the utilisation gauge
};

class MetricsExporter {
 public:
  // Starts serving /metrics. `flops_per_token(frames)` gives training FLOPs per model token for a
  // stage; `workers` is the worker-rank count (for liveness and per-rank series).
  MetricsExporter(const MetricsOptions& options, std::function<double(int64_t frames)> flops_per_token, int workers);
  ~MetricsExporter();

  int port() const { return endpoint_->port(); }
  // Subscribes to a coordinator's step and checkpoint events.
  void attach(Coordinator& coordinator);
  void record_step(const StepEvent& e);
  void record_checkpoint(const CheckpointEvent& e);

 private:
  struct Families;
  MetricsOptions options_;
  std::function<double(int64_t)> flops_per_token_;
  int workers_;
  std::unique_ptr<MetricsEndpoint> endpoint_;  // outlives the families registered in it
  std::unique_ptr<Families> f_;
};

}  // namespace loong
