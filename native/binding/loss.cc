// N-API glue for native/ops/loss.h. Shapes and options are validated in lib/ops/loss.ts; here we
// check what would otherwise read or write out of bounds: every buffer against its storage size,
// the reduction code, and every class-index target against [0, C) before any kernel reads with it.
#include "../ops/loss.h"

#include "registry.h"
#include "util.h"

namespace tensile {
namespace {

constexpr int64_t kMaxDim = int64_t(1) << 48;  // far above any real size; keeps products in int64

// A dimension argument: an integer in [0, 2^48).
int64_t dim_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name) {
  int64_t d = int_arg(info, i);
  TENSILE_CHECK(d >= 0 && d < kMaxDim, ValueError, op, ": ", name, " must be a non-negative size but got ", d);
  return d;
}

// outer * C * inner, rejecting products that would overflow.
int64_t checked_numel(const char* op, int64_t outer, int64_t C, int64_t inner) {
  int64_t oc = 0, n = 0;
  TENSILE_CHECK(!__builtin_mul_overflow(outer, C, &oc) && !__builtin_mul_overflow(oc, inner, &n) && n < kMaxDim,
                ValueError, op, ": sizes (", outer, ", ", C, ", ", inner, ") are too large");
  return n;
}

// tensor_ptr<T>, after checking that the storage holds `n` elements of T from the offset on.
template <typename T>
T* sized_ptr(const Napi::CallbackInfo& info, int i, int64_t n, const char* op, const char* name) {
  Storage* s = storage_arg(info, i);
  int64_t offset = int_arg(info, i + 1);
  TENSILE_CHECK(s->device == 0, DeviceError, op, ": ", name, " is not a CPU tensor");
  TENSILE_CHECK(offset >= 0 && offset < kMaxDim && uint64_t(offset + n) * sizeof(T) <= s->bytes, ValueError, op, ": ", name,
                " needs ", n, " elements from offset ", offset, " but its storage holds ", s->bytes / sizeof(T));
  return static_cast<T*>(s->data) + offset;
}

template <typename T>
T* optional_sized_ptr(const Napi::CallbackInfo& info, int i, int64_t n, const char* op, const char* name) {
  return is_null_arg(info, i) ? nullptr : sized_ptr<T>(info, i, n, op, name);
}

Reduction reduction_arg(const Napi::CallbackInfo& info, int i, const char* op) {
  int64_t r = int_arg(info, i);
  TENSILE_CHECK(r >= 0 && r <= 2, ValueError, op, ": unknown reduction code ", r, " (expected 0 none, 1 mean or 2 sum)");
  return Reduction(r);
}

// Every target in [0, C) or equal to ignore_index; the first offender is an IndexError.
template <typename TI>
void check_targets(const char* op, const TI* target, int64_t S, int64_t C, int64_t ignore_index) {
  for (int64_t s = 0; s < S; s++) {
    const int64_t t = int64_t(target[s]);
    TENSILE_CHECK(t == ignore_index || (t >= 0 && t < C), IndexError, op, ": target ", t, " is out of bounds for ", C,
                  " classes (at position ", s, ")");
  }
}

// Runs fn(TI{}) with TI = int64_t or int32_t, the dtypes a class-index target may have.
template <typename Fn>
void dispatch_target(DType d, const char* op, Fn&& fn) {
  switch (d) {
    case DType::Int64: fn(int64_t{}); return;
    case DType::Int32: fn(int32_t{}); return;
    default:
      throw BindingError{ErrorKind::DTypeError, str_cat(op, ": expected target of dtype int64 (class indices) but got ", dtype_name(d))};
  }
}

// ---------------------------------------------------------------------------------------------
// log_softmax / softmax

// <name>Forward(out, outOff, x, xOff, outer, C, inner, dtype): out and x are (outer, C, inner).
template <bool Log>
Napi::Value SoftmaxForwardFn(const Napi::CallbackInfo& info) {
  const char* op = Log ? "log_softmax" : "softmax";
  int64_t outer = dim_arg(info, 4, op, "outer"), C = dim_arg(info, 5, op, "C"), inner = dim_arg(info, 6, op, "inner");
  int64_t n = checked_numel(op, outer, C, inner);
  dispatch_floating(dtype_arg(info, 7), op, [&](auto t) {
    using T = decltype(t);
    T* out = sized_ptr<T>(info, 0, n, op, "out");
    const T* x = sized_ptr<T>(info, 2, n, op, "input");
    if (Log)
      log_softmax_forward_cpu<T>(out, x, outer, C, inner);
    else
      softmax_forward_cpu<T>(out, x, outer, C, inner);
  });
  return info.Env().Undefined();
}

// <name>Backward(dx, dxOff, dy, dyOff, out, outOff, outer, C, inner, dtype): all (outer, C, inner);
// out is the forward's output.
template <bool Log>
Napi::Value SoftmaxBackwardFn(const Napi::CallbackInfo& info) {
  const char* op = Log ? "log_softmax_backward" : "softmax_backward";
  int64_t outer = dim_arg(info, 6, op, "outer"), C = dim_arg(info, 7, op, "C"), inner = dim_arg(info, 8, op, "inner");
  int64_t n = checked_numel(op, outer, C, inner);
  dispatch_floating(dtype_arg(info, 9), op, [&](auto t) {
    using T = decltype(t);
    T* dx = sized_ptr<T>(info, 0, n, op, "dx");
    const T* dy = sized_ptr<T>(info, 2, n, op, "grad");
    const T* out = sized_ptr<T>(info, 4, n, op, "output");
    if (Log)
      log_softmax_backward_cpu<T>(dx, dy, out, outer, C, inner);
    else
      softmax_backward_cpu<T>(dx, dy, out, outer, C, inner);
  });
  return info.Env().Undefined();
}

// ---------------------------------------------------------------------------------------------
// cross-entropy and nll_loss

// crossEntropyForward(out, outOff, totalWeight, twOff, logp, logpOff, logits, logitsOff, target,
//   targetOff, targetDtype, weight|null, weightOff, reduction, ignoreIndex, labelSmoothing, outer, C,
//   inner, dtype): logits and logp (outer, C, inner); target (outer, inner); weight (C); out
//   (outer, inner) for reduction 0 (none), else (1); totalWeight (1).
Napi::Value CrossEntropyForward(const Napi::CallbackInfo& info) {
  const char* op = "cross_entropy";
  int64_t outer = dim_arg(info, 16, op, "outer"), C = dim_arg(info, 17, op, "C"), inner = dim_arg(info, 18, op, "inner");
  int64_t n = checked_numel(op, outer, C, inner), S = outer * inner;
  Reduction red = reduction_arg(info, 13, op);
  int64_t ignore = int_arg(info, 14);
  double eps = double_arg(info, 15);
  TENSILE_CHECK(eps >= 0 && eps <= 1, ValueError, op, ": labelSmoothing must be in [0, 1] but got ", eps);
  DType tdt = dtype_arg(info, 10);
  dispatch_floating(dtype_arg(info, 19), op, [&](auto t) {
    using T = decltype(t);
    T* out = sized_ptr<T>(info, 0, red == Reduction::None ? S : 1, op, "out");
    T* tw = sized_ptr<T>(info, 2, 1, op, "totalWeight");
    T* logp = sized_ptr<T>(info, 4, n, op, "logp");
    const T* logits = sized_ptr<T>(info, 6, n, op, "input");
    const T* weight = optional_sized_ptr<T>(info, 11, C, op, "weight");
    dispatch_target(tdt, op, [&](auto ti) {
      using TI = decltype(ti);
      const TI* target = sized_ptr<TI>(info, 8, S, op, "target");
      check_targets(op, target, S, C, ignore);
      cross_entropy_forward_cpu<T, TI>(out, tw, logp, logits, target, weight, red, ignore, eps, outer, C, inner);
    });
  });
  return info.Env().Undefined();
}

// crossEntropyBackward(dlogits, dOff, dout, doutOff, logp, logpOff, target, targetOff, targetDtype,
//   weight|null, weightOff, totalWeight, twOff, reduction, ignoreIndex, labelSmoothing, outer, C,
//   inner, dtype): dlogits and logp (outer, C, inner); dout (outer, inner) for reduction 0, else (1).
Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info) {
  const char* op = "cross_entropy_backward";
  int64_t outer = dim_arg(info, 16, op, "outer"), C = dim_arg(info, 17, op, "C"), inner = dim_arg(info, 18, op, "inner");
  int64_t n = checked_numel(op, outer, C, inner), S = outer * inner;
  Reduction red = reduction_arg(info, 13, op);
  int64_t ignore = int_arg(info, 14);
  double eps = double_arg(info, 15);
  TENSILE_CHECK(eps >= 0 && eps <= 1, ValueError, op, ": labelSmoothing must be in [0, 1] but got ", eps);
  DType tdt = dtype_arg(info, 8);
  dispatch_floating(dtype_arg(info, 19), op, [&](auto t) {
    using T = decltype(t);
    T* dlogits = sized_ptr<T>(info, 0, n, op, "dlogits");
    const T* dout = sized_ptr<T>(info, 2, red == Reduction::None ? S : 1, op, "grad");
    const T* logp = sized_ptr<T>(info, 4, n, op, "logp");
    const T* weight = optional_sized_ptr<T>(info, 9, C, op, "weight");
    const T* tw = sized_ptr<T>(info, 11, 1, op, "totalWeight");
    dispatch_target(tdt, op, [&](auto ti) {
      using TI = decltype(ti);
      const TI* target = sized_ptr<TI>(info, 6, S, op, "target");
      check_targets(op, target, S, C, ignore);
      cross_entropy_backward_cpu<T, TI>(dlogits, dout, logp, target, weight, tw, red, ignore, eps, outer, C, inner);
    });
  });
  return info.Env().Undefined();
}

