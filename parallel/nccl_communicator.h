// Communicator over NCCL (GPU buffers). CUDA builds only (target loong_parallel_nccl).
//
// Bootstrap (docs/architecture.md, Processes: one GPU per worker rank, NCCL bootstrapped through MPI):
// - Device: the rank's node-local index (MPI_Comm_split_type(MPI_COMM_WORLD, SHARED)) modulo the
//   node's device count, chosen once per process by bind_local_device() and kept for every
//   communicator of the process. bind_local_device is collective over MPI_COMM_WORLD, so every
//   world rank (the coordinator too, with use_device = false) calls it before communicators on
//   sub-groups are made. A communicator on a group that spans the whole world binds lazily; on a
//   smaller group with no device bound yet, the constructor throws (instead of hanging in a world
//   collective the other ranks never enter).
// - Communicator: rank 0 of `group` calls ncclGetUniqueId, the id goes to the other ranks with
//   MPI_Bcast over group.comm(), every rank calls ncclCommInitRank with its MPI rank. Before the
//   broadcast the ranks agree (MPI_Allreduce) that all of them have a device and an id, so a rank
//   without a GPU makes every rank throw rather than some of them hang. The MPI communicator is
//   only used during construction and may be freed afterwards.
//
// Semantics of every call (the Communicator contract: when a call returns, the result is in the
// buffer):
// - Pointers are device pointers on this communicator's device; counts are float (or double)
//   elements, as in the interface.
// - The operation is enqueued on a stream owned by the communicator, which is then synchronised
//   before the call returns. Asynchronous NCCL errors (a peer that died) are polled while
//   waiting; on one, the NCCL communicator is aborted and every later call throws.
// - Input produced by kernels on another stream must be complete before the call: either
//   synchronise that stream, or name it once with set_compute_stream() and each call orders
//   itself after the work enqueued on it so far (an event, no host wait).
// - Several NcclCommunicators of one process (tp, pp, dp, ...) never overlap: each call finishes
//   before it returns, so they cannot deadlock against each other.
//
// Point-to-point. NCCL does not guarantee that two operations in flight make progress
// concurrently, so an eagerly posted ncclSend followed by a ncclRecv from the same peer, mirrored
// on that peer (two pipeline stages sending to each other), can deadlock. Therefore:
// - send_async copies the data into an owned device buffer (cudaMemcpyAsync device-to-device,
//   finished before it returns, so the caller's buffer is free at once) and DEFERS the ncclSend.
// - Every later call on this communicator first posts the deferred sends, in order: recv and send
//   put them in one ncclGroupStart/ncclGroupEnd with their own transfer (as Megatron's
//   batch_isend_irecv), so two ranks that send_async to each other and then recv cannot deadlock;
//   a collective posts them (one group) just before itself, on the same stream, so they complete
//   before it starts, as blocking sends would. PendingSend::wait posts them if nothing has.
// Consequences: a deferred send reaches its peer only at this rank's next call or wait, not while
// the rank computes (a first pipeline stage in warm-up sends nothing until its first backward
// receive): results are those of the MPI backend, only the overlap differs. And a peer that waits
// in a collective with this rank before receiving a deferred send deadlocks (MPI's eager Isend
// would let it through); receive before the next collective.
#pragma once
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "parallel/communicator.h"
#include "parallel/mpi_communicator.h"

namespace loong {

// An NCCL call failed. The message names the call, the NCCL error string (and NCCL's last-error
// detail when it has one), the rank and the group.
class NcclError : public Error {
 public:
  using Error::Error;
};

// True when NCCL can run here: a CUDA device is present. Otherwise false with the reason in *why
// (when not null), e.g. "cudaGetDeviceCount: no CUDA-capable device is detected".
bool nccl_available(std::string* why);

namespace detail {
struct NcclSendSlot;
}

class NcclCommunicator final : public Communicator {
 public:
  // Collective over `group`: see the bootstrap notes above. `name` is used in errors.
  NcclCommunicator(const MpiCommunicator& group, std::string name);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  // The NCCL twin of MpiCommunicator::split: an NCCL communicator over the ranks of `group`
  // (typically the result of MpiCommunicator::split). Collective over `group`.
  static std::unique_ptr<NcclCommunicator> create(const MpiCommunicator& group, const std::string& name);

  // Chooses this process's device: node-local rank (MPI_Comm_split_type SHARED over `world`)
  // modulo the node's device count, then cudaSetDevice. Collective over `world`; every rank of
  // `world` calls it once (later calls return the device chosen first without communicating).
  // A rank that needs no GPU (the coordinator) passes use_device = false: it takes part in the
  // split and returns -1. Throws CudaError when use_device and no device is present.
  static int bind_local_device(MPI_Comm world = MPI_COMM_WORLD, bool use_device = true);
  // The device chosen by bind_local_device, or -1 before it ran.
  static int bound_device();

  // Optional: each call first waits (on the device, via an event) for the work enqueued on
  // `stream` so far, e.g. the ops' CudaContext::stream that produced the buffers. nullptr: none.
  void set_compute_stream(cudaStream_t stream) { compute_stream_ = stream; }

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return name_; }
  void all_reduce_sum(float* data, int64_t n) override;
  void all_reduce_max(float* data, int64_t n) override;
  void all_reduce_sum(double* data, int64_t n) override;
  void reduce_scatter_sum(const float* send, float* recv, int64_t recv_count) override;
  void all_gather(const float* send, float* recv, int64_t send_count) override;
  void broadcast(float* data, int64_t n, int root) override;
  void send(const float* data, int64_t n, int peer) override;
  void recv(float* data, int64_t n, int peer) override;
  std::unique_ptr<PendingSend> send_async(const float* data, int64_t n, int peer) override;
  void barrier() override;

  // Posts the deferred sends (one NCCL group) and waits until the peers have them. PendingSend::
  // wait calls it; a no-op when nothing is deferred.
  void flush_sends();

 private:
  void begin_op(const char* what);  // usable? + order after the compute stream
  void finish(const char* what);    // synchronise the stream, polling NCCL's async error
  void check_nccl(ncclResult_t rc, const char* call);
  void check_cuda(cudaError_t rc, const char* call) const;
  void check_count(int64_t n, const char* what) const;
  void check_peer(int peer, const char* what) const;
  std::string where() const;  // "on rank R of <name>"
  void post_deferred_sends();  // inside an open ncclGroupStart
  void release_sends();        // after the stream finished: free buffers, mark slots done
  void abort(const std::string& reason);  // ncclCommAbort; later calls throw with the reason
  void free_resources() noexcept;

  std::string name_;
  int rank_ = 0, size_ = 1, device_ = -1;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaStream_t compute_stream_ = nullptr;
  cudaEvent_t compute_done_ = nullptr;
  float* scratch_ = nullptr;  // one float for barrier()
  bool aborted_ = false;
  bool in_flight_ = false;  // work enqueued on stream_ that finish() has not yet seen complete
  std::string abort_reason_;
  std::vector<std::shared_ptr<detail::NcclSendSlot>> deferred_;  // copied, not yet posted
  std::vector<std::shared_ptr<detail::NcclSendSlot>> posted_;    // posted, stream not yet synced
};

}  // namespace loong
