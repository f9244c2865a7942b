// N-API glue for native/ops/activation.h: range checks on every buffer so that a direct call
// cannot read or write outside its storage; option rules (p in [0, 1], ...) live in
// lib/ops/activation.ts.
#include "../ops/activation.h"

#include <cmath>

#include "registry.h"
#include "util.h"

namespace tensile {
namespace {

Activation act_arg(const Napi::CallbackInfo& info, int i) {
  int64_t a = int_arg(info, i);
  TENSILE_CHECK(a >= 0 && a <= int64_t(Activation::Tanh), ValueError, "activation: unknown activation code ", a);
  return Activation(a);
}

int64_t count_arg(const Napi::CallbackInfo& info, int i, const char* op) {
  int64_t n = int_arg(info, i);
  TENSILE_CHECK(n >= 0, ValueError, op, ": element count must be non-negative, got ", n);
  return n;
}

double p_arg(const Napi::CallbackInfo& info, int i) {
  double p = double_arg(info, i);
  TENSILE_CHECK(p >= 0 && p < 1, ValueError, "dropout: probability must be in [0, 1) for the kernel, got ", p);
  return p;
}

// activationForward(act, out, outOff, x, xOff, n, dtype, slope)
// out (n), x (n); slope is leaky_relu's negative slope.
Napi::Value ActivationForward(const Napi::CallbackInfo& info) {
  Activation act = act_arg(info, 0);
  int64_t n = count_arg(info, 5, "activation");
  double slope = double_arg(info, 7);
  dispatch_floating(dtype_arg(info, 6), "activation", [&](auto t) {
    using T = decltype(t);
    auto* output_p = checked_ptr<T>(info, 1, n, "activation", "output");
    auto* input_p = checked_ptr<T>(info, 3, n, "activation", "input");
    TENSILE_ON_DEVICE("activation", activation_forward, <T>, act, output_p, input_p, n, slope);
  });
  return info.Env().Undefined();
}

// activationBackward(act, dx, dxOff, dy, dyOff, saved, savedOff, n, dtype, slope)
// dx, dy, saved (n): saved is the forward output (relu, sigmoid, tanh) or input (leaky_relu).
Napi::Value ActivationBackward(const Napi::CallbackInfo& info) {
  const char* op = "activation_backward";
  Activation act = act_arg(info, 0);
  int64_t n = count_arg(info, 7, op);
  double slope = double_arg(info, 9);
  dispatch_floating(dtype_arg(info, 8), op, [&](auto t) {
    using T = decltype(t);
    auto* grad_input_p = checked_ptr<T>(info, 1, n, op, "grad_input");
    auto* grad_output_p = checked_ptr<T>(info, 3, n, op, "grad_output");
    auto* saved_p = checked_ptr<T>(info, 5, n, op, "saved");
    TENSILE_ON_DEVICE(op, activation_backward, <T>, act, grad_input_p, grad_output_p, saved_p, n, slope);
  });
  return info.Env().Undefined();
}

// dropoutForward(out, outOff, mask, maskOff, x, xOff, n, dtype, p, seedHi, seedLo)
// out (n), mask (n) uint8, x (n); 0 <= p < 1.
Napi::Value DropoutForward(const Napi::CallbackInfo& info) {
  const char* op = "dropout";
  int64_t n = count_arg(info, 6, op);
  double p = p_arg(info, 8);
  uint64_t seed = seed_arg(info, 9);
  uint8_t* mask = checked_ptr<uint8_t>(info, 2, n, op, "mask");
  dispatch_floating(dtype_arg(info, 7), op, [&](auto t) {
    using T = decltype(t);
    auto* output_p = checked_ptr<T>(info, 0, n, op, "output");
    auto* input_p = checked_ptr<T>(info, 4, n, op, "input");
    TENSILE_ON_DEVICE(op, dropout_forward, <T>, output_p, mask, input_p, n, p, seed);
  });
  return info.Env().Undefined();
}

// dropoutBackward(dx, dxOff, dy, dyOff, mask, maskOff, n, dtype, p)
// dx (n), dy (n), mask (n) uint8 from dropoutForward.
Napi::Value DropoutBackward(const Napi::CallbackInfo& info) {
  const char* op = "dropout_backward";
  int64_t n = count_arg(info, 6, op);
  double p = p_arg(info, 8);
  const uint8_t* mask = checked_ptr<uint8_t>(info, 4, n, op, "mask");
  dispatch_floating(dtype_arg(info, 7), op, [&](auto t) {
    using T = decltype(t);
    auto* grad_input_p = checked_ptr<T>(info, 0, n, op, "grad_input");
    auto* grad_output_p = checked_ptr<T>(info, 2, n, op, "grad_output");
    TENSILE_ON_DEVICE(op, dropout_backward, <T>, grad_input_p, grad_output_p, mask, n, p);
  });
  return info.Env().Undefined();
}

}  // namespace

void RegisterActivation(Napi::Env env, Napi::Object exports) {
  TENSILE_EXPORT(exports, "activationForward", ActivationForward);
  TENSILE_EXPORT(exports, "activationBackward", ActivationBackward);
  TENSILE_EXPORT(exports, "dropoutForward", DropoutForward);
  TENSILE_EXPORT(exports, "dropoutBackward", DropoutBackward);
}

}  // namespace tensile
