#include "coordinator/worker_liveness.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "core/fs.h"

namespace loong {
namespace {
constexpr int kHeartbeatTag = 1;
constexpr int kGoodbyeTag = 2;
// Heartbeats received per drain at most (bounds the loop; the rest wait for the next check).
constexpr int kMaxDrain = 100000;

double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string format_s(double s) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3g", s);
  return b;
}

std::string list_ranks(const std::vector<RankInfo>& ranks, bool with_silence) {
  std::string s;
  for (size_t i = 0; i < ranks.size(); ++i) {
    if (i) s += i + 1 == ranks.size() ? " and " : ", ";
    s += "rank " + std::to_string(ranks[i].rank) + " on host " + ranks[i].host;
    if (ranks[i].rank == 0) s += " (coordinator)";
    if (with_silence) s += " (silent " + format_s(ranks[i].silent_s) + " s)";
  }
  return s;
}

nlohmann::json ranks_json(const std::vector<RankInfo>& ranks, bool with_silence) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& r : ranks) {
    nlohmann::json j = {{"rank", r.rank}, {"host", r.host}};
    if (with_silence) j["silent_s"] = r.silent_s;
    a.push_back(j);
  }
  return a;
}
}  // namespace

double LivenessSettings::heartbeat_interval_s() const { return std::clamp(heartbeat_timeout_s / 8, 0.05, 1.0); }

void write_failure_record(const std::filesystem::path& checkpoint_dir, const WorkerSilentError& e,
                          const std::string& last_checkpoint) {
  char when[32];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  nlohmann::json j = {{"reason", e.reason},
                      {"message", e.what()},
                      {"unit", {{"kind", e.unit_kind}, {"step", e.unit_step}}},
                      {"silent", ranks_json(e.silent, true)},
                      {"alive", ranks_json(e.alive, false)},
                      {"last_checkpoint", last_checkpoint},
                      {"exit_status", kExitWorkerSilent},
                      {"time", when}};
  std::error_code ec;
  std::filesystem::create_directories(checkpoint_dir, ec);
  write_file_atomic(checkpoint_dir / "FAILED.json", j.dump(2) + "\n");
}

HeartbeatSender::HeartbeatSender(MPI_Comm comm, double interval_s)
    : comm_(comm), interval_(interval_s), thread_([this] { loop(); }) {}

HeartbeatSender::~HeartbeatSender() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  // The silence that follows is intended. Errors are ignored: the coordinator may be gone.
  uint64_t bye = 0;
  MPI_Send(&bye, 1, MPI_UINT64_T, 0, kGoodbyeTag, comm_);
}

void HeartbeatSender::loop() {
  std::unique_lock<std::mutex> lk(mu_);
  for (uint64_t seq = 0; !stop_; ++seq) {
    lk.unlock();
    // Small enough to go eagerly: completes without the coordinator receiving it yet. An error
    // (the coordinator's process is gone; the communicator returns errors) ends the heartbeat.
    const int rc = MPI_Send(&seq, 1, MPI_UINT64_T, 0, kHeartbeatTag, comm_);
    lk.lock();
    if (rc != MPI_SUCCESS) return;
    cv_.wait_for(lk, interval_, [this] { return stop_; });
  }
}

LivenessMonitor::LivenessMonitor(MPI_Comm comm, std::vector<std::string> hosts, LivenessSettings settings,
                                 bool heartbeats)
    : comm_(comm),
      hosts_(std::move(hosts)),
      settings_(settings),
      heartbeats_(heartbeats),
      last_seen_(hosts_.size(), Clock::now()),
      gone_(hosts_.size(), false),
      wait_start_(Clock::now()) {}

void LivenessMonitor::begin_wait(std::string kind, uint64_t step) {
  kind_ = std::move(kind);
  step_ = step;
  wait_start_ = Clock::now();
}

void LivenessMonitor::drain() {
  if (!heartbeats_) return;
  for (int i = 0; i < kMaxDrain; ++i) {
    int flag = 0;
    MPI_Status st;
    if (MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm_, &flag, &st) != MPI_SUCCESS || !flag) return;
    uint64_t v = 0;
    MPI_Recv(&v, 1, MPI_UINT64_T, st.MPI_SOURCE, st.MPI_TAG, comm_, MPI_STATUS_IGNORE);
    const auto r = static_cast<size_t>(st.MPI_SOURCE);
    if (r >= last_seen_.size()) continue;
    last_seen_[r] = Clock::now();
    if (st.MPI_TAG == kGoodbyeTag) gone_[r] = true;
  }
}

