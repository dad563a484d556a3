#include "coordinator/metrics_http_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace loong {

using Clock = std::chrono::steady_clock;

struct MetricsHttpServer::Connection {
  enum class State { reading, writing, draining };
  int fd = -1;
  State state = State::reading;
  Clock::time_point accepted, head_deadline, close_deadline;
  std::string in;   // request bytes so far
  std::string out;  // response
  size_t sent = 0;
  bool refused = false;  // being told 503; not counted against max_connections (bounded apart)
  // Waiting for its request (or draining after the answer): what a new connection may displace.
  bool idle() const { return state != State::writing && !refused; }
};

namespace {

// After the answer, unread request bytes are drained (not left for close() to turn into a reset
// that could destroy the response in flight) for at most this long.
constexpr auto kDrain = std::chrono::milliseconds(500);
// How long the listener rests when accept() runs out of descriptors or memory.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

std::string response(const char* status, const char* type, const std::string& body) {
  return std::string("HTTP/1.1 ") + status + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

Clock::duration seconds(double s) { return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)); }

}  // namespace

MetricsHttpServer::MetricsHttpServer(const std::string& address, int port, std::function<std::string()> body,
                                     const MetricsHttpLimits& limits)
    : body_(std::move(body)), limits_(limits) {
  const std::string where = address + ":" + std::to_string(port);
  if (address.empty())
    throw ConfigError("metrics: empty bind address (\"\" means no exporter; give 127.0.0.1, 0.0.0.0 or a host)");
  if (!(limits_.head_timeout_s > 0) || !(limits_.connection_timeout_s >= limits_.head_timeout_s) ||
      !std::isfinite(limits_.connection_timeout_s) || limits_.max_connections < 1 || limits_.max_request_bytes < 16)
    throw ConfigError("metrics: invalid server limits (timeouts must be finite, head <= connection; at least one "
                      "connection; request bound >= 16 bytes)");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(address.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (rc != 0) throw ConfigError("metrics: cannot listen on " + where + ": " + ::gai_strerror(rc));
  std::string why = "no usable address";
  for (addrinfo* a = found; a && listen_fd_ < 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 128) == 0) {
      listen_fd_ = fd;
    } else {
      why = std::strerror(errno);
      ::close(fd);
    }
  }
  ::freeaddrinfo(found);
  if (listen_fd_ < 0)
    throw ConfigError("metrics: cannot listen on " + where + ": " + why + " (choose a free port, or 0)");
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  if (::pipe2(wake_, O_CLOEXEC) != 0) {
    ::close(listen_fd_);
    throw IoError(std::string("metrics: cannot create a pipe: ") + std::strerror(errno));
  }
  thread_ = std::thread([this] { serve(); });
}

