// N-API glue for native/ops/gemm.h (being written; exports are added as the kernels land).
#include "registry.h"
#include "util.h"

namespace tensile {

void RegisterGemm(Napi::Env env, Napi::Object exports) {}

}  // namespace tensile