// nllLossForward(out, outOff, totalWeight, twOff, logp, logpOff, target, targetOff, targetDtype,
//   weight|null, weightOff, reduction, ignoreIndex, outer, C, inner, dtype): logp (outer, C, inner);
//   target (outer, inner); weight (C); out (outer, inner) for reduction 0 (none), else (1).
Napi::Value NllLossForward(const Napi::CallbackInfo& info) {
  const char* op = "nll_loss";
  int64_t outer = dim_arg(info, 13, op, "outer"), C = dim_arg(info, 14, op, "C"), inner = dim_arg(info, 15, op, "inner");
  int64_t n = checked_numel(op, outer, C, inner), S = outer * inner;
  Reduction red = reduction_arg(info, 11, op);
  int64_t ignore = int_arg(info, 12);
  DType tdt = dtype_arg(info, 8);
  dispatch_floating(dtype_arg(info, 16), op, [&](auto t) {
    using T = decltype(t);
    T* out = sized_ptr<T>(info, 0, red == Reduction::None ? S : 1, op, "out");
    T* tw = sized_ptr<T>(info, 2, 1, op, "totalWeight");
    const T* logp = sized_ptr<T>(info, 4, n, op, "input");
    const T* weight = optional_sized_ptr<T>(info, 9, C, op, "weight");
    dispatch_target(tdt, op, [&](auto ti) {
      using TI = decltype(ti);
      const TI* target = sized_ptr<TI>(info, 6, S, op, "target");
      check_targets(op, target, S, C, ignore);
      nll_loss_forward_cpu<T, TI>(out, tw, logp, target, weight, red, ignore, outer, C, inner);
    });
  });
  return info.Env().Undefined();
}

