// N-API glue for native/ops/optim.h (being written; exports are added as the kernels land).
#include "registry.h"
#include "util.h"

namespace tensile {

void RegisterOptim(Napi::Env env, Napi::Object exports) {}

}  // namespace tensile