std::vector<RankInfo> LivenessMonitor::describe(const std::vector<int>& ranks, Clock::time_point now) const {
  std::vector<RankInfo> out;
  for (int r : ranks) {
    // Silence counts only while the coordinator listens: heartbeats that queued up while it was
    // busy elsewhere (writing a checkpoint) are received at the start of the wait.
    const double listened = seconds(now - wait_start_);
    const double silent = r == 0 ? 0.0 : std::min(seconds(now - last_seen_[static_cast<size_t>(r)]), listened);
    out.push_back({r, hosts_[static_cast<size_t>(r)], silent});
  }
  return out;
}

void LivenessMonitor::check() {
  drain();
  const auto now = Clock::now();
  const double listened = seconds(now - wait_start_);
  std::vector<int> silent, alive = {0};
  for (size_t r = 1; r < hosts_.size(); ++r) {
    const double s = std::min(seconds(now - last_seen_[r]), listened);
    (heartbeats_ && !gone_[r] && s > settings_.heartbeat_timeout_s ? silent : alive).push_back(static_cast<int>(r));
  }
  const std::string unit = "the " + kind_ + " unit of step " + std::to_string(step_);
  const std::string tail = "; the job stops with exit status " + std::to_string(kExitWorkerSilent) +
                           " (requeue) and keeps its last complete checkpoint: resume with --resume auto";
  if (!silent.empty()) {
    auto s = describe(silent, now);
    auto a = describe(alive, now);
    std::string what = std::string(s.size() == 1 ? "worker " : "workers ") + list_ranks(s, true) +
                       " stopped answering: no heartbeat for more than coordinator.heartbeat_timeout_s = " +
                       format_s(settings_.heartbeat_timeout_s) + " s while the coordinator waited for " + unit +
                       "; alive: " + list_ranks(a, false) + tail;
    throw WorkerSilentError(std::move(what), "worker_silent", kind_, step_, std::move(s), std::move(a));
  }
  if (settings_.work_unit_timeout_s > 0 && listened > settings_.work_unit_timeout_s) {
    auto a = describe(alive, now);
    std::string what = unit + " ran past coordinator.work_unit_timeout_s = " +
                       format_s(settings_.work_unit_timeout_s) + " s" +
                       (heartbeats_ ? " with every rank still sending heartbeats (" + list_ranks(a, false) +
                                          "): the workers are stuck, not gone"
                                    : " (no heartbeats: the MPI library lacks MPI_THREAD_MULTIPLE); ranks " +
                                          list_ranks(a, false)) +
                       tail;
    throw WorkerSilentError(std::move(what), "work_unit_deadline", kind_, step_, {}, std::move(a));
  }
}

void LivenessMonitor::await_goodbyes() {
  if (!heartbeats_) return;
  // Bounded by check(): a worker that neither says goodbye nor sends heartbeats is named after
  // heartbeat_timeout_s; one that keeps sending without leaving, after work_unit_timeout_s.
  for (;;) {
    check();
    if (std::all_of(gone_.begin() + 1, gone_.end(), [](bool g) { return g; })) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

std::unique_ptr<RankLiveness> join_liveness(MpiCommunicator& world, const LivenessSettings& settings) {
  auto out = std::make_unique<RankLiveness>();
  int provided = MPI_THREAD_SINGLE;
  MPI_Query_thread(&provided);
  int threads_ok = provided == MPI_THREAD_MULTIPLE ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &threads_ok, 1, MPI_INT, MPI_MIN, world.comm());
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int len = 0;
  MPI_Get_processor_name(name, &len);
  std::vector<char> all(world.rank() == 0 ? static_cast<size_t>(world.size()) * MPI_MAX_PROCESSOR_NAME : 1);
  MPI_Gather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 0, world.comm());
  MPI_Comm dup;
  MPI_Comm_dup(world.comm(), &dup);
  // A heartbeat to a coordinator that is gone must end the heartbeat, not the worker.
  MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN);
  out->comm = std::make_unique<MpiCommunicator>(dup, "liveness");
  if (world.rank() == 0) {
    std::vector<std::string> hosts;
    for (int r = 0; r < world.size(); ++r) {
      const char* h = all.data() + static_cast<size_t>(r) * MPI_MAX_PROCESSOR_NAME;
      hosts.emplace_back(h, strnlen(h, MPI_MAX_PROCESSOR_NAME));
    }
    out->monitor = std::make_unique<LivenessMonitor>(dup, std::move(hosts), settings, threads_ok == 1);
  } else if (threads_ok) {
    out->heartbeat = std::make_unique<HeartbeatSender>(dup, settings.heartbeat_interval_s());
  }
  return out;
}

}  // namespace loong
