#include "coordinator/worker_link.h"

#include <chrono>
#include <functional>
#include <thread>

#include "core/error.h"
#include "worker/work_unit_wire.h"

namespace loong {

proto::StepReport MpiWorkerLink::execute(const proto::WorkUnit& unit) {
  if (liveness_) liveness_->begin_wait(proto::WorkUnit::Kind_Name(unit.kind()), unit.step());
  std::function<void()> waiting;
  if (liveness_) waiting = [this] { liveness_->check(); };
  std::string bytes;
  unit.SerializeToString(&bytes);
  broadcast_bytes(world_, bytes, waiting);
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
    MPI_Iprobe(1, kStepReportTag, world_.comm(), &flag, &st);
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
  MPI_Recv(reply.data(), n, MPI_BYTE, 1, kStepReportTag, world_.comm(), MPI_STATUS_IGNORE);
  if (!report.ParseFromString(reply)) throw FormatError("report from worker 0 is not a StepReport message");
  return report;
}

}  // namespace loong
