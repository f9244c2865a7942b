// N-API glue for native/ops/loss.h. Shapes and options are validated in lib/ops/loss.ts; here we
// check what would otherwise read or write out of bounds: every buffer against its storage size,
// the reduction code, and every class-index target against [0, C) before any kernel reads with it.
#include "../ops/loss.h"

#include <initializer_list>

#include "registry.h"
#include "util.h"

namespace tensile {
namespace {

// outer * C * inner, rejecting products that would overflow.
int64_t checked_numel(const char* op, int64_t outer, int64_t C, int64_t inner) {
  int64_t oc = 0, n = 0;
  TENSILE_CHECK(!__builtin_mul_overflow(outer, C, &oc) && !__builtin_mul_overflow(oc, inner, &n) && n < kMaxSize,
                ValueError, op, ": sizes (", outer, ", ", C, ", ", inner, ") are too large");
  return n;
}

// Zeroes the sizes of an empty (outer, inner) iteration space, so that no kernel loops over outer
// (or inner) with nothing inside: outer = 2^47 with inner = 0 passes every size check.
void no_empty_loops(int64_t& outer, int64_t& inner) {
  if (outer == 0 || inner == 0) outer = inner = 0;
}

// Loss keeps the ValueError its tests pin (test/ops/loss.test.ts) for a buffer that does not fit.
constexpr RangeError kLossRange = RangeError::NeedsAsValueError;

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
  int64_t outer = size_arg(info, 4, op, "outer"), C = size_arg(info, 5, op, "C"), inner = size_arg(info, 6, op, "inner");
  int64_t n = checked_numel(op, outer, C, inner);
  if (n == 0) outer = C = inner = 0;
  dispatch_floating(dtype_arg(info, 7), op, [&](auto t) {
    using T = decltype(t);
    T* out = checked_ptr<T>(info, 0, n, op, "out", kLossRange);
    const T* x = checked_ptr<T>(info, 2, n, op, "input", kLossRange);
    if (Log)
      TENSILE_ON_DEVICE(op, log_softmax_forward, <T>, out, x, outer, C, inner);
    else
      TENSILE_ON_DEVICE(op, softmax_forward, <T>, out, x, outer, C, inner);
  });
  return info.Env().Undefined();
}

// <name>Backward(dx, dxOff, dy, dyOff, out, outOff, outer, C, inner, dtype): all (outer, C, inner);
// out is the forward's output.
template <bool Log>
Napi::Value SoftmaxBackwardFn(const Napi::CallbackInfo& info) {
  const char* op = Log ? "log_softmax_backward" : "softmax_backward";
  int64_t outer = size_arg(info, 6, op, "outer"), C = size_arg(info, 7, op, "C"), inner = size_arg(info, 8, op, "inner");
  int64_t n = checked_numel(op, outer, C, inner);
  if (n == 0) outer = C = inner = 0;
  dispatch_floating(dtype_arg(info, 9), op, [&](auto t) {
    using T = decltype(t);
    T* dx = checked_ptr<T>(info, 0, n, op, "dx", kLossRange);
    const T* dy = checked_ptr<T>(info, 2, n, op, "grad", kLossRange);
    const T* out = checked_ptr<T>(info, 4, n, op, "output", kLossRange);
    if (Log)
      TENSILE_ON_DEVICE(op, log_softmax_backward, <T>, dx, dy, out, outer, C, inner);
    else
      TENSILE_ON_DEVICE(op, softmax_backward, <T>, dx, dy, out, outer, C, inner);
  });
  return info.Env().Undefined();
}

// ---------------------------------------------------------------------------------------------
// cross-entropy and nll_loss

// The arguments the four class-index bindings share. In each, reduction sits at slot r, followed by
// ignoreIndex, labelSmoothing (cross_entropy only), outer, C and inner; the target's dtype code has
// its own slot.
struct ClassLossArgs {
  int64_t outer, C, inner;
  int64_t n, S;  // n = outer * C * inner (logits, logp); S = outer * inner (targets, per-sample losses)
  Reduction red;
  int64_t ignore;
  double eps;  // label smoothing; 0 for nll_loss
  DType target_dtype;
};

ClassLossArgs class_loss_args(const Napi::CallbackInfo& info, const char* op, int r, bool smoothing, int target_dtype_at) {
  const int dims = r + (smoothing ? 3 : 2);
  ClassLossArgs a{};
  a.outer = size_arg(info, dims, op, "outer");
  a.C = size_arg(info, dims + 1, op, "C");
  a.inner = size_arg(info, dims + 2, op, "inner");
  a.n = checked_numel(op, a.outer, a.C, a.inner);
  a.S = checked_numel(op, a.outer, 1, a.inner);  // with C = 0, n is 0 whatever outer * inner is
  no_empty_loops(a.outer, a.inner);
  a.red = reduction_arg(info, r, op);
  a.ignore = int_arg(info, r + 1);
  a.eps = smoothing ? double_arg(info, r + 2) : 0;
  TENSILE_CHECK(a.eps >= 0 && a.eps <= 1, ValueError, op, ": labelSmoothing must be in [0, 1] but got ", a.eps);
  a.target_dtype = dtype_arg(info, target_dtype_at);
  return a;
}

// Runs fn(target) with the class-index target at slot i (S entries of int64 or int32), after
// checking every entry against [0, C) or ignore_index. On CUDA the targets stay on the device (reading
// them here would wait for the device every step): the kernels read nothing for a bad target and
// give NaN, and the forward (`report`) queues a count of bad targets that the next read of device
// memory raises as an IndexError.
template <typename Fn>
void with_target(const Napi::CallbackInfo& info, int i, const ClassLossArgs& a, const char* op, bool report, Fn&& fn) {
  dispatch_target(a.target_dtype, op, [&](auto ti) {
    using TI = decltype(ti);
    const TI* target = checked_ptr<TI>(info, i, a.S, op, "target", kLossRange);
    if (!op_on_cuda()) {
      check_targets(op, target, a.S, a.C, a.ignore);
    } else if (report && a.S > 0) {
#ifdef TENSILE_HAVE_CUDA
      queue_deferred_check(op, DeferredCheck::Kind::ClassTarget, a.C, a.S, [&](int64_t* counts, cudaStream_t stream) {
        return count_invalid_targets_cuda<TI>(counts, target, a.S, a.C, a.ignore, stream);
      });
#endif
    }
    fn(target);
  });
}

// A buffer a class-index loss writes. None may share memory with the target: the kernel reads the
// target while it writes, and a rewritten target would index past the checked range.
struct Written {
  const void* p;
  __int128 bytes;
  const char* name;
};

template <typename TI>
void check_target_apart(const char* op, const TI* target, int64_t S, std::initializer_list<Written> written) {
  for (const Written& w : written) check_no_overlap(w.p, w.bytes, target, __int128(S) * sizeof(TI), op, w.name, "target");
}

// crossEntropyForward(out, outOff, totalWeight, twOff, logp, logpOff, logits, logitsOff, target,
//   targetOff, targetDtype, weight|null, weightOff, reduction, ignoreIndex, labelSmoothing, outer, C,
//   inner, dtype): logits and logp (outer, C, inner); target (outer, inner); weight (C); out
//   (outer, inner) for reduction 0 (none), else (1); totalWeight (1).
Napi::Value CrossEntropyForward(const Napi::CallbackInfo& info) {
  const char* op = "cross_entropy";
  const ClassLossArgs a = class_loss_args(info, op, 13, true, 10);
  dispatch_floating(dtype_arg(info, 19), op, [&](auto t) {
    using T = decltype(t);
    T* out = checked_ptr<T>(info, 0, a.red == Reduction::None ? a.S : 1, op, "out", kLossRange);
    T* tw = checked_ptr<T>(info, 2, 1, op, "totalWeight", kLossRange);
    T* logp = checked_ptr<T>(info, 4, a.n, op, "logp", kLossRange);
    const T* logits = checked_ptr<T>(info, 6, a.n, op, "input", kLossRange);
    const T* weight = optional_checked_ptr<T>(info, 11, a.C, op, "weight", kLossRange);
    with_target(info, 8, a, op, true, [&](auto target) {
      check_target_apart(op, target, a.S, {{out, __int128(a.red == Reduction::None ? a.S : 1) * sizeof(T), "out"}, {tw, sizeof(T), "totalWeight"}, {logp, __int128(a.n) * sizeof(T), "logp"}});
      TENSILE_ON_DEVICE(op, cross_entropy_forward, <T>, out, tw, logp, logits, target, weight, a.red, a.ignore, a.eps, a.outer, a.C, a.inner);
    });
  });
  return info.Env().Undefined();
}

// crossEntropyBackward(dlogits, dOff, dout, doutOff, logp, logpOff, target, targetOff, targetDtype,
//   weight|null, weightOff, totalWeight, twOff, reduction, ignoreIndex, labelSmoothing, outer, C,
//   inner, dtype): dlogits and logp (outer, C, inner); dout (outer, inner) for reduction 0, else (1).
Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info) {
  const char* op = "cross_entropy_backward";
  const ClassLossArgs a = class_loss_args(info, op, 13, true, 8);
  dispatch_floating(dtype_arg(info, 19), op, [&](auto t) {
    using T = decltype(t);
    T* dlogits = checked_ptr<T>(info, 0, a.n, op, "dlogits", kLossRange);
    const T* dout = checked_ptr<T>(info, 2, a.red == Reduction::None ? a.S : 1, op, "grad", kLossRange);
    const T* logp = checked_ptr<T>(info, 4, a.n, op, "logp", kLossRange);
    const T* weight = optional_checked_ptr<T>(info, 9, a.C, op, "weight", kLossRange);
    const T* tw = checked_ptr<T>(info, 11, 1, op, "totalWeight", kLossRange);
    with_target(info, 6, a, op, false, [&](auto target) {
      check_target_apart(op, target, a.S, {{dlogits, __int128(a.n) * sizeof(T), "dlogits"}});
      TENSILE_ON_DEVICE(op, cross_entropy_backward, <T>, dlogits, dout, logp, target, weight, tw, a.red, a.ignore, a.eps, a.outer, a.C, a.inner);
    });
  });
  return info.Env().Undefined();
}

