#include "parallel/nccl_communicator.h"

#include <chrono>
#include <mutex>
#include <thread>

#include "ops/cuda/ops.h"

namespace loong {

namespace detail {
// One send_async: its device copy, and whether it reached the peer.
struct NcclSendSlot {
  NcclCommunicator* comm = nullptr;  // null once the communicator is gone or aborted
  float* buffer = nullptr;           // owned copy (stream-ordered allocation on comm->stream_)
  int64_t n = 0;
  int peer = 0;
  bool done = false;
  std::string failure;  // why it never completed (communicator destroyed, aborted)
};
}  // namespace detail

namespace {

std::mutex g_device_mutex;
bool g_device_bound = false;
int g_device = -1;
std::string g_device_problem;  // why g_device is -1 after binding

std::string mpi_error_text(int rc) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  return std::string(text, len);
}

class NcclPendingSend final : public PendingSend {
 public:
  explicit NcclPendingSend(std::shared_ptr<detail::NcclSendSlot> slot) : slot_(std::move(slot)) {}
  ~NcclPendingSend() override {
    // As MpiPendingSend: a dropped handle still delivers its data.
    if (slot_->done || !slot_->comm) return;
    try {
      slot_->comm->flush_sends();
    } catch (...) {  // destructors must not throw; the next call on the communicator reports it
    }
  }
  void wait() override {
    if (slot_->done) return;
    if (!slot_->comm)
      throw NcclError("send of " + std::to_string(slot_->n) + " floats to rank " + std::to_string(slot_->peer) +
                      " never completed: " + slot_->failure);
    slot_->comm->flush_sends();
  }

 private:
  std::shared_ptr<detail::NcclSendSlot> slot_;
};

// A finished PendingSend (n == 0).
class DoneSend final : public PendingSend {
 public:
  void wait() override {}
};

// Closes an NCCL group if an error leaves it open.
struct GroupGuard {
  bool open = false;
  ~GroupGuard() {
    if (open) (void)ncclGroupEnd();
  }
};

}  // namespace

bool nccl_available(std::string* why) {
  if (!ops::cuda::device_available(why)) return false;
  int version = 0;
  if (ncclGetVersion(&version) != ncclSuccess) {
    if (why) *why = "ncclGetVersion failed: the NCCL library is unusable";
    return false;
  }
  return true;
}

int NcclCommunicator::bind_local_device(MPI_Comm world, bool use_device) {
  std::lock_guard<std::mutex> lock(g_device_mutex);
  if (g_device_bound) return g_device;
  int world_rank = 0;
  MPI_Comm_rank(world, &world_rank);
  const std::string who = "world rank " + std::to_string(world_rank);
  MPI_Comm node = MPI_COMM_NULL;
  int rc = MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  if (rc != MPI_SUCCESS) throw Error("MPI_Comm_split_type(MPI_COMM_TYPE_SHARED) failed on " + who + ": " + mpi_error_text(rc));
  int local_rank = 0;
  rc = MPI_Comm_rank(node, &local_rank);
  MPI_Comm_free(&node);
  if (rc != MPI_SUCCESS) throw Error("MPI_Comm_rank(node) failed on " + who + ": " + mpi_error_text(rc));
  g_device_bound = true;  // the collective part is done: never repeat it
  if (!use_device) {
    g_device_problem = who + " asked for no device (bind_local_device(use_device = false))";
    return -1;
  }
  int count = 0;
  const cudaError_t st = cudaGetDeviceCount(&count);
  if (st != cudaSuccess || count == 0) {
    (void)cudaGetLastError();
    g_device_problem = "cudaGetDeviceCount on " + who + " (node-local rank " + std::to_string(local_rank) + "): " +
                       (st != cudaSuccess ? std::string(cudaGetErrorString(st)) : std::string("0 devices"));
    throw CudaError(g_device_problem);
  }
  const int device = local_rank % count;
  const cudaError_t set = cudaSetDevice(device);
  if (set != cudaSuccess) {
    g_device_problem = "cudaSetDevice(" + std::to_string(device) + ") on " + who + ": " + cudaGetErrorString(set);
    throw CudaError(g_device_problem);
  }
  g_device = device;
  return device;
}

