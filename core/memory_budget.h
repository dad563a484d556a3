// What a job may allocate on this machine, checked before the allocation so that an impossible
// size is a clear error naming the figure, never a std::bad_alloc or an OOM kill an hour in.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>

namespace loong {

struct MachineMemory {
  uint64_t total_bytes = 0;      // physical memory, or the cgroup limit when that is lower (Slurm jobs)
  uint64_t available_bytes = 0;  // MemAvailable (or the room left under the cgroup limit)
};

// Read from /proc/meminfo and /sys/fs/cgroup (v2 memory.max, v1 memory.limit_in_bytes).
MachineMemory machine_memory();

// "1.50 GiB" style text for messages.
std::string format_bytes(double bytes);

// ResourceError "<what> needs <bytes>; this machine has <total> (<available> available)" when
// `bytes` exceeds the machine's memory. `bytes` is a double so that estimates which would
// overflow 64-bit integers (a hidden size of 2^20 squared, ...) are still compared correctly.
void require_memory(double bytes, const std::string& what);

// a * b * ... as a double, for size estimates that must not overflow.
inline double product(std::initializer_list<double> factors) {
  double p = 1;
  for (double f : factors) p *= f;
  return p;
}

}  // namespace loong
