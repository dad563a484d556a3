// NcclCommunicator against CPU-computed expectations, on every rank of MPI_COMM_WORLD (1 rank when
// run alone, N under scripts/mpirun-local -np N). Without a CUDA device every collective test is
// skipped with the reason; the availability and no-device error tests run everywhere.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "ops/cuda/ops.h"
#include "parallel/mpi_communicator.h"
#include "parallel/nccl_communicator.h"

namespace loong {
namespace {

struct Env {
  bool have_device = false;
  std::string why;
  std::unique_ptr<MpiCommunicator> mpi;   // MPI_COMM_WORLD
  std::unique_ptr<NcclCommunicator> nccl;  // over the world, made once by the first GPU test
};
Env& env() {
  static Env e;
  return e;
}

// Skips the calling test when there is no device; otherwise returns the world NCCL communicator.
#define REQUIRE_NCCL()                                                         \
  if (!env().have_device) GTEST_SKIP() << "no CUDA device: " << env().why;    \
  if (!env().nccl) env().nccl = NcclCommunicator::create(*env().mpi, "test world"); \
  NcclCommunicator& comm = *env().nccl

template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : n_(n) {
    ops::cuda::check(cudaMalloc(reinterpret_cast<void**>(&p_), std::max<size_t>(n, 1) * sizeof(T)), "cudaMalloc");
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() { cudaFree(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() { return p_; }
  void upload(const std::vector<T>& host) {
    ops::cuda::check(cudaMemcpy(p_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy H2D");
  }
  std::vector<T> download() const {
    std::vector<T> host(n_);
    ops::cuda::check(cudaMemcpy(host.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost), "cudaMemcpy D2H");
    return host;
  }

 private:
  T* p_ = nullptr;
  size_t n_;
};

// Values are small integers or multiples of 1/4, so sums are exact in any order.
constexpr int64_t kN = (1 << 16) + 3;

TEST(NcclAvailable, AgreesWithCudaDeviceQuery) {
  std::string why_nccl, why_cuda;
  const bool nccl = nccl_available(&why_nccl);
  const bool cuda = ops::cuda::device_available(&why_cuda);
  EXPECT_EQ(nccl, cuda);
  if (!nccl) {
    EXPECT_FALSE(why_nccl.empty());
    std::printf("nccl_available: false (%s)\n", why_nccl.c_str());
  }
}

// Runs only where there is no device: construction must fail with a typed error that names the
// group and the rank, on every rank (no rank left hanging in the bootstrap).
TEST(NcclCommunicatorNoDevice, ConstructionFailsWithReason) {
  if (env().have_device) GTEST_SKIP() << "a CUDA device is present; this test covers the no-device error";
  try {
    auto comm = NcclCommunicator::create(*env().mpi, "test world");
    FAIL() << "NcclCommunicator was created without a CUDA device";
  } catch (const CudaError& e) {
    const std::string msg = e.what();
    std::printf("expected error: %s\n", msg.c_str());
    EXPECT_NE(msg.find("test world"), std::string::npos) << msg;
    EXPECT_NE(msg.find("rank " + std::to_string(env().mpi->rank())), std::string::npos) << msg;
    EXPECT_NE(msg.find("cudaGetDeviceCount"), std::string::npos) << msg;
  }
}

TEST(NcclCommunicator, AllReduceSumFloat) {
  REQUIRE_NCCL();
  const int r = comm.rank(), p = comm.size();
  std::vector<float> x(kN), want(kN);
  for (int64_t i = 0; i < kN; ++i) {
    x[i] = static_cast<float>((r + 1) + i % 7);
    want[i] = static_cast<float>(p * (p + 1) / 2 + p * (i % 7));
  }
  DeviceBuffer<float> d(x);
  comm.all_reduce_sum(d.get(), kN);
  EXPECT_EQ(d.download(), want);
}

TEST(NcclCommunicator, AllReduceMaxFloat) {
  REQUIRE_NCCL();
  const int r = comm.rank(), p = comm.size();
  auto value = [](int rank, int64_t i) { return static_cast<float>((i + 3 * rank) % 11 - 5); };
  std::vector<float> x(kN), want(kN);
  for (int64_t i = 0; i < kN; ++i) {
    x[i] = value(r, i);
    want[i] = value(0, i);
    for (int q = 1; q < p; ++q) want[i] = std::max(want[i], value(q, i));
  }
  DeviceBuffer<float> d(x);
  comm.all_reduce_max(d.get(), kN);
  EXPECT_EQ(d.download(), want);
}

TEST(NcclCommunicator, AllReduceSumDouble) {
  REQUIRE_NCCL();
  const int r = comm.rank(), p = comm.size();
  std::vector<double> x(kN), want(kN);
  for (int64_t i = 0; i < kN; ++i) {
    x[i] = 0.25 * static_cast<double>(i) + r;
    want[i] = 0.25 * static_cast<double>(i) * p + p * (p - 1) / 2.0;
  }
  DeviceBuffer<double> d(x);
  comm.all_reduce_sum(d.get(), kN);
  EXPECT_EQ(d.download(), want);
}

TEST(NcclCommunicator, ReduceScatterSum) {
  REQUIRE_NCCL();
  const int r = comm.rank(), p = comm.size();
  const int64_t m = 1001;
  std::vector<float> send(p * m), want(m);
  for (int64_t j = 0; j < p * m; ++j) send[j] = static_cast<float>(r + j % 13);
  for (int64_t i = 0; i < m; ++i) {
    float s = 0;
    for (int q = 0; q < p; ++q) s += static_cast<float>(q + (r * m + i) % 13);
    want[i] = s;
  }
  DeviceBuffer<float> ds(send), dr(m);
  comm.reduce_scatter_sum(ds.get(), dr.get(), m);
  EXPECT_EQ(dr.download(), want);
}

TEST(NcclCommunicator, AllGather) {
  REQUIRE_NCCL();
  const int r = comm.rank(), p = comm.size();
  const int64_t m = 777;
  std::vector<float> send(m), want(p * m);
  for (int64_t i = 0; i < m; ++i) send[i] = static_cast<float>(r * 1000 + i);
  for (int q = 0; q < p; ++q)
    for (int64_t i = 0; i < m; ++i) want[q * m + i] = static_cast<float>(q * 1000 + i);
  DeviceBuffer<float> ds(send), dr(p * m);
  comm.all_gather(ds.get(), dr.get(), m);
  EXPECT_EQ(dr.download(), want);
}

TEST(NcclCommunicator, Broadcast) {
  REQUIRE_NCCL();
  const int r = comm.rank(), root = comm.size() - 1;
  std::vector<float> x(kN), want(kN);
  for (int64_t i = 0; i < kN; ++i) {
    want[i] = 0.5f * static_cast<float>(i % 1000);
    x[i] = r == root ? want[i] : -1.0f;
  }
  DeviceBuffer<float> d(x);
  comm.broadcast(d.get(), kN, root);
  EXPECT_EQ(d.download(), want);
}

// The pipeline's pattern: every rank send_asyncs several messages to its successor in a ring and
// only then receives from its predecessor (mirrored, so eager blocking sends could deadlock). On
// one rank the successor is the rank itself. Messages arrive in order; sources are reused at once.
TEST(NcclCommunicator, SendAsyncThenRecvRing) {
  REQUIRE_NCCL();
  const int r = comm.rank(), p = comm.size();
  const int next = (r + 1) % p, prev = (r + p - 1) % p;
  const int64_t m = 4099;
  DeviceBuffer<float> src(m), dst(m);
  std::vector<std::unique_ptr<PendingSend>> sends;
  for (int k = 0; k < 3; ++k) {
    src.upload(std::vector<float>(m, static_cast<float>(100 * r + k)));
    sends.push_back(comm.send_async(src.get(), m, next));  // src is overwritten next iteration
  }
  for (int k = 0; k < 3; ++k) {
    comm.recv(dst.get(), m, prev);
    EXPECT_EQ(dst.download(), std::vector<float>(m, static_cast<float>(100 * prev + k))) << "message " << k;
  }
  for (auto& s : sends) s->wait();
}

// Blocking send/recv between pairs (0,1), (2,3), ...; needs two ranks.
TEST(NcclCommunicator, BlockingSendRecvPairs) {
  REQUIRE_NCCL();
  const int r = comm.rank(), p = comm.size();
  if (p < 2) GTEST_SKIP() << "needs 2 ranks (run under scripts/mpirun-local -np 2)";
  const int partner = r ^ 1;
  if (partner >= p) GTEST_SKIP() << "rank " << r << " has no partner";
  const int64_t m = 5000;
  DeviceBuffer<float> buf(std::vector<float>(m, static_cast<float>(r + 1)));
  if (r % 2 == 0) {
    comm.send(buf.get(), m, partner);
    comm.recv(buf.get(), m, partner);
  } else {
    DeviceBuffer<float> in(m);
    comm.recv(in.get(), m, partner);
    comm.send(buf.get(), m, partner);
    buf.upload(in.download());
  }
  EXPECT_EQ(buf.download(), std::vector<float>(m, static_cast<float>(partner + 1)));
}

TEST(NcclCommunicator, Barrier) {
  REQUIRE_NCCL();
  comm.barrier();
  comm.barrier();
  SUCCEED();
}

// A sub-group made the way ProcessGrid makes them: MPI split, then an NCCL communicator on it.
TEST(NcclCommunicator, SubGroupFromMpiSplit) {
  REQUIRE_NCCL();
  const int r = comm.rank(), p = comm.size();
  auto mpi_sub = env().mpi->split(r % 2, r, "parity group");
  auto sub = NcclCommunicator::create(*mpi_sub, "parity group");
  EXPECT_EQ(sub->size(), (p - r % 2 + 1) / 2);
  EXPECT_EQ(sub->rank(), r / 2);
  float want = 0;
  for (int q = r % 2; q < p; q += 2) want += static_cast<float>(q + 1);
  DeviceBuffer<float> d(std::vector<float>(10, static_cast<float>(r + 1)));
  sub->all_reduce_sum(d.get(), 10);
  EXPECT_EQ(d.download(), std::vector<float>(10, want));
}

TEST(NcclCommunicator, BadPeerIsAnInputErrorNamingTheGroup) {
  REQUIRE_NCCL();
  DeviceBuffer<float> d(4);
  try {
    comm.send_async(d.get(), 4, comm.size());
    FAIL() << "send_async to a rank outside the group was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("test world"), std::string::npos) << e.what();
  }
  comm.barrier();  // still usable
}

}  // namespace
}  // namespace loong

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  MPI_Init(&argc, &argv);
  int rc = 0;
  {
    auto& e = loong::env();
    e.have_device = loong::nccl_available(&e.why);
    e.mpi = std::make_unique<loong::MpiCommunicator>(MPI_COMM_WORLD, "world");
    if (e.have_device) loong::NcclCommunicator::bind_local_device(MPI_COMM_WORLD);
    rc = RUN_ALL_TESTS();
    e.nccl.reset();  // NCCL and MPI communicators go before MPI_Finalize
    e.mpi.reset();
  }
  MPI_Finalize();
  return rc;
}
