// A minimal HTTP server for Prometheus scrapes: GET /metrics answers with the text a callback
// produces; anything else gets 404. One background thread (default stack size) serves one
// connection at a time, with a 2 s read/write timeout per connection.
//
// Why not prometheus-cpp's Exposer: it serves from civetweb threads with a fixed 100 KB stack,
// from which glibc carves every library's static TLS; OpenBLAS alone holds 60 KB, which left
// about 32 KB of stack and overflowed under AddressSanitizer on the first scrape.
#pragma once
#include <functional>
#include <string>
#include <thread>

namespace loong {

class MetricsHttpServer {
 public:
  // Listens on address:port (port 0: any free port; IPv4, IPv6 or a host name). ConfigError
  // naming address:port when it cannot. `body` is called on the serving thread per scrape.
  MetricsHttpServer(const std::string& address, int port, std::function<std::string()> body);
  ~MetricsHttpServer();  // stops serving, joins the thread
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const { return port_; }

 private:
  void serve();
  void answer(int connection);

  std::function<std::string()> body_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};  // a byte written to wake_[1] stops serve()
  int port_ = 0;
  std::thread thread_;
};

}  // namespace loong