// nllLossBackward(dlogp, dOff, dout, doutOff, target, targetOff, targetDtype, weight|null, weightOff,
//   totalWeight, twOff, reduction, ignoreIndex, outer, C, inner, dtype): dlogp (outer, C, inner);
//   dout (outer, inner) for reduction 0, else (1).
Napi::Value NllLossBackward(const Napi::CallbackInfo& info) {
  const char* op = "nll_loss_backward";
  int64_t outer = dim_arg(info, 13, op, "outer"), C = dim_arg(info, 14, op, "C"), inner = dim_arg(info, 15, op, "inner");
  int64_t n = checked_numel(op, outer, C, inner), S = outer * inner;
  Reduction red = reduction_arg(info, 11, op);
  int64_t ignore = int_arg(info, 12);
  DType tdt = dtype_arg(info, 6);
  dispatch_floating(dtype_arg(info, 16), op, [&](auto t) {
    using T = decltype(t);
    T* dlogp = sized_ptr<T>(info, 0, n, op, "dlogp");
    const T* dout = sized_ptr<T>(info, 2, red == Reduction::None ? S : 1, op, "grad");
    const T* weight = optional_sized_ptr<T>(info, 7, C, op, "weight");
    const T* tw = sized_ptr<T>(info, 9, 1, op, "totalWeight");
    dispatch_target(tdt, op, [&](auto ti) {
      using TI = decltype(ti);
      const TI* target = sized_ptr<TI>(info, 4, S, op, "target");
      check_targets(op, target, S, C, ignore);
      nll_loss_backward_cpu<T, TI>(dlogp, dout, target, weight, tw, red, ignore, outer, C, inner);
    });
  });
  return info.Env().Undefined();
}

