// Communicator over an MPI communicator (CPU buffers). Owns the MPI_Comm it is given (frees it on
// destruction unless it is MPI_COMM_WORLD).
#pragma once
#include <mpi.h>

#include "parallel/communicator.h"

namespace loong {

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(MPI_Comm comm, std::string name);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  MPI_Comm comm() const { return comm_; }
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

  // A sub-group: ranks with the same `color`, ordered by `key` (MPI_Comm_split).
  std::unique_ptr<MpiCommunicator> split(int color, int key, const std::string& name) const;

 private:
  void check(int rc, const char* call) const;
  MPI_Comm comm_;
  std::string name_;
  int rank_ = 0, size_ = 1;
};

}  // namespace loong
