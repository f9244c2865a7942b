// N-API glue for native/ops/optim.h. lib/optim/*.ts validates options and shapes first; here we
// check what would otherwise read or write out of bounds, since the binding is callable directly.
#include "../ops/optim.h"

#include "registry.h"
#include "util.h"

namespace tensile {
namespace {

// The wording test/optim pins for a tensor that does not fit its storage.
constexpr RangeError kOptimRange = RangeError::DoesNotFit;

int64_t numel_arg(const Napi::CallbackInfo& info, int i, const char* op) {
  int64_t n = int_arg(info, i);
  TENSILE_CHECK(n >= 0, ValueError, op, ": invalid number of elements ", n);
  return n;
}

// sgdStep(param, paramOff, grad, gradOff, momentumBuf | null, bufOff, n, dtype, lr, momentum, dampening, nesterov,
//         weightDecay, maximize, firstStep): param and momentumBuf (n) updated in place.
Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  int64_t n = numel_arg(info, 6, "sgd_step");
  DType dt = dtype_arg(info, 7);
  double lr = double_arg(info, 8), momentum = double_arg(info, 9), dampening = double_arg(info, 10);
  bool nesterov = bool_arg(info, 11);
  double weight_decay = double_arg(info, 12);
  bool maximize = bool_arg(info, 13), first_step = bool_arg(info, 14);
  TENSILE_CHECK(lr >= 0, ValueError, "sgd_step: invalid learning rate: ", lr);
  TENSILE_CHECK(momentum >= 0, ValueError, "sgd_step: invalid momentum value: ", momentum);
  TENSILE_CHECK(weight_decay >= 0, ValueError, "sgd_step: invalid weight_decay value: ", weight_decay);
  TENSILE_CHECK(momentum == 0 || !is_null_arg(info, 4), ValueError, "sgd_step: momentum ", momentum, " needs a momentum buffer");
  dispatch_floating(dt, "sgd_step", [&](auto t) {
    using T = decltype(t);
    T* param = checked_ptr<T>(info, 0, n, "sgd_step", "param", kOptimRange);
    const T* grad = checked_ptr<T>(info, 2, n, "sgd_step", "grad", kOptimRange);
    T* buf = momentum != 0 ? checked_ptr<T>(info, 4, n, "sgd_step", "momentum_buf", kOptimRange) : nullptr;
    if (n == 0) return;
    sgd_step_cpu<T>(param, grad, buf, n, lr, momentum, dampening, nesterov, weight_decay, maximize, first_step);
  });
  return info.Env().Undefined();
}

// adamStep(param, paramOff, grad, gradOff, expAvg, expAvgOff, expAvgSq, expAvgSqOff, maxExpAvgSq | null,
//          maxExpAvgSqOff, n, dtype, lr, beta1, beta2, eps, weightDecay, step, amsgrad, decoupled, maximize):
// param and the three state buffers (n) updated in place; step counts this step (>= 1).
Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  int64_t n = numel_arg(info, 10, "adam_step");
  DType dt = dtype_arg(info, 11);
  double lr = double_arg(info, 12), beta1 = double_arg(info, 13), beta2 = double_arg(info, 14);
  double eps = double_arg(info, 15), weight_decay = double_arg(info, 16);
  int64_t step = int_arg(info, 17);
  bool amsgrad = bool_arg(info, 18), decoupled = bool_arg(info, 19), maximize = bool_arg(info, 20);
  TENSILE_CHECK(lr >= 0, ValueError, "adam_step: invalid learning rate: ", lr);
  TENSILE_CHECK(beta1 >= 0 && beta1 < 1, ValueError, "adam_step: invalid beta parameter at index 0: ", beta1);
  TENSILE_CHECK(beta2 >= 0 && beta2 < 1, ValueError, "adam_step: invalid beta parameter at index 1: ", beta2);
  TENSILE_CHECK(eps >= 0, ValueError, "adam_step: invalid epsilon value: ", eps);
  TENSILE_CHECK(weight_decay >= 0, ValueError, "adam_step: invalid weight_decay value: ", weight_decay);
  TENSILE_CHECK(step >= 1, ValueError, "adam_step: step must be at least 1, got ", step);
  TENSILE_CHECK(!amsgrad || !is_null_arg(info, 8), ValueError, "adam_step: amsgrad needs a max_exp_avg_sq buffer");
  dispatch_floating(dt, "adam_step", [&](auto t) {
    using T = decltype(t);
    T* param = checked_ptr<T>(info, 0, n, "adam_step", "param", kOptimRange);
    const T* grad = checked_ptr<T>(info, 2, n, "adam_step", "grad", kOptimRange);
    T* exp_avg = checked_ptr<T>(info, 4, n, "adam_step", "exp_avg", kOptimRange);
    T* exp_avg_sq = checked_ptr<T>(info, 6, n, "adam_step", "exp_avg_sq", kOptimRange);
    T* max_exp_avg_sq = amsgrad ? checked_ptr<T>(info, 8, n, "adam_step", "max_exp_avg_sq", kOptimRange) : nullptr;
    if (n == 0) return;
    adam_step_cpu<T>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, n, lr, beta1, beta2, eps, weight_decay, step,
                     amsgrad, decoupled, maximize);
  });
  return info.Env().Undefined();
}

}  // namespace

void RegisterOptim(Napi::Env env, Napi::Object exports) {
  TENSILE_EXPORT(exports, "sgdStep", SgdStep);
  TENSILE_EXPORT(exports, "adamStep", AdamStep);
}

}  // namespace tensile