// nllLossForward(out, outOff, totalWeight, twOff, logp, logpOff, target, targetOff, targetDtype,
//   weight|null, weightOff, reduction, ignoreIndex, outer, C, inner, dtype): logp (outer, C, inner);
//   target (outer, inner); weight (C); out (outer, inner) for reduction 0 (none), else (1).
Napi::Value NllLossForward(const Napi::CallbackInfo& info) {
  const char* op = "nll_loss";
  const ClassLossArgs a = class_loss_args(info, op, 11, false, 8);
  dispatch_floating(dtype_arg(info, 16), op, [&](auto t) {
    using T = decltype(t);
    T* out = checked_ptr<T>(info, 0, a.red == Reduction::None ? a.S : 1, op, "out", kLossRange);
    T* tw = checked_ptr<T>(info, 2, 1, op, "totalWeight", kLossRange);
    const T* logp = checked_ptr<T>(info, 4, a.n, op, "input", kLossRange);
    const T* weight = optional_checked_ptr<T>(info, 9, a.C, op, "weight", kLossRange);
    with_target(info, 6, a, op, true, [&](auto target) {
      check_target_apart(op, target, a.S, {{out, __int128(a.red == Reduction::None ? a.S : 1) * sizeof(T), "out"}, {tw, sizeof(T), "totalWeight"}});
      TENSILE_ON_DEVICE(op, nll_loss_forward, <T>, out, tw, logp, target, weight, a.red, a.ignore, a.outer, a.C, a.inner);
    });
  });
  return info.Env().Undefined();
}