int NcclCommunicator::bound_device() {
  std::lock_guard<std::mutex> lock(g_device_mutex);
  return g_device;
}

NcclCommunicator::NcclCommunicator(const MpiCommunicator& group, std::string name)
    : name_(std::move(name)), rank_(group.rank()), size_(group.size()) {
  // 1. The device (process-wide). Binding lazily is a world collective: only safe when this group
  //    is the whole world (every world rank is here).
  bool bound = false;
  {
    std::lock_guard<std::mutex> lock(g_device_mutex);
    bound = g_device_bound;
  }
  std::string problem;
  bool cuda_problem = true;
  if (!bound) {
    int world_size = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    if (size_ != world_size)
      throw Error("NcclCommunicator " + where() + ": no GPU chosen yet; call NcclCommunicator::bind_local_device() " +
                  "on every rank of MPI_COMM_WORLD before making NCCL communicators on sub-groups");
    try {
      bind_local_device(MPI_COMM_WORLD, true);
    } catch (const CudaError& e) {
      problem = e.what();
    } catch (const Error& e) {
      problem = e.what();
      cuda_problem = false;
    }
  }
  device_ = bound_device();
  if (problem.empty() && device_ < 0) {
    std::lock_guard<std::mutex> lock(g_device_mutex);
    problem = g_device_problem;
  }
  if (problem.empty()) {
    const cudaError_t st = cudaSetDevice(device_);
    if (st != cudaSuccess) problem = std::string("cudaSetDevice(") + std::to_string(device_) + "): " + cudaGetErrorString(st);
  }
  // 2. The unique id, made by rank 0 of the group.
  ncclUniqueId id{};
  if (problem.empty() && rank_ == 0) {
    const ncclResult_t rc = ncclGetUniqueId(&id);
    if (rc != ncclSuccess) {
      problem = std::string("ncclGetUniqueId: ") + ncclGetErrorString(rc);
      cuda_problem = false;
    }
  }
  // 3. Agree that every rank can go on, so a failure on one rank does not leave the others hanging
  //    in MPI_Bcast or ncclCommInitRank.
  int ok = problem.empty() ? 1 : 0, all_ok = 0;
  int rc = MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, group.comm());
  if (rc != MPI_SUCCESS) throw Error("MPI_Allreduce (NCCL bootstrap) failed " + where() + ": " + mpi_error_text(rc));
  if (!all_ok) {
    const std::string head = "cannot create NCCL communicator " + where() + ": ";
    if (problem.empty()) throw NcclError(head + "another rank of the group has no usable CUDA device or NCCL id");
    if (cuda_problem) throw CudaError(head + problem);
    throw NcclError(head + problem);
  }
  rc = MPI_Bcast(&id, static_cast<int>(sizeof(id)), MPI_BYTE, 0, group.comm());
  if (rc != MPI_SUCCESS) throw Error("MPI_Bcast of the NCCL unique id failed " + where() + ": " + mpi_error_text(rc));
  // 4. The stream, scratch and the NCCL communicator.
  try {
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    check_cuda(cudaEventCreateWithFlags(&compute_done_, cudaEventDisableTiming), "cudaEventCreateWithFlags");
    check_cuda(cudaMalloc(reinterpret_cast<void**>(&scratch_), sizeof(float)), "cudaMalloc");
    check_nccl(ncclCommInitRank(&comm_, size_, id, rank_), "ncclCommInitRank");
  } catch (...) {
    free_resources();
    throw;
  }
}

std::unique_ptr<NcclCommunicator> NcclCommunicator::create(const MpiCommunicator& group, const std::string& name) {
  return std::make_unique<NcclCommunicator>(group, name);
}

NcclCommunicator::~NcclCommunicator() { free_resources(); }

