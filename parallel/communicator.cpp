#include "parallel/communicator.h"

#include <cstring>

#include "core/error.h"

namespace loong {

void LocalCommunicator::reduce_scatter_sum(const float* send, float* recv, int64_t n) {
  if (send != recv) std::memmove(recv, send, n * sizeof(float));
}
void LocalCommunicator::all_gather(const float* send, float* recv, int64_t n) {
  if (send != recv) std::memmove(recv, send, n * sizeof(float));
}
void LocalCommunicator::send(const float*, int64_t, int peer) {
  throw Error(name_ + ": send to rank " + std::to_string(peer) + " in a group of one");
}
void LocalCommunicator::recv(float*, int64_t, int peer) {
  throw Error(name_ + ": recv from rank " + std::to_string(peer) + " in a group of one");
}

std::unique_ptr<PendingSend> LocalCommunicator::send_async(const float*, int64_t, int peer) {
  throw Error(name_ + ": send to rank " + std::to_string(peer) + " in a group of one");
}

}  // namespace loong
