// Collectives and point-to-point transfers over a group of ranks. One interface, three backends:
//   LocalCommunicator  a group of one (single process: every collective is the identity),
//   MpiCommunicator    CPU buffers over an MPI communicator (Open MPI),
//   NcclCommunicator   GPU buffers over NCCL (parallel/nccl_communicator.h; CUDA builds only).
// Buffers are float32 element counts, not bytes. All ranks of the group must call a collective
// with the same count, in the same order. Errors are loong::Error naming the call and the rank.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace loong {

// A send in flight; its data was copied, so the caller's buffer is free at once.
class PendingSend {
 public:
  virtual ~PendingSend() = default;
  virtual void wait() = 0;  // blocks until the peer has the data (or the transport took it)
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Human-readable name of the group, used in errors ("tp group of worker 3").
  virtual std::string name() const = 0;

  // In place: data = sum (or max) over ranks of data. n elements.
  virtual void all_reduce_sum(float* data, int64_t n) = 0;
  virtual void all_reduce_max(float* data, int64_t n) = 0;
  virtual void all_reduce_sum(double* data, int64_t n) = 0;
  // send holds size()*recv_count elements; rank r receives the sum over ranks of block r.
  virtual void reduce_scatter_sum(const float* send, float* recv, int64_t recv_count) = 0;
  // send holds send_count elements; recv receives size()*send_count, block r from rank r.
  virtual void all_gather(const float* send, float* recv, int64_t send_count) = 0;
  virtual void broadcast(float* data, int64_t n, int root) = 0;
  virtual void send(const float* data, int64_t n, int peer) = 0;
  virtual void recv(float* data, int64_t n, int peer) = 0;
  // Non-blocking send of a copy of data: the pipeline uses it so that two stages sending to each
  // other at the same moment cannot deadlock.
  virtual std::unique_ptr<PendingSend> send_async(const float* data, int64_t n, int peer) = 0;
  virtual void barrier() = 0;
};

// The group of one rank.
class LocalCommunicator final : public Communicator {
 public:
  explicit LocalCommunicator(std::string name = "local") : name_(std::move(name)) {}
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return name_; }
  void all_reduce_sum(float*, int64_t) override {}
  void all_reduce_max(float*, int64_t) override {}
  void all_reduce_sum(double*, int64_t) override {}
  void reduce_scatter_sum(const float* send, float* recv, int64_t n) override;
  void all_gather(const float* send, float* recv, int64_t n) override;
  void broadcast(float*, int64_t, int) override {}
  void send(const float*, int64_t, int peer) override;
  void recv(float*, int64_t, int peer) override;
  std::unique_ptr<PendingSend> send_async(const float*, int64_t, int peer) override;
  void barrier() override {}

 private:
  std::string name_;
};

}  // namespace loong