void NcclCommunicator::free_resources() noexcept {
  if (device_ >= 0) (void)cudaSetDevice(device_);
  if (comm_) {
    // Work still in flight means an earlier call failed half-way: abort rather than wait for it.
    if (in_flight_)
      (void)ncclCommAbort(comm_);
    else
      (void)ncclCommDestroy(comm_);
    comm_ = nullptr;
  }
  for (auto* list : {&deferred_, &posted_}) {
    for (auto& slot : *list) {
      if (slot->buffer) (void)cudaFreeAsync(slot->buffer, stream_);
      slot->buffer = nullptr;
      slot->comm = nullptr;
      if (slot->failure.empty()) slot->failure = "communicator " + name_ + " was destroyed before the send was posted";
    }
    list->clear();
  }
  if (scratch_) (void)cudaFree(scratch_);
  scratch_ = nullptr;
  if (compute_done_) (void)cudaEventDestroy(compute_done_);
  compute_done_ = nullptr;
  if (stream_) {
    (void)cudaStreamSynchronize(stream_);
    (void)cudaStreamDestroy(stream_);
  }
  stream_ = nullptr;
}

std::string NcclCommunicator::where() const {
  return "on rank " + std::to_string(rank_) + " of " + name_ + " (" + std::to_string(size_) + " ranks" +
         (device_ >= 0 ? ", device " + std::to_string(device_) : std::string()) + ")";
}

void NcclCommunicator::check_cuda(cudaError_t rc, const char* call) const {
  if (rc == cudaSuccess) return;
  throw CudaError(std::string(call) + " failed " + where() + ": " + cudaGetErrorName(rc) + " (" +
                  cudaGetErrorString(rc) + ")");
}

void NcclCommunicator::check_nccl(ncclResult_t rc, const char* call) {
  if (rc == ncclSuccess) return;
  std::string msg = std::string(call) + " failed " + where() + ": " + ncclGetErrorString(rc);
  const char* detail = ncclGetLastError(comm_);
  if (detail && *detail) msg += std::string(" (") + detail + ")";
  // A bad argument leaves the communicator usable; anything else (system, internal, remote, CUDA
  // error) may have left it mid-operation.
  if (comm_ && rc != ncclInvalidArgument && rc != ncclInvalidUsage) abort(msg);
  throw NcclError(msg);
}

void NcclCommunicator::abort(const std::string& reason) {
  if (comm_) (void)ncclCommAbort(comm_);
  comm_ = nullptr;
  aborted_ = true;
  abort_reason_ = reason;
  in_flight_ = false;
  for (auto* list : {&deferred_, &posted_}) {
    for (auto& slot : *list) {
      if (slot->buffer) (void)cudaFreeAsync(slot->buffer, stream_);
      slot->buffer = nullptr;
      slot->comm = nullptr;
      slot->failure = "communicator " + name_ + " aborted: " + reason;
    }
    list->clear();
  }
}

void NcclCommunicator::check_count(int64_t n, const char* what) const {
  if (n < 0) throw InputError(std::string(what) + " of " + std::to_string(n) + " elements " + where());
}

void NcclCommunicator::check_peer(int peer, const char* what) const {
  if (peer < 0 || peer >= size_)
    throw InputError(std::string(what) + " with rank " + std::to_string(peer) + " " + where() + ": ranks are 0.." +
                     std::to_string(size_ - 1));
}

void NcclCommunicator::begin_op(const char* what) {
  if (aborted_)
    throw NcclError(std::string(what) + " " + where() + ": the communicator was aborted after an earlier error: " +
                    abort_reason_);
  check_cuda(cudaSetDevice(device_), "cudaSetDevice");
  if (compute_stream_) {
    check_cuda(cudaEventRecord(compute_done_, compute_stream_), "cudaEventRecord (compute stream)");
    check_cuda(cudaStreamWaitEvent(stream_, compute_done_, 0), "cudaStreamWaitEvent");
  }
}

