#include "core/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace loong {
namespace {
std::string errno_text() { return std::strerror(errno); }
}  // namespace

void fsync_directory(const std::filesystem::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) throw IoError("cannot open directory " + dir.string() + ": " + errno_text());
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw IoError("cannot fsync directory " + dir.string() + ": " + errno_text());
}

void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError("cannot create " + tmp.string() + ": " + errno_text());
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string why = errno_text();
      ::close(fd);
      ::unlink(tmp.c_str());
      throw IoError("cannot write " + tmp.string() + ": " + why);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    std::string why = errno_text();
    ::unlink(tmp.c_str());
    throw IoError("cannot flush " + tmp.string() + ": " + why);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = errno_text();
    ::unlink(tmp.c_str());
    throw IoError("cannot rename " + tmp.string() + " to " + path.string() + ": " + why);
  }
  fsync_directory(path.parent_path());
}

std::string read_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw IoError("cannot read " + path.string() + ": it is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot open " + path.string() + ": " + errno_text());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw IoError("cannot read " + path.string());
  return ss.str();
}

namespace {
// The first existing component of `p` walking up, and whether it is a directory.
std::filesystem::path first_existing_ancestor(const std::filesystem::path& p) {
  std::filesystem::path a = p;
  std::error_code ec;
  while (!a.empty() && !std::filesystem::exists(a, ec)) a = a.parent_path();
  return a;
}
}  // namespace

void prepare_output_directory(const std::filesystem::path& dir, const std::string& what) {
  namespace fs = std::filesystem;
  const fs::path target = dir.empty() ? fs::path(".") : dir;
  std::error_code ec;
  if (fs::exists(target, ec) && !fs::is_directory(target, ec))
    throw IoError(what + " " + target.string() + ": exists and is not a directory");
  const fs::path blocker = first_existing_ancestor(target.parent_path());
  if (!blocker.empty() && !fs::is_directory(blocker, ec))
    throw IoError(what + " " + target.string() + ": cannot be created because " + blocker.string() +
                  " is a regular file, not a directory");
  fs::create_directories(target, ec);
  if (ec) throw IoError(what + " " + target.string() + ": cannot create it: " + ec.message());
  if (::access(target.c_str(), W_OK | X_OK) != 0)
    throw IoError(what + " " + target.string() + ": not writable: " + errno_text());
}

void prepare_output_file(const std::filesystem::path& file, const std::string& what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (file.empty()) throw IoError(what + ": empty path");
  if (fs::is_directory(file, ec)) throw IoError(what + " " + file.string() + ": is a directory, not a file");
  const fs::path parent = file.parent_path();
  prepare_output_directory(parent.empty() ? fs::path(".") : parent, what + " (its directory)");
  if (fs::exists(file, ec) && ::access(file.c_str(), W_OK) != 0)
    throw IoError(what + " " + file.string() + ": not writable: " + errno_text());
}

void require_input_file(const std::filesystem::path& path, const std::string& what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw IoError(what + " " + path.string() + ": no such file");
  if (fs::is_directory(path, ec)) throw IoError(what + " " + path.string() + ": is a directory, not a file");
  if (::access(path.c_str(), R_OK) != 0) throw IoError(what + " " + path.string() + ": not readable: " + errno_text());
}

void require_input_directory(const std::filesystem::path& path, const std::string& what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw IoError(what + " " + path.string() + ": no such directory");
  if (!fs::is_directory(path, ec)) throw IoError(what + " " + path.string() + ": is a file, not a directory");
}

}  // namespace loong

namespace loong {
std::filesystem::path begin_directory_atomic(const std::filesystem::path& final_dir) {
  namespace fs = std::filesystem;
  fs::path tmp = final_dir;
  tmp += ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) throw IoError("cannot create " + tmp.string() + ": " + ec.message());
  return tmp;
}

void commit_directory_atomic(const std::filesystem::path& final_dir) {
  namespace fs = std::filesystem;
  fs::path tmp = final_dir;
  tmp += ".tmp";
  std::error_code ec;
  fs::directory_iterator it(tmp, ec);
  if (ec) throw IoError("cannot list " + tmp.string() + ": " + ec.message());
  for (const auto& entry : it) {
    if (!entry.is_regular_file()) continue;
    int fd = ::open(entry.path().c_str(), O_RDONLY);
    if (fd < 0 || ::fsync(fd) != 0) {
      if (fd >= 0) ::close(fd);
      throw IoError("cannot fsync " + entry.path().string() + ": " + errno_text());
    }
    ::close(fd);
  }
  fsync_directory(tmp);
  fs::remove_all(final_dir, ec);
  fs::rename(tmp, final_dir, ec);
  if (ec) throw IoError("cannot rename " + tmp.string() + " to " + final_dir.string() + ": " + ec.message());
  write_file_atomic(final_dir / "DONE", "");
  fsync_directory(final_dir.parent_path());
}

void write_directory_atomic(const std::filesystem::path& final_dir,
                            const std::function<void(const std::filesystem::path& tmp_dir)>& fill) {
  fill(begin_directory_atomic(final_dir));
  commit_directory_atomic(final_dir);
}
}  // namespace loong
