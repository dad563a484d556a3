#include "worker/worker_serve_loop.h"

#include <string>

#include "core/error.h"
#include "worker/work_unit_wire.h"

namespace loong {

void serve_work_units(MpiCommunicator& world, VideoWorker& worker, bool answer) {
  for (;;) {
    std::string bytes;
    broadcast_bytes(world, bytes);
    proto::WorkUnit unit;
    if (!unit.ParseFromString(bytes)) throw FormatError("work unit from the coordinator is not a WorkUnit message");
    if (unit.kind() == proto::WorkUnit::STOP) return;
    proto::StepReport report = worker.execute(unit);
    if (answer) {
      std::string reply;
      report.SerializeToString(&reply);
      MPI_Send(reply.data(), static_cast<int>(reply.size()), MPI_BYTE, 0, kStepReportTag, world.comm());
    }
  }
}

}  // namespace loong
