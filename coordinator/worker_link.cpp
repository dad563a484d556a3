#include "coordinator/worker_link.h"

#include <chrono>
#include <functional>
#include <thread>

#include "core/error.h"

namespace loong {
namespace {
constexpr int kReportTag = 7;

// Waits for `req` polling, so that an idle process does not spin a core; `waiting` (may be empty)
// runs between polls, at most every few milliseconds.
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

// Broadcast of a serialized message from world rank 0: length, then bytes, both non-blocking
// (the root of a large broadcast waits for its receivers).
void bcast_bytes(MpiCommunicator& world, std::string& bytes, const std::function<void()>& waiting = {}) {
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
}  // namespace

proto::StepReport MpiWorkerLink::execute(const proto::WorkUnit& unit) {
  if (liveness_) liveness_->begin_wait(proto::WorkUnit::Kind_Name(unit.kind()), unit.step());
  std::function<void()> waiting;
  if (liveness_) waiting = [this] { liveness_->check(); };
  std::string bytes;
  unit.SerializeToString(&bytes);
  bcast_bytes(world_, bytes, waiting);
  proto::StepReport report;
  if (unit.kind() == proto::WorkUnit::STOP) {
    if (liveness_) liveness_->await_goodbyes();
    return report;
  }
  // The coordinator waits for worker 0's answer without spinning.
  MPI_Status st;
  int flag = 0;
  auto last = std::chrono::steady_clock::now();
  while (!flag) {
    MPI_Iprobe(1, kReportTag, world_.comm(), &flag, &st);
    if (flag) break;
    if (waiting && std::chrono::steady_clock::now() - last > std::chrono::milliseconds(5)) {
      waiting();
      last = std::chrono::steady_clock::now();
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  int n = 0;
  MPI_Get_count(&st, MPI_BYTE, &n);
  std::string reply(static_cast<size_t>(n), '\0');
  MPI_Recv(reply.data(), n, MPI_BYTE, 1, kReportTag, world_.comm(), MPI_STATUS_IGNORE);
  if (!report.ParseFromString(reply)) throw FormatError("report from worker 0 is not a StepReport message");
  return report;
}

void serve_work_units(MpiCommunicator& world, VideoWorker& worker, bool answer) {
  for (;;) {
    std::string bytes;
    bcast_bytes(world, bytes);
    proto::WorkUnit unit;
    if (!unit.ParseFromString(bytes)) throw FormatError("work unit from the coordinator is not a WorkUnit message");
    if (unit.kind() == proto::WorkUnit::STOP) return;
    proto::StepReport report = worker.execute(unit);
    if (answer) {
      std::string reply;
      report.SerializeToString(&reply);
      MPI_Send(reply.data(), static_cast<int>(reply.size()), MPI_BYTE, 0, kReportTag, world.comm());
    }
  }
}

}  // namespace loong
