// cudart is linked statically and opens libcuda.so.1 itself, so on a machine without a driver
// these calls return cudaErrorInsufficientDriver instead of failing to load.
#include <cuda_runtime.h>

#include "cuda_probe.h"

namespace tensile {

CudaProbe cuda_probe() {
  CudaProbe p{true, 0, 0, "", "", 0, 0};
  cudaRuntimeGetVersion(&p.runtime_version);
  cudaDriverGetVersion(&p.driver_version);
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    p.code = int(err);
    p.error_name = cudaGetErrorName(err);
    p.message = cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error so later probes answer the same
    return p;
  }
  p.device_count = n;
  return p;
}

}  // namespace tensile
