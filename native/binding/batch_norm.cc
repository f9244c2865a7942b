// N-API glue for native/ops/batch_norm.h (being written; exports are added as the kernels land).
#include "registry.h"
#include "util.h"

namespace tensile {

void RegisterBatchNorm(Napi::Env env, Napi::Object exports) {}

}  // namespace tensile
