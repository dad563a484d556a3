#include "core/memory_budget.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace loong {
namespace {

// A number from a one-line cgroup file; 0 when absent or "max".
uint64_t read_limit(const char* path) {
  std::ifstream in(path);
  std::string s;
  if (!(in >> s) || s == "max") return 0;
  try {
    return std::stoull(s);
  } catch (...) {
    return 0;
  }
}

}  // namespace

MachineMemory machine_memory() {
  MachineMemory m;
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib) {
    std::getline(in, unit);
    if (key == "MemTotal:") m.total_bytes = kib * 1024;
    if (key == "MemAvailable:") m.available_bytes = kib * 1024;
  }
  if (m.total_bytes == 0) {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) m.total_bytes = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
    m.available_bytes = m.total_bytes;
  }
  uint64_t limit = read_limit("/sys/fs/cgroup/memory.max");
  uint64_t used = read_limit("/sys/fs/cgroup/memory.current");
  if (limit == 0) {
    limit = read_limit("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    used = read_limit("/sys/fs/cgroup/memory/memory.usage_in_bytes");
  }
  if (limit > 0 && limit < m.total_bytes) {
    m.total_bytes = limit;
    m.available_bytes = std::min(m.available_bytes, limit > used ? limit - used : 0);
  }
  return m;
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (bytes >= 1024 && u < 6) bytes /= 1024, ++u;
  char buf[64];
  if (bytes >= 1e6)
    std::snprintf(buf, sizeof buf, "%.3g %s", bytes, units[u]);
  else
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", bytes, units[u]);
  return buf;
}

void require_memory(double bytes, const std::string& what) {
  const MachineMemory m = machine_memory();
  // Refuse what cannot fit at all; what fits in total but not in what is free now is refused too,
  // since allocating it would push the machine into swap or the OOM killer.
  const double limit = static_cast<double>(m.available_bytes > 0 ? m.available_bytes : m.total_bytes);
  if (!(bytes <= limit))
    throw ResourceError(what + " needs " + format_bytes(bytes) + "; this machine has " +
                        format_bytes(static_cast<double>(m.total_bytes)) + " (" +
                        format_bytes(static_cast<double>(m.available_bytes)) + " available)");
}

}  // namespace loong
