// N-API glue for native/ops/activation.h (being written; exports are added as the kernels land).
#include "registry.h"
#include "util.h"

namespace tensile {

void RegisterActivation(Napi::Env env, Napi::Object exports) {}

}  // namespace tensile
