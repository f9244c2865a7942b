// One Register* function per op family; addon.cc calls each once. Adding a family adds one line
// here and one in addon.cc.
#pragma once
#include <napi.h>

namespace tensile {

void RegisterStorage(Napi::Env env, Napi::Object exports);
void RegisterElementwise(Napi::Env env, Napi::Object exports);
void RegisterReduce(Napi::Env env, Napi::Object exports);
void RegisterGemm(Napi::Env env, Napi::Object exports);
void RegisterConv2d(Napi::Env env, Napi::Object exports);
void RegisterPool2d(Napi::Env env, Napi::Object exports);
void RegisterActivation(Napi::Env env, Napi::Object exports);
void RegisterBatchNorm(Napi::Env env, Napi::Object exports);
void RegisterLoss(Napi::Env env, Napi::Object exports);
void RegisterOptim(Napi::Env env, Napi::Object exports);

}  // namespace tensile
