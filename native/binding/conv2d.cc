// N-API glue for native/ops/conv2d.h (being written; exports are added as the kernels land).
#include "registry.h"
#include "util.h"

namespace tensile {

void RegisterConv2d(Napi::Env env, Napi::Object exports) {}

}  // namespace tensile
