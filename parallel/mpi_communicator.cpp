#include "parallel/mpi_communicator.h"

#include <climits>
#include <vector>

#include "core/error.h"

namespace loong {
namespace {
// MPI counts are int; large buffers go in chunks.
constexpr int64_t kChunk = INT_MAX / 2;
}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm comm, std::string name) : comm_(comm), name_(std::move(name)) {
  check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  // Errors come back as return codes so they can be reported with context instead of aborting.
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && comm_ != MPI_COMM_WORLD && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

void MpiCommunicator::check(int rc, const char* call) const {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw Error(std::string(call) + " failed on rank " + std::to_string(rank_) + " of " + name_ + ": " +
              std::string(text, len));
}

void MpiCommunicator::all_reduce_sum(float* data, int64_t n) {
  for (int64_t o = 0; o < n; o += kChunk)
    check(MPI_Allreduce(MPI_IN_PLACE, data + o, static_cast<int>(std::min(kChunk, n - o)), MPI_FLOAT, MPI_SUM, comm_),
          "MPI_Allreduce");
}
void MpiCommunicator::all_reduce_max(float* data, int64_t n) {
  for (int64_t o = 0; o < n; o += kChunk)
    check(MPI_Allreduce(MPI_IN_PLACE, data + o, static_cast<int>(std::min(kChunk, n - o)), MPI_FLOAT, MPI_MAX, comm_),
          "MPI_Allreduce");
}
void MpiCommunicator::all_reduce_sum(double* data, int64_t n) {
  for (int64_t o = 0; o < n; o += kChunk)
    check(MPI_Allreduce(MPI_IN_PLACE, data + o, static_cast<int>(std::min(kChunk, n - o)), MPI_DOUBLE, MPI_SUM, comm_),
          "MPI_Allreduce");
}
void MpiCommunicator::reduce_scatter_sum(const float* send, float* recv, int64_t recv_count) {
  if (recv_count > INT_MAX) throw Error("reduce_scatter of " + std::to_string(recv_count) + " floats on " + name_);
  check(MPI_Reduce_scatter_block(send, recv, static_cast<int>(recv_count), MPI_FLOAT, MPI_SUM, comm_),
        "MPI_Reduce_scatter_block");
}
void MpiCommunicator::all_gather(const float* send, float* recv, int64_t send_count) {
  if (send_count > INT_MAX) throw Error("all_gather of " + std::to_string(send_count) + " floats on " + name_);
  check(MPI_Allgather(send, static_cast<int>(send_count), MPI_FLOAT, recv, static_cast<int>(send_count), MPI_FLOAT,
                      comm_),
        "MPI_Allgather");
}
void MpiCommunicator::broadcast(float* data, int64_t n, int root) {
  for (int64_t o = 0; o < n; o += kChunk)
    check(MPI_Bcast(data + o, static_cast<int>(std::min(kChunk, n - o)), MPI_FLOAT, root, comm_), "MPI_Bcast");
}
void MpiCommunicator::send(const float* data, int64_t n, int peer) {
  for (int64_t o = 0; o < n; o += kChunk)
    check(MPI_Send(data + o, static_cast<int>(std::min(kChunk, n - o)), MPI_FLOAT, peer, 0, comm_), "MPI_Send");
}
void MpiCommunicator::recv(float* data, int64_t n, int peer) {
  for (int64_t o = 0; o < n; o += kChunk)
    check(MPI_Recv(data + o, static_cast<int>(std::min(kChunk, n - o)), MPI_FLOAT, peer, 0, comm_, MPI_STATUS_IGNORE),
          "MPI_Recv");
}
namespace {
class MpiPendingSend final : public PendingSend {
 public:
  MpiPendingSend(const float* data, int64_t n) : buffer_(data, data + n) {}
  ~MpiPendingSend() override {
    if (!done_) MPI_Wait(&request_, MPI_STATUS_IGNORE);
  }
  void wait() override {
    if (done_) return;
    done_ = true;
    int rc = MPI_Wait(&request_, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) throw Error("MPI_Wait on a pipeline send failed (peer gone?)");
  }
  std::vector<float> buffer_;
  MPI_Request request_ = MPI_REQUEST_NULL;
  bool done_ = false;
};
}  // namespace

std::unique_ptr<PendingSend> MpiCommunicator::send_async(const float* data, int64_t n, int peer) {
  if (n > INT_MAX) throw Error("send of " + std::to_string(n) + " floats on " + name_ + " exceeds one MPI message");
  auto p = std::make_unique<MpiPendingSend>(data, n);
  check(MPI_Isend(p->buffer_.data(), static_cast<int>(n), MPI_FLOAT, peer, 0, comm_, &p->request_), "MPI_Isend");
  return p;
}

void MpiCommunicator::barrier() { check(MPI_Barrier(comm_), "MPI_Barrier"); }

std::unique_ptr<MpiCommunicator> MpiCommunicator::split(int color, int key, const std::string& name) const {
  MPI_Comm sub;
  check(MPI_Comm_split(comm_, color, key, &sub), "MPI_Comm_split");
  if (sub == MPI_COMM_NULL) return nullptr;
  return std::make_unique<MpiCommunicator>(sub, name);
}

}  // namespace loong