void NcclCommunicator::finish(const char* what) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  for (;;) {
    const cudaError_t q = cudaStreamQuery(stream_);
    if (q == cudaSuccess) break;
    if (q != cudaErrorNotReady) {
      const std::string msg = std::string("cudaStreamQuery after ") + what + " failed " + where() + ": " +
                              cudaGetErrorName(q) + " (" + cudaGetErrorString(q) + ")";
      abort(msg);
      throw CudaError(msg);
    }
    // A peer that failed shows up as an asynchronous NCCL error, not as a stream that never ends.
    ncclResult_t async = ncclSuccess;
    const ncclResult_t rc = ncclCommGetAsyncError(comm_, &async);
    if (rc != ncclSuccess || async != ncclSuccess) {
      const ncclResult_t bad = rc != ncclSuccess ? rc : async;
      std::string msg = std::string(what) + " failed " + where() + ": " + ncclGetErrorString(bad);
      const char* detail = ncclGetLastError(comm_);
      if (detail && *detail) msg += std::string(" (") + detail + ")";
      abort(msg);
      throw NcclError(msg);
    }
    // Spin briefly (small collectives finish in microseconds), then poll without burning a core.
    if (Clock::now() - start < std::chrono::microseconds(200))
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
  in_flight_ = false;
  release_sends();
}

void NcclCommunicator::post_deferred_sends() {
  for (auto& slot : deferred_) {
    check_nccl(ncclSend(slot->buffer, static_cast<size_t>(slot->n), ncclFloat32, slot->peer, comm_, stream_), "ncclSend");
    posted_.push_back(slot);
  }
  deferred_.clear();
}

void NcclCommunicator::release_sends() {
  for (auto& slot : posted_) {
    if (slot->buffer) (void)cudaFreeAsync(slot->buffer, stream_);
    slot->buffer = nullptr;
    slot->done = true;
  }
  posted_.clear();
}

void NcclCommunicator::flush_sends() {
  if (deferred_.empty() && posted_.empty()) return;
  begin_op("flush of deferred sends");
  {
    GroupGuard group;
    in_flight_ = true;
    check_nccl(ncclGroupStart(), "ncclGroupStart");
    group.open = true;
    post_deferred_sends();
    group.open = false;
    check_nccl(ncclGroupEnd(), "ncclGroupEnd");
  }
  finish("ncclSend (deferred)");
}

// ---- collectives: deferred sends first (own group), then the collective, then wait ----

void NcclCommunicator::all_reduce_sum(float* data, int64_t n) {
  check_count(n, "all_reduce_sum");
  if (n == 0) return;
  flush_sends();
  begin_op("ncclAllReduce");
  in_flight_ = true;
  check_nccl(ncclAllReduce(data, data, static_cast<size_t>(n), ncclFloat32, ncclSum, comm_, stream_), "ncclAllReduce");
  finish("ncclAllReduce");
}

void NcclCommunicator::all_reduce_max(float* data, int64_t n) {
  check_count(n, "all_reduce_max");
  if (n == 0) return;
  flush_sends();
  begin_op("ncclAllReduce");
  in_flight_ = true;
  check_nccl(ncclAllReduce(data, data, static_cast<size_t>(n), ncclFloat32, ncclMax, comm_, stream_), "ncclAllReduce");
  finish("ncclAllReduce(max)");
}

void NcclCommunicator::all_reduce_sum(double* data, int64_t n) {
  check_count(n, "all_reduce_sum(double)");
  if (n == 0) return;
  flush_sends();
  begin_op("ncclAllReduce");
  in_flight_ = true;
  check_nccl(ncclAllReduce(data, data, static_cast<size_t>(n), ncclFloat64, ncclSum, comm_, stream_), "ncclAllReduce");
  finish("ncclAllReduce(double)");
}

void NcclCommunicator::reduce_scatter_sum(const float* send, float* recv, int64_t recv_count) {
  check_count(recv_count, "reduce_scatter_sum");
  if (recv_count == 0) return;
  flush_sends();
  begin_op("ncclReduceScatter");
  in_flight_ = true;
  check_nccl(ncclReduceScatter(send, recv, static_cast<size_t>(recv_count), ncclFloat32, ncclSum, comm_, stream_),
             "ncclReduceScatter");
  finish("ncclReduceScatter");
}

