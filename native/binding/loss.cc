// N-API glue for native/ops/loss.h (being written; exports are added as the kernels land).
#include "registry.h"
#include "util.h"

namespace tensile {

void RegisterLoss(Napi::Env env, Napi::Object exports) {}

}  // namespace tensile
