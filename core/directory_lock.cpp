#include "core/directory_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>

#include "core/error.h"
#include "core/fs.h"

namespace loong {
namespace {

std::string holder_text() {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  std::string cmd;
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string arg;
  while (std::getline(in, arg, '\0') && cmd.size() < 200) cmd += (cmd.empty() ? "" : " ") + arg;
  char when[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return "PID " + std::to_string(::getpid()) + " on host " + host + " (" + cmd + ") since " + when + "\n";
}

}  // namespace

DirectoryLock::DirectoryLock(const std::filesystem::path& dir, const std::string& what) {
  prepare_output_directory(dir, what);
  const std::filesystem::path file = dir / kFileName;
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw IoError(what + " " + dir.string() + ": cannot open its lock file " + file.string() + ": " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::string holder;
    char buf[512];
    const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    if (n > 0) holder.assign(buf, static_cast<size_t>(n));
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      throw IoError(what + " " + dir.string() + " is in use by another job: held by " +
                    (holder.empty() ? std::string("an unknown process") : holder) +
                    "; wait for it to finish or choose another directory");
    throw IoError(what + " " + dir.string() + ": cannot lock " + file.string() + ": " + std::strerror(err));
  }
  const std::string me = holder_text();
  if (::ftruncate(fd_, 0) == 0) {
    const ssize_t w = ::pwrite(fd_, me.data(), me.size(), 0);
    (void)w;  // the holder text is informative only; the flock is the lock
  }
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

}  // namespace loong