void NcclCommunicator::all_gather(const float* send, float* recv, int64_t send_count) {
  check_count(send_count, "all_gather");
  if (send_count == 0) return;
  flush_sends();
  begin_op("ncclAllGather");
  in_flight_ = true;
  check_nccl(ncclAllGather(send, recv, static_cast<size_t>(send_count), ncclFloat32, comm_, stream_), "ncclAllGather");
  finish("ncclAllGather");
}

void NcclCommunicator::broadcast(float* data, int64_t n, int root) {
  check_count(n, "broadcast");
  check_peer(root, "broadcast");
  if (n == 0) return;
  flush_sends();
  begin_op("ncclBroadcast");
  in_flight_ = true;
  check_nccl(ncclBroadcast(data, data, static_cast<size_t>(n), ncclFloat32, root, comm_, stream_), "ncclBroadcast");
  finish("ncclBroadcast");
}

void NcclCommunicator::barrier() {
  flush_sends();
  begin_op("barrier");
  in_flight_ = true;
  check_nccl(ncclAllReduce(scratch_, scratch_, 1, ncclFloat32, ncclSum, comm_, stream_), "ncclAllReduce (barrier)");
  finish("ncclAllReduce (barrier)");
}

// ---- point to point: the deferred sends go in the same group, in order, before the transfer ----

void NcclCommunicator::send(const float* data, int64_t n, int peer) {
  check_count(n, "send");
  check_peer(peer, "send");
  if (n == 0) return;
  begin_op("ncclSend");
  {
    GroupGuard group;
    in_flight_ = true;
    check_nccl(ncclGroupStart(), "ncclGroupStart");
    group.open = true;
    post_deferred_sends();
    check_nccl(ncclSend(data, static_cast<size_t>(n), ncclFloat32, peer, comm_, stream_), "ncclSend");
    group.open = false;
    check_nccl(ncclGroupEnd(), "ncclGroupEnd");
  }
  finish("ncclSend");
}

void NcclCommunicator::recv(float* data, int64_t n, int peer) {
  check_count(n, "recv");
  check_peer(peer, "recv");
  if (n == 0) return;
  begin_op("ncclRecv");
  {
    GroupGuard group;
    in_flight_ = true;
    check_nccl(ncclGroupStart(), "ncclGroupStart");
    group.open = true;
    post_deferred_sends();
    check_nccl(ncclRecv(data, static_cast<size_t>(n), ncclFloat32, peer, comm_, stream_), "ncclRecv");
    group.open = false;
    check_nccl(ncclGroupEnd(), "ncclGroupEnd");
  }
  finish("ncclRecv");
}

std::unique_ptr<PendingSend> NcclCommunicator::send_async(const float* data, int64_t n, int peer) {
  check_count(n, "send_async");
  check_peer(peer, "send_async");
  if (n == 0) return std::make_unique<DoneSend>();
  begin_op("send_async");
  auto slot = std::make_shared<detail::NcclSendSlot>();
  slot->comm = this;
  slot->n = n;
  slot->peer = peer;
  const size_t bytes = static_cast<size_t>(n) * sizeof(float);
  check_cuda(cudaMallocAsync(reinterpret_cast<void**>(&slot->buffer), bytes, stream_), "cudaMallocAsync (send copy)");
  deferred_.push_back(slot);  // from here on the communicator frees the buffer
  in_flight_ = true;
  check_cuda(cudaMemcpyAsync(slot->buffer, data, bytes, cudaMemcpyDeviceToDevice, stream_),
             "cudaMemcpyAsync (send copy)");
  // The copy must be done before returning: the caller may overwrite `data` at once.
  finish("cudaMemcpyAsync (send copy)");
  return std::make_unique<NcclPendingSend>(std::move(slot));
}

}  // namespace loong
