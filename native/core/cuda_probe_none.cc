// Built when CMake found no nvcc, and by binding.gyp (always CPU-only).
#include "cuda_probe.h"

namespace tensile {

const CudaProbe& cuda_probe() {
  static const CudaProbe p{false, 0, -1, "NotCompiled", "this build of tensile has no CUDA kernels (built without nvcc)", 0, 0};
  return p;
}

}  // namespace tensile
