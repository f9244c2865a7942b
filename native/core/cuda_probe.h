// What the CUDA runtime says about this machine. Compiled from cuda_probe.cu when nvcc was found,
// else from cuda_probe_none.cc; either way the addon loads without a driver.
#pragma once
#include <string>

namespace tensile {

struct CudaProbe {
  bool compiled;        // this .node carries CUDA kernels
  int device_count;     // 0 when unavailable
  int code;             // cudaError_t of the first failing call, 0 when fine
  std::string error_name;
  std::string message;  // why there is no device, in the runtime's words
  int driver_version;
  int runtime_version;
};

// Probed once per process (the answer does not change while it runs); the same object every call.
const CudaProbe& cuda_probe();

}  // namespace tensile
