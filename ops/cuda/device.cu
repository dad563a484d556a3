// Device discovery, the CUDA context (stream + cuBLAS handle) and error checking.
#include <string>

#include "ops/cuda/common.cuh"

namespace loong::ops::cuda {

void check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  throw CudaError(std::string("CUDA error in ") + what + ": " + cudaGetErrorName(status) + " (" +
                  cudaGetErrorString(status) + ")");
}

void check(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw CudaError(std::string("cuBLAS error in ") + what + ": " + cublasGetStatusName(status) + " (" +
                  cublasGetStatusString(status) + ")");
}

bool device_available(std::string* why) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();  // reset the last-error state so later checks start clean
    if (why) *why = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(status);
    return false;
  }
  if (count == 0) {
    if (why) *why = "cudaGetDeviceCount: 0 devices";
    return false;
  }
  if (why) why->clear();
  return true;
}

CudaContext make_context(int device) {
  CudaContext ctx;
  check(cudaSetDevice(device), "cudaSetDevice");
  check(cudaStreamCreateWithFlags(&ctx.stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  const cublasStatus_t created = cublasCreate(&ctx.blas);
  if (created != CUBLAS_STATUS_SUCCESS) {
    cudaStreamDestroy(ctx.stream);
    check(created, "cublasCreate");
  }
  try {
    check(cublasSetStream(ctx.blas, ctx.stream), "cublasSetStream");
    // Plain FP32: no TF32 tensor-op downcast, so results stay comparable with the CPU kernels.
    check(cublasSetMathMode(ctx.blas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  } catch (...) {
    destroy_context(ctx);
    throw;
  }
  return ctx;
}

void destroy_context(CudaContext& ctx) {
  if (ctx.blas) cublasDestroy(ctx.blas);
  if (ctx.stream) cudaStreamDestroy(ctx.stream);
  ctx = CudaContext{};
}

void synchronize(const CudaContext& ctx) { check(cudaStreamSynchronize(ctx.stream), "cudaStreamSynchronize"); }

}  // namespace loong::ops::cuda
