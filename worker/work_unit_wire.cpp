#include "worker/work_unit_wire.h"

#include <chrono>
#include <thread>

namespace loong {
namespace {
// Waits for `req`, sleeping between tests and calling `waiting` (see broadcast_bytes).
void wait_polling(MPI_Request& req, const std::function<void()>& waiting) {
  int done = 0;
  auto last = std::chrono::steady_clock::now();
  while (!done) {
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (done) break;
    if (waiting && std::chrono::steady_clock::now() - last > std::chrono::milliseconds(5)) {
      waiting();
      last = std::chrono::steady_clock::now();
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}
}  // namespace

void broadcast_bytes(MpiCommunicator& world, std::string& bytes, const std::function<void()>& waiting) {
  int64_t n = static_cast<int64_t>(bytes.size());
  MPI_Request req;
  MPI_Ibcast(&n, 1, MPI_INT64_T, 0, world.comm(), &req);
  wait_polling(req, waiting);
  bytes.resize(static_cast<size_t>(n));
  if (n > 0) {
    MPI_Ibcast(bytes.data(), static_cast<int>(n), MPI_BYTE, 0, world.comm(), &req);
    wait_polling(req, waiting);
  }
}

}  // namespace loong
