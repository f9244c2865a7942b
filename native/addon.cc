// tensile's N-API addon: the registration table. Each op family registers its exports from
// native/binding/<family>.cc; lib/native.ts declares the same names for TypeScript.
#include <napi.h>

#include "binding/registry.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  tensile::RegisterStorage(env, exports);
  tensile::RegisterElementwise(env, exports);
  tensile::RegisterReduce(env, exports);
  tensile::RegisterGemm(env, exports);
  tensile::RegisterConv2d(env, exports);
  tensile::RegisterPool2d(env, exports);
  tensile::RegisterActivation(env, exports);
  tensile::RegisterBatchNorm(env, exports);
  tensile::RegisterLoss(env, exports);
  tensile::RegisterOptim(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(tensile, Init)
