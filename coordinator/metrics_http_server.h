// A minimal HTTP server for Prometheus scrapes: GET or HEAD /metrics answers with the text a
// callback produces; anything else gets 404/405/400. One background thread (default stack size)
// runs a poll() event loop over non-blocking sockets, so it serves many connections at once and
// no client can hold up another's scrape: a connection must deliver its whole request head within
// `head_timeout_s` of being accepted and is closed `connection_timeout_s` after it was accepted,
// whatever it does; at most `max_connections` are open, and a new one displaces the oldest
// connection that is still waiting for its request (or, when every open one is being answered,
// is refused with 503). One request per connection (`Connection: close`).
//
// Why not prometheus-cpp's Exposer: it serves from civetweb threads with a fixed 100 KB stack,
// from which glibc carves every library's static TLS; OpenBLAS alone holds 60 KB, which left
// about 32 KB of stack and overflowed under AddressSanitizer on the first scrape.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace loong {

struct MetricsHttpLimits {
  double head_timeout_s = 2.0;         // accept -> whole request head received, else closed
  double connection_timeout_s = 10.0;  // accept -> closed, answered or not (slow readers too)
  int max_connections = 64;            // open at once (the listening socket not counted)
  size_t max_request_bytes = 16 * 1024;  // request head; longer ones get 431
};

class MetricsHttpServer {
 public:
  // Listens on address:port (port 0: any free port; a numeric IPv4/IPv6 address or a host name;
  // "" is refused: the callers treat an empty address as "no exporter"). ConfigError naming
  // address:port when it cannot. `body` is called on the serving thread per scrape; an exception
  // from it answers 500 for that scrape only.
  MetricsHttpServer(const std::string& address, int port, std::function<std::string()> body,
                    const MetricsHttpLimits& limits = {});
  ~MetricsHttpServer();  // stops serving, closes every connection, joins the thread
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const { return port_; }

 private:
  struct Connection;
  void serve();
  bool accept_new(std::vector<Connection>& open);  // true: out of descriptors, pause accepting
  bool read_request(Connection& c);   // false: close it
  bool write_response(Connection& c);  // false: close it
  std::string answer(const std::string& request);

  std::function<std::string()> body_;
  MetricsHttpLimits limits_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};  // a byte written to wake_[1] stops serve()
  int port_ = 0;
  std::thread thread_;
};

}  // namespace loong