// ---------------------------------------------------------------------------------------------
// point-wise losses

constexpr const char* pointwise_name(PointwiseLoss L) {
  return L == PointwiseLoss::Mse ? "mse_loss" : L == PointwiseLoss::L1 ? "l1_loss" : "smooth_l1_loss";
}

// beta is the last argument of smoothL1Loss*; mse and l1 have none.
double beta_arg(const Napi::CallbackInfo& info, int i, PointwiseLoss L) {
  if (L != PointwiseLoss::SmoothL1) return 0;
  double beta = double_arg(info, i);
  TENSILE_CHECK(beta >= 0, ValueError, "smooth_l1_loss: beta must be non-negative but got ", beta);
  return beta;
}

// <loss>Forward(out, outOff, input, inOff, target, tOff, reduction, n, dtype[, beta]): input and
// target (n); out (n) for reduction 0 (none), else (1).
template <PointwiseLoss L>
Napi::Value PointwiseForward(const Napi::CallbackInfo& info) {
  const char* op = pointwise_name(L);
  Reduction red = reduction_arg(info, 6, op);
  int64_t n = dim_arg(info, 7, op, "n");
  double beta = beta_arg(info, 9, L);
  dispatch_floating(dtype_arg(info, 8), op, [&](auto t) {
    using T = decltype(t);
    T* out = sized_ptr<T>(info, 0, red == Reduction::None ? n : 1, op, "out");
    const T* input = sized_ptr<T>(info, 2, n, op, "input");
    const T* target = sized_ptr<T>(info, 4, n, op, "target");
    pointwise_loss_forward_cpu<T>(L, out, input, target, red, beta, n);
  });
  return info.Env().Undefined();
}

// <loss>Backward(dinput, dOff, dout, doutOff, input, inOff, target, tOff, reduction, n, dtype[, beta]):
// dinput, input and target (n); dout (n) for reduction 0 (none), else (1).
template <PointwiseLoss L>
Napi::Value PointwiseBackward(const Napi::CallbackInfo& info) {
  const char* op = pointwise_name(L);
  Reduction red = reduction_arg(info, 8, op);
  int64_t n = dim_arg(info, 9, op, "n");
  double beta = beta_arg(info, 11, L);
  dispatch_floating(dtype_arg(info, 10), op, [&](auto t) {
    using T = decltype(t);
    T* dinput = sized_ptr<T>(info, 0, n, op, "dinput");
    const T* dout = sized_ptr<T>(info, 2, red == Reduction::None ? n : 1, op, "grad");
    const T* input = sized_ptr<T>(info, 4, n, op, "input");
    const T* target = sized_ptr<T>(info, 6, n, op, "target");
    pointwise_loss_backward_cpu<T>(L, dinput, dout, input, target, red, beta, n);
  });
  return info.Env().Undefined();
}

}  // namespace

void RegisterLoss(Napi::Env env, Napi::Object exports) {
  TENSILE_EXPORT(exports, "logSoftmaxForward", SoftmaxForwardFn<true>);
  TENSILE_EXPORT(exports, "logSoftmaxBackward", SoftmaxBackwardFn<true>);
  TENSILE_EXPORT(exports, "softmaxForward", SoftmaxForwardFn<false>);
  TENSILE_EXPORT(exports, "softmaxBackward", SoftmaxBackwardFn<false>);
  TENSILE_EXPORT(exports, "crossEntropyForward", CrossEntropyForward);
  TENSILE_EXPORT(exports, "crossEntropyBackward", CrossEntropyBackward);
  TENSILE_EXPORT(exports, "nllLossForward", NllLossForward);
  TENSILE_EXPORT(exports, "nllLossBackward", NllLossBackward);
  TENSILE_EXPORT(exports, "mseLossForward", PointwiseForward<PointwiseLoss::Mse>);
  TENSILE_EXPORT(exports, "mseLossBackward", PointwiseBackward<PointwiseLoss::Mse>);
  TENSILE_EXPORT(exports, "l1LossForward", PointwiseForward<PointwiseLoss::L1>);
  TENSILE_EXPORT(exports, "l1LossBackward", PointwiseBackward<PointwiseLoss::L1>);
  TENSILE_EXPORT(exports, "smoothL1LossForward", PointwiseForward<PointwiseLoss::SmoothL1>);
  TENSILE_EXPORT(exports, "smoothL1LossBackward", PointwiseBackward<PointwiseLoss::SmoothL1>);
}

}  // namespace tensile