MetricsHttpServer::~MetricsHttpServer() {
  const char stop = 1;
  (void)!::write(wake_[1], &stop, 1);
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

void MetricsHttpServer::serve() {
  std::vector<Connection> open;
  std::vector<pollfd> fds;
  auto accept_paused_until = Clock::time_point::min();
  for (;;) {
    // Deadlines first: whatever a client does, its connection ends on time.
    const auto now = Clock::now();
    auto next = Clock::time_point::max();
    for (size_t i = 0; i < open.size();) {
      Connection& c = open[i];
      if (now >= c.close_deadline || (c.state == Connection::State::reading && now >= c.head_deadline)) {
        ::close(c.fd);
        open.erase(open.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      next = std::min(next, c.state == Connection::State::reading ? c.head_deadline : c.close_deadline);
      ++i;
    }
    const bool accepting = now >= accept_paused_until;
    if (!accepting) next = std::min(next, accept_paused_until);
    fds.assign({{listen_fd_, static_cast<short>(accepting ? POLLIN : 0), 0}, {wake_[0], POLLIN, 0}});
    for (const Connection& c : open)
      fds.push_back({c.fd, static_cast<short>(c.state == Connection::State::writing ? POLLOUT : POLLIN), 0});
    int timeout_ms = -1;
    if (next != Clock::time_point::max())
      timeout_ms = static_cast<int>(
          std::clamp<int64_t>(std::chrono::ceil<std::chrono::milliseconds>(next - now).count(), 0, 60'000));
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0) {
      if (errno == EINTR) continue;
      break;  // cannot wait any more (EFAULT/ENOMEM): stop serving rather than spin
    }
    if (fds[1].revents) break;
    // Connections before accepting, so that fds[i + 2] still names open[i].
    std::vector<bool> keep(open.size(), true);
    for (size_t i = 0; i < open.size(); ++i) {
      const short ev = fds[i + 2].revents;
      if (!ev) continue;
      Connection& c = open[i];
      if (ev & POLLNVAL) keep[i] = false;
      else if (c.state == Connection::State::writing) keep[i] = (ev & (POLLOUT | POLLERR | POLLHUP)) ? write_response(c) : true;
      else keep[i] = read_request(c);
    }
    size_t w = 0;
    for (size_t i = 0; i < open.size(); ++i) {
      if (!keep[i]) {
        ::close(open[i].fd);
        continue;
      }
      if (w != i) open[w] = std::move(open[i]);
      ++w;
    }
    open.resize(w);
    if ((fds[0].revents & POLLIN) && accept_new(open)) accept_paused_until = Clock::now() + kAcceptPause;
  }
  for (Connection& c : open) ::close(c.fd);
}

bool MetricsHttpServer::accept_new(std::vector<Connection>& open) {
  // Bounded per round, so a flood of connects cannot starve the connections already open.
  for (int round = 0; round < 256; ++round) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      // Out of descriptors or memory: the listener stays readable, so pause it instead of spinning.
      return errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM;
    }
    Connection c;
    c.fd = fd;
    c.accepted = Clock::now();
    c.head_deadline = c.accepted + seconds(limits_.head_timeout_s);
    c.close_deadline = c.accepted + seconds(limits_.connection_timeout_s);
    const int64_t counted = std::count_if(open.begin(), open.end(), [](const Connection& o) { return !o.refused; });
    if (counted >= limits_.max_connections) {
      // Displace the oldest connection that is not being answered; a client that connects and
      // sends at once (a scraper) is never the oldest idle one for long.
      auto oldest = open.end();
      for (auto it = open.begin(); it != open.end(); ++it)
        if (it->idle() && (oldest == open.end() || it->accepted < oldest->accepted)) oldest = it;
      if (oldest != open.end()) {
        ::close(oldest->fd);
        open.erase(oldest);
      } else if (static_cast<int64_t>(open.size()) - counted >= limits_.max_connections) {
        ::close(fd);  // refusing politely is bounded too
        continue;
      } else {
        // Every connection is being answered: tell this one 503 (written and drained like an
        // answer, so that closing cannot reset it before the client has read it).
        c.refused = true;
        c.close_deadline = std::min(c.close_deadline, c.accepted + kDrain);
        c.out = response("503 Service Unavailable", "text/plain", "too many connections\n");
        c.state = Connection::State::writing;
      }
    }
    open.push_back(std::move(c));
  }
  return false;
}

bool MetricsHttpServer::read_request(Connection& c) {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    if (n == 0) return false;  // the client closed (before its head was complete, or after draining)
    if (c.state == Connection::State::draining) continue;
    c.in.append(buf, static_cast<size_t>(n));
    // The head ends at the first blank line (CRLF or bare LF line ends).
    const size_t crlf = c.in.find("\r\n\r\n"), lf = c.in.find("\n\n");
    const size_t head = std::min(crlf == std::string::npos ? crlf : crlf + 4, lf == std::string::npos ? lf : lf + 2);
    if (head == std::string::npos && c.in.size() <= limits_.max_request_bytes) continue;
    c.out = head <= limits_.max_request_bytes
                ? answer(c.in.substr(0, head))
                : response("431 Request Header Fields Too Large", "text/plain", "request head too large\n");
    c.in.clear();
    c.in.shrink_to_fit();
    c.state = Connection::State::writing;
    return write_response(c);
  }
}

bool MetricsHttpServer::write_response(Connection& c) {
  while (c.sent < c.out.size()) {
    const ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;  // the rest when it can take it
    c.sent += static_cast<size_t>(n);
  }
  // All sent: end our side, then drain what the client still sends until it closes (briefly).
  ::shutdown(c.fd, SHUT_WR);
  c.out.clear();
  c.out.shrink_to_fit();
  c.state = Connection::State::draining;
  c.close_deadline = std::min(c.close_deadline, Clock::now() + kDrain);
  return true;
}

std::string MetricsHttpServer::answer(const std::string& request) {
  // Request line: METHOD SP TARGET SP VERSION
  const size_t line_end = request.find_first_of("\r\n");
  const std::string line = request.substr(0, line_end);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string::npos) return response("400 Bad Request", "text/plain", "bad request\n");
  const std::string method = line.substr(0, sp1);
  std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  target = target.substr(0, target.find('?'));
  if (method != "GET" && method != "HEAD") return response("405 Method Not Allowed", "text/plain", "GET /metrics\n");
  if (target != "/metrics") return response("404 Not Found", "text/plain", "metrics are at /metrics\n");
  std::string r;
  try {
    r = response("200 OK", "text/plain; version=0.0.4; charset=utf-8", body_());
  } catch (const std::exception& e) {
    // A failed scrape (e.g. out of memory building the body) must not end the process.
    r = response("500 Internal Server Error", "text/plain", std::string("metrics: ") + e.what() + "\n");
  }
  if (method == "HEAD") r.resize(r.find("\r\n\r\n") + 4);
  return r;
}

}  // namespace loong
