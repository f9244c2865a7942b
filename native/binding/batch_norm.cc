// N-API glue for native/ops/batch_norm.h: range checks on every buffer so that a direct call
// cannot read or write outside its storage. Shape and option rules (channel counts, more than
// one value per channel when training) live in lib/ops/batch_norm.ts.
#include "../ops/batch_norm.h"

#include "registry.h"
#include "util.h"

namespace tensile {
namespace {

struct Dims {
  int64_t N, C, S, numel;
};

Dims dims_arg(const Napi::CallbackInfo& info, int i, const char* op) {
  Dims d{int_arg(info, i), int_arg(info, i + 1), int_arg(info, i + 2), 0};
  int64_t nc = 0;
  TENSILE_CHECK(d.N >= 0 && d.C >= 0 && d.S >= 0 && !__builtin_mul_overflow(d.N, d.C, &nc) && !__builtin_mul_overflow(nc, d.S, &d.numel),
                ValueError, op, ": invalid sizes N=", d.N, " C=", d.C, " S=", d.S);
  // No element in a channel: the loops over N (or S) must not run over nothing (N = 2^47 with
  // S = 0 passes every size check).
  if (d.N == 0 || d.S == 0) d.N = d.S = 0;
  return d;
}

// batchNormForward(out, outOff, saveMean, saveMeanOff, saveInvstd, saveInvstdOff, runningMean|null, runningMeanOff,
//                  runningVar|null, runningVarOff, x, xOff, weight|null, weightOff, bias|null, biasOff,
//                  N, C, S, training, momentum, eps, dtype)
// out, x (N, C, S); saveMean, saveInvstd, runningMean, runningVar, weight, bias (C). Training updates the
// running stats in place when given; eval requires them.
Napi::Value BatchNormForward(const Napi::CallbackInfo& info) {
  const char* op = "batch_norm";
  Dims d = dims_arg(info, 16, op);
  bool training = bool_arg(info, 19);
  double momentum = double_arg(info, 20), eps = double_arg(info, 21);
  dispatch_floating(dtype_arg(info, 22), op, [&](auto t) {
    using T = decltype(t);
    T* rm = optional_checked_ptr<T>(info, 6, d.C, op, "running_mean");
    T* rv = optional_checked_ptr<T>(info, 8, d.C, op, "running_var");
    TENSILE_CHECK(training || (rm && rv), ValueError, op, ": running_mean and running_var must be given when training is false");
    auto* output_p = checked_ptr<T>(info, 0, d.numel, op, "output");
    auto* save_mean_p = checked_ptr<T>(info, 2, d.C, op, "save_mean");
    auto* save_invstd_p = checked_ptr<T>(info, 4, d.C, op, "save_invstd");
    auto* input_p = checked_ptr<T>(info, 10, d.numel, op, "input");
    auto* weight_p = optional_checked_ptr<T>(info, 12, d.C, op, "weight");
    auto* bias_p = optional_checked_ptr<T>(info, 14, d.C, op, "bias");
    TENSILE_ON_DEVICE(op, batch_norm_forward, <T>, output_p, save_mean_p, save_invstd_p, rm, rv, input_p, weight_p, bias_p, d.N, d.C, d.S, training, momentum, eps);
  });
  return info.Env().Undefined();
}

// batchNormBackward(dx|null, dxOff, dweight|null, dweightOff, dbias|null, dbiasOff, dy, dyOff, x, xOff,
//                   saveMean, saveMeanOff, saveInvstd, saveInvstdOff, weight|null, weightOff, N, C, S, training, dtype)
// dx, dy, x (N, C, S); dweight, dbias, saveMean, saveInvstd, weight (C).
Napi::Value BatchNormBackward(const Napi::CallbackInfo& info) {
  const char* op = "batch_norm_backward";
  Dims d = dims_arg(info, 16, op);
  bool training = bool_arg(info, 19);
  dispatch_floating(dtype_arg(info, 20), op, [&](auto t) {
    using T = decltype(t);
    auto* grad_input_p = optional_checked_ptr<T>(info, 0, d.numel, op, "grad_input");
    auto* grad_weight_p = optional_checked_ptr<T>(info, 2, d.C, op, "grad_weight");
    auto* grad_bias_p = optional_checked_ptr<T>(info, 4, d.C, op, "grad_bias");
    auto* grad_output_p = checked_ptr<T>(info, 6, d.numel, op, "grad_output");
    auto* input_p = checked_ptr<T>(info, 8, d.numel, op, "input");
    auto* save_mean_p = checked_ptr<T>(info, 10, d.C, op, "save_mean");
    auto* save_invstd_p = checked_ptr<T>(info, 12, d.C, op, "save_invstd");
    auto* weight_p = optional_checked_ptr<T>(info, 14, d.C, op, "weight");
    TENSILE_ON_DEVICE(op, batch_norm_backward, <T>, grad_input_p, grad_weight_p, grad_bias_p, grad_output_p, input_p, save_mean_p, save_invstd_p, weight_p, d.N, d.C, d.S, training);
  });
  return info.Env().Undefined();
}

}  // namespace

void RegisterBatchNorm(Napi::Env env, Napi::Object exports) {
  TENSILE_EXPORT(exports, "batchNormForward", BatchNormForward);
  TENSILE_EXPORT(exports, "batchNormBackward", BatchNormBackward);
}

}  // namespace tensile
