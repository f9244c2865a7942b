// cudart is linked statically and opens libcuda.so.1 itself, so on a machine without a driver
// these calls return cudaErrorInsufficientDriver instead of failing to load.
#include <cuda_runtime.h>

#include <string>

#include "cuda_probe.h"

namespace tensile {
namespace {

// Never launched: asking for its attributes tells whether this binary has code the device can run
// (SASS for its architecture, or PTX the driver can compile for it).
__global__ void probe_kernel() {}

}  // namespace

namespace {

CudaProbe probe_once() {
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
  // Only devices this build has kernels for count: an older GPU (a T4, sm_75, when the build targets
  // sm_80 and newer) would fail every launch with cudaErrorNoKernelImageForDevice.
  int usable = 0;
  for (int d = 0; d < n; d++) {
    cudaFuncAttributes attr;
    cudaError_t e = cudaSetDevice(d);
    if (e == cudaSuccess) e = cudaFuncGetAttributes(&attr, probe_kernel);
    if (e == cudaSuccess) {
      // Usable devices come first in CUDA's order only if the unusable ones follow; stop at the
      // first gap so that cuda:k always means CUDA device k.
      if (usable == d) usable++;
      continue;
    }
    cudaGetLastError();
    if (usable == 0 && p.code == 0) {
      cudaDeviceProp prop;
      const bool named = cudaGetDeviceProperties(&prop, d) == cudaSuccess;
      cudaGetLastError();
      p.code = int(e);
      p.error_name = cudaGetErrorName(e);
      p.message = std::string("cuda:") + std::to_string(d) + (named ? std::string(" (") + prop.name + ", compute capability " +
                                                                         std::to_string(prop.major) + "." + std::to_string(prop.minor) + ")"
                                                                   : std::string()) +
                  " cannot run this build's kernels (" + cudaGetErrorString(e) + "); rebuild with CMAKE_CUDA_ARCHITECTURES for it";
    }
  }
  cudaSetDevice(0);
  cudaGetLastError();
  p.device_count = usable;
  return p;
}

}  // namespace

// Probed once per process: the answer does not change while it runs, and probing switches the
// calling thread's current device, which cuda_set_device caches (so it must happen before any use).
const CudaProbe& cuda_probe() {
  static const CudaProbe p = probe_once();
  return p;
}

}  // namespace tensile
