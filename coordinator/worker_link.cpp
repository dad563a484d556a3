#include "coordinator/worker_link.h"

#include <chrono>
#include <thread>

#include "core/error.h"

namespace loong {
namespace {
constexpr int kReportTag = 7;

// Broadcast of a serialized message from world rank 0: length, then bytes. Waiting ranks poll
// so that an idle process does not spin a core.
void bcast_bytes(MpiCommunicator& world, std::string& bytes) {
  int64_t n = static_cast<int64_t>(bytes.size());
  MPI_Request req;
  MPI_Ibcast(&n, 1, MPI_INT64_T, 0, world.comm(), &req);
  int done = 0;
  while (!done) {
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (!done) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  bytes.resize(static_cast<size_t>(n));
  if (n > 0) MPI_Bcast(bytes.data(), static_cast<int>(n), MPI_BYTE, 0, world.comm());
}
}  // namespace

proto::StepReport MpiWorkerLink::execute(const proto::WorkUnit& unit) {
  std::string bytes;
  unit.SerializeToString(&bytes);
  bcast_bytes(world_, bytes);
  proto::StepReport report;
  if (unit.kind() == proto::WorkUnit::STOP) return report;
  // The coordinator waits for worker 0's answer without spinning.
  MPI_Status st;
  int flag = 0;
  while (!flag) {
    MPI_Iprobe(1, kReportTag, world_.comm(), &flag, &st);
    if (!flag) std::this_thread::sleep_for(std::chrono::microseconds(200));
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
