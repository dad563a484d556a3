// Liveness of the job's ranks under MPI (docs/operations.md, "A worker that stops answering").
// A rank that is stopped (SIGSTOP), or whose host lost its link, never fails an MPI call: the
// others just wait in their collectives. So every worker rank runs a heartbeat thread that sends
// world rank 0 (the coordinator) a tiny message every `heartbeat_interval_s` on a communicator of
// its own, and the coordinator, while it waits for a work unit, drains them and names the ranks it
// has not heard from for `heartbeat_timeout_s` (with their hosts, learnt at startup), or the unit
// that ran past `work_unit_timeout_s` with every rank still alive. The heartbeat needs
// MPI_THREAD_MULTIPLE; with a lower thread level only the work-unit deadline applies (a warning
// says so).
#pragma once
#include <mpi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "parallel/mpi_communicator.h"

namespace loong {

// kExitWorkerSilent (core/error.h) is the status a silent worker ends the job with.

struct LivenessSettings {
  double heartbeat_timeout_s = 30;   // a worker unheard for this long (while the coordinator waits) is lost
  double work_unit_timeout_s = 600;  // one unit (step, evaluation, checkpoint, load) may take this long; 0 = no limit
  // Seconds between heartbeats: an eighth of the timeout, within [0.05, 1].
  double heartbeat_interval_s() const;
};

// One rank as the failure report names it.
struct RankInfo {
  int rank = 0;
  std::string host;
  double silent_s = 0;  // seconds since its last heartbeat, as seen by the coordinator
};

// The coordinator gave up on a work unit: `silent` ranks stopped answering (empty when the unit
// ran past its deadline with every rank alive). what() is the one-line message for stderr.
class WorkerSilentError : public Error {
 public:
  WorkerSilentError(std::string what, std::string reason, std::string unit_kind, uint64_t unit_step,
                    std::vector<RankInfo> silent, std::vector<RankInfo> alive)
      : Error(std::move(what)),
        reason(std::move(reason)),
        unit_kind(std::move(unit_kind)),
        unit_step(unit_step),
        silent(std::move(silent)),
        alive(std::move(alive)) {}
  std::string reason;     // "worker_silent" or "work_unit_deadline"
  std::string unit_kind;  // TRAIN, EVAL, CHECKPOINT, LOAD, STOP
  uint64_t unit_step;
  std::vector<RankInfo> silent, alive;
};

// Writes `<checkpoint_dir>/FAILED.json` atomically: reason, unit, silent and alive ranks with their
// hosts, the last complete checkpoint ("" if none) and the exit status. IoError if it cannot.
void write_failure_record(const std::filesystem::path& checkpoint_dir, const WorkerSilentError& e,
                          const std::string& last_checkpoint);

// The worker side: a thread sending heartbeats until destruction, which stops it and sends a
// final goodbye so that the coordinator knows the silence that follows is intended.
class HeartbeatSender {
 public:
  HeartbeatSender(MPI_Comm comm, double interval_s);  // `comm` is borrowed; rank 0 receives
  ~HeartbeatSender();
  HeartbeatSender(const HeartbeatSender&) = delete;
  HeartbeatSender& operator=(const HeartbeatSender&) = delete;

 private:
  void loop();
  MPI_Comm comm_;
  std::chrono::duration<double> interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// The coordinator side: last heartbeat per rank, the check made while waiting for a unit.
class LivenessMonitor {
 public:
  using Clock = std::chrono::steady_clock;
  LivenessMonitor(MPI_Comm comm, std::vector<std::string> hosts, LivenessSettings settings, bool heartbeats);
  const std::string& host(int rank) const { return hosts_.at(static_cast<size_t>(rank)); }
  bool heartbeats() const { return heartbeats_; }

  // Called when the coordinator starts waiting for a unit (`kind` and `step` name it).
  void begin_wait(std::string kind, uint64_t step);
  // Receives the heartbeats that have arrived; throws WorkerSilentError when a worker has been
  // silent for heartbeat_timeout_s of this wait, or the unit is past work_unit_timeout_s.
  void check();
  // After STOP: waits (checking as above) until every worker has said goodbye.
  void await_goodbyes();

 private:
  void drain();
  std::vector<RankInfo> describe(const std::vector<int>& ranks, Clock::time_point now) const;
  MPI_Comm comm_;
  std::vector<std::string> hosts_;  // by world rank
  LivenessSettings settings_;
  bool heartbeats_;
  std::vector<Clock::time_point> last_seen_;  // by world rank; [0] unused
  std::vector<bool> gone_;                    // said goodbye
  std::string kind_;
  uint64_t step_ = 0;
  Clock::time_point wait_start_;
};

// The liveness machinery of one rank; collective over `world` (every rank calls it right after
// joining): each rank tells rank 0 its host, all agree whether heartbeats are possible (thread
// level), workers start their heartbeat.
struct RankLiveness {
  // Declared first so that it is freed last, after the heartbeat has stopped.
  std::unique_ptr<MpiCommunicator> comm;       // the heartbeats' own communicator (dup of world)
  std::unique_ptr<LivenessMonitor> monitor;    // world rank 0
  std::unique_ptr<HeartbeatSender> heartbeat;  // worker ranks (null if heartbeats are off)
};
std::unique_ptr<RankLiveness> join_liveness(MpiCommunicator& world, const LivenessSettings& settings);

}  // namespace loong