// nllLossBackward(dlogp, dOff, dout, doutOff, target, targetOff, targetDtype, weight|null, weightOff,
//   totalWeight, twOff, reduction, ignoreIndex, outer, C, inner, dtype): dlogp (outer, C, inner);
//   dout (outer, inner) for reduction 0, else (1).
Napi::Value NllLossBackward(const Napi::CallbackInfo& info) {
  const char* op = "nll_loss_backward";
  const ClassLossArgs a = class_loss_args(info, op, 11, false, 6);
  dispatch_floating(dtype_arg(info, 16), op, [&](auto t) {
    using T = decltype(t);
    T* dlogp = checked_ptr<T>(info, 0, a.n, op, "dlogp", kLossRange);
    const T* dout = checked_ptr<T>(info, 2, a.red == Reduction::None ? a.S : 1, op, "grad", kLossRange);
    const T* weight = optional_checked_ptr<T>(info, 7, a.C, op, "weight", kLossRange);
    const T* tw = checked_ptr<T>(info, 9, 1, op, "totalWeight", kLossRange);
    with_target(info, 4, a, op, false, [&](auto target) {
      check_target_apart(op, target, a.S, {{dlogp, __int128(a.n) * sizeof(T), "dlogp"}});
      TENSILE_ON_DEVICE(op, nll_loss_backward, <T>, dlogp, dout, target, weight, tw, a.red, a.ignore, a.outer, a.C, a.inner);
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
  int64_t n = size_arg(info, 7, op, "n");
  double beta = beta_arg(info, 9, L);
  dispatch_floating(dtype_arg(info, 8), op, [&](auto t) {
    using T = decltype(t);
    T* out = checked_ptr<T>(info, 0, red == Reduction::None ? n : 1, op, "out", kLossRange);
    const T* input = checked_ptr<T>(info, 2, n, op, "input", kLossRange);
    const T* target = checked_ptr<T>(info, 4, n, op, "target", kLossRange);
    TENSILE_ON_DEVICE(op, pointwise_loss_forward, <T>, L, out, input, target, red, beta, n);
  });
  return info.Env().Undefined();
}

// <loss>Backward(dinput, dOff, dout, doutOff, input, inOff, target, tOff, reduction, n, dtype[, beta]):
// dinput, input and target (n); dout (n) for reduction 0 (none), else (1).
template <PointwiseLoss L>
Napi::Value PointwiseBackward(const Napi::CallbackInfo& info) {
  const char* op = pointwise_name(L);
  Reduction red = reduction_arg(info, 8, op);
  int64_t n = size_arg(info, 9, op, "n");
  double beta = beta_arg(info, 11, L);
  dispatch_floating(dtype_arg(info, 10), op, [&](auto t) {
    using T = decltype(t);
    T* dinput = checked_ptr<T>(info, 0, n, op, "dinput", kLossRange);
    const T* dout = checked_ptr<T>(info, 2, red == Reduction::None ? n : 1, op, "grad", kLossRange);
    const T* input = checked_ptr<T>(info, 4, n, op, "input", kLossRange);
    const T* target = checked_ptr<T>(info, 6, n, op, "target", kLossRange);
    TENSILE_ON_DEVICE(op, pointwise_loss_backward, <T>, L, dinput, dout, input, target, red, beta, n);
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
