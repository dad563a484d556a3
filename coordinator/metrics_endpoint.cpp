#include "coordinator/metrics_endpoint.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"

namespace loong {

MetricsEndpoint::MetricsEndpoint(const MetricsEndpointOptions& options)
    : options_(options), registry_(std::make_shared<prometheus::Registry>()) {
  // The registry is thread-safe; the server's thread serialises it per scrape.
  server_ = std::make_unique<MetricsHttpServer>(options_.address, options_.port, [registry = registry_] {
    return prometheus::TextSerializer().Serialize(registry->Collect());
  });
  if (!options_.targets_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options_.targets_dir, ec);
    if (ec)
      throw IoError("metrics: cannot create the targets directory " + options_.targets_dir.string() + ": " +
                    ec.message());
    char host[256] = "localhost";
    ::gethostname(host, sizeof host);
    const bool wildcard = options_.address == "0.0.0.0" || options_.address == "::";
    const bool ipv6 = options_.address.find(':') != std::string::npos;
    const std::string addr = wildcard ? std::string(host) : ipv6 ? "[" + options_.address + "]" : options_.address;
    nlohmann::json t = nlohmann::json::array(
        {{{"targets", {addr + ":" + std::to_string(port())}}, {"labels", {{"job_name", options_.job_name}}}}});
    write_file_atomic(options_.targets_dir / (options_.job_name + ".json"), t.dump(2));
  }
}

MetricsEndpoint::~MetricsEndpoint() {
  if (!options_.targets_dir.empty()) {
    std::error_code ec;
    std::filesystem::remove(options_.targets_dir / (options_.job_name + ".json"), ec);
  }
}

prometheus::Family<prometheus::Gauge>& MetricsEndpoint::gauge_family(const std::string& name, const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(*registry_);
}

prometheus::Family<prometheus::Counter>& MetricsEndpoint::counter_family(const std::string& name,
                                                                         const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
}

prometheus::Gauge& MetricsEndpoint::gauge(const std::string& name, const std::string& help) {
  return gauge_family(name, help).Add({});
}

prometheus::Counter& MetricsEndpoint::counter(const std::string& name, const std::string& help) {
  return counter_family(name, help).Add({});
}

std::string MetricsEndpoint::url() const {
  const bool ipv6 = options_.address.find(':') != std::string::npos;
  return "http://" + (ipv6 ? "[" + options_.address + "]" : options_.address) + ":" + std::to_string(port()) +
         "/metrics";
}

}  // namespace loong
