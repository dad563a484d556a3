// An exclusive lock on an output directory (a checkpoint.dir, a tokenizer's --out), so that two
// jobs never write into one directory and silently lose each other's work. The lock is an
// flock(2) on `<dir>/.lock`: the kernel releases it when the holder exits, even by kill -9, so a
// crashed job never leaves a stale lock. The file records the holder (PID, host, command) for
// the error the second job gets.
#pragma once
#include <filesystem>
#include <string>

namespace loong {

class DirectoryLock {
 public:
  // Creates `dir` when needed and takes the lock. IoError naming `what` (the setting the directory
  // came from), the directory and the holder ("held by PID 123 on host a, loong train, since ...")
  // when another process holds it.
  DirectoryLock(const std::filesystem::path& dir, const std::string& what);
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

  static constexpr const char* kFileName = ".lock";

 private:
  int fd_ = -1;
};

}  // namespace loong
