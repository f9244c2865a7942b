// N-API glue for native/ops/conv2d.h. The geometry travels as one array of 16 integers in the
// order of Conv2dParams:
//   [N, C, H, W, OC, KH, KW, OH, OW, strideH, strideW, padH, padW, dilH, dilW, groups]
// lib/ops/conv2d.ts validates first; here the geometry is checked for consistency and every
// tensor's extent against its storage, because the binding is callable directly.
#include "../ops/conv2d.h"

#include "registry.h"
#include "util.h"

namespace tensile {
namespace {

Conv2dParams params_arg(const Napi::CallbackInfo& info, int i) {
  std::vector<int64_t> v = ints_arg(info, i);
  TENSILE_CHECK(v.size() == 16, ValueError, "conv2d: expected 16 geometry values [N, C, H, W, OC, KH, KW, OH, OW, strideH, strideW, padH, padW, dilH, dilW, groups] but got ", v.size());
  Conv2dParams p{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]};
  constexpr int64_t kMax = int64_t(1) << 31;
  for (size_t k = 0; k < 16; k++) {
    const int64_t lo = k == 0 || k == 11 || k == 12 ? 0 : 1;  // N and padding may be 0
    TENSILE_CHECK(v[k] >= lo && v[k] < kMax, ValueError, "conv2d: geometry value ", k, " is ", v[k], "; expected sizes, strides, dilations and groups >= 1 and N, padding >= 0 in ", shape_str(v));
  }
  TENSILE_CHECK(p.C % p.groups == 0 && p.OC % p.groups == 0, ShapeError, "conv2d: groups=", p.groups, " must divide both the input channels ", p.C, " and the output channels ", p.OC);
  // OH must be what the padding gives, or one more (bottom/right padded one extra, 'same').
  auto check_out = [](int64_t in, int64_t pad, int64_t dil, int64_t k, int64_t s, int64_t out, const char* dim) {
    const int64_t span = in + 2 * pad - dil * (k - 1);
    const int64_t lo = span >= 1 ? (span - 1) / s + 1 : 1, hi = span >= 0 ? span / s + 1 : 0;
    TENSILE_CHECK(out >= lo && out <= hi, ShapeError, "conv2d: output ", dim, " ", out, " does not follow from input ", in, ", padding ", pad, ", dilation ", dil, ", kernel ", k, " and stride ", s);
  };
  check_out(p.H, p.padH, p.dilH, p.KH, p.strideH, p.OH, "height");
  check_out(p.W, p.padW, p.dilW, p.KW, p.strideW, p.OW, "width");
  return p;
}

__int128 input_elems(const Conv2dParams& p) { return __int128(p.N) * p.C * p.H * p.W; }
__int128 output_elems(const Conv2dParams& p) { return __int128(p.N) * p.OC * p.OH * p.OW; }
__int128 weight_elems(const Conv2dParams& p) { return __int128(p.OC) * (p.C / p.groups) * p.KH * p.KW; }

// conv2dForward(out, outOff, x, xOff, w, wOff, bias | null, biasOff, params, dtype)
// out (N, OC, OH, OW) = conv2d(x (N, C, H, W), w (OC, C/groups, KH, KW)) + bias (OC).
Napi::Value Conv2dForward(const Napi::CallbackInfo& info) {
  Conv2dParams p = params_arg(info, 8);
  dispatch_floating(dtype_arg(info, 9), "conv2d", [&](auto t) {
    using T = decltype(t);
    T* out = checked_ptr<T>(info, 0, output_elems(p), "conv2d", "output");
    const T* x = checked_ptr<T>(info, 2, input_elems(p), "conv2d", "input");
    const T* w = checked_ptr<T>(info, 4, weight_elems(p), "conv2d", "weight");
    const T* bias = optional_checked_ptr<T>(info, 6, p.OC, "conv2d", "bias");
    TENSILE_ON_DEVICE("conv2d", conv2d_forward, <T>, out, x, w, bias, p);
  });
  return info.Env().Undefined();
}

// conv2dBackwardInput(dx, dxOff, dout, doutOff, w, wOff, params, dtype)
// dx (N, C, H, W) = gradient of the input for dout (N, OC, OH, OW); overwrites dx.
Napi::Value Conv2dBackwardInput(const Napi::CallbackInfo& info) {
  Conv2dParams p = params_arg(info, 6);
  dispatch_floating(dtype_arg(info, 7), "conv2d", [&](auto t) {
    using T = decltype(t);
    T* dx = checked_ptr<T>(info, 0, input_elems(p), "conv2d", "input gradient");
    const T* dout = checked_ptr<T>(info, 2, output_elems(p), "conv2d", "output gradient");
    const T* w = checked_ptr<T>(info, 4, weight_elems(p), "conv2d", "weight");
    TENSILE_ON_DEVICE("conv2d", conv2d_backward_input, <T>, dx, dout, w, p);
  });
  return info.Env().Undefined();
}

// conv2dBackwardWeight(dw, dwOff, dout, doutOff, x, xOff, params, dtype)
// dw (OC, C/groups, KH, KW) = gradient of the weight for dout and input x; overwrites dw.
Napi::Value Conv2dBackwardWeight(const Napi::CallbackInfo& info) {
  Conv2dParams p = params_arg(info, 6);
  dispatch_floating(dtype_arg(info, 7), "conv2d", [&](auto t) {
    using T = decltype(t);
    T* dw = checked_ptr<T>(info, 0, weight_elems(p), "conv2d", "weight gradient");
    const T* dout = checked_ptr<T>(info, 2, output_elems(p), "conv2d", "output gradient");
    const T* x = checked_ptr<T>(info, 4, input_elems(p), "conv2d", "input");
    TENSILE_ON_DEVICE("conv2d", conv2d_backward_weight, <T>, dw, dout, x, p);
  });
  return info.Env().Undefined();
}

// conv2dBackwardBias(db, dbOff, dout, doutOff, params, dtype)
// db (OC) = dout (N, OC, OH, OW) summed over N, OH, OW; overwrites db.
Napi::Value Conv2dBackwardBias(const Napi::CallbackInfo& info) {
  Conv2dParams p = params_arg(info, 4);
  dispatch_floating(dtype_arg(info, 5), "conv2d", [&](auto t) {
    using T = decltype(t);
    T* db = checked_ptr<T>(info, 0, p.OC, "conv2d", "bias gradient");
    const T* dout = checked_ptr<T>(info, 2, output_elems(p), "conv2d", "output gradient");
    TENSILE_ON_DEVICE("conv2d", conv2d_backward_bias, <T>, db, dout, p);
  });
  return info.Env().Undefined();
}

// The arguments both fused calls share: the convolution's params at info[i], the pool's window
// [kH, kW, sH, sW, pH, pW, dH, dW] at info[i + 1] and its output size PH, PW at info[i + 2],
// info[i + 3]. The pool's output size is the caller's (lib/ops/pool2d.ts follows PyTorch); here only
// its bounds are checked: every window starts inside the padded plane.
struct FusedArgs {
  Conv2dParams p;
  Pool2dWindow win;
  int64_t PH, PW;
  __int128 pooled;  // elements of the pooled output (and of its indices)
};
FusedArgs fused_args(const Napi::CallbackInfo& info, int i, const char* op) {
  const Conv2dParams p = params_arg(info, i);
  std::vector<int64_t> v = ints_arg(info, i + 1);
  TENSILE_CHECK(v.size() == 8, ValueError, op, ": expected the pool window [kH, kW, sH, sW, pH, pW, dH, dW] but got ", v.size(), " values");
  for (size_t k = 0; k < 8; k++)
    TENSILE_CHECK(v[k] >= (k == 4 || k == 5 ? 0 : 1) && v[k] < (int64_t(1) << 31), ValueError, op, ": pool window value ", k, " is ", v[k], " in ", shape_str(v));
  FusedArgs a{p, {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]}, size_arg(info, i + 2, op, "PH"), size_arg(info, i + 3, op, "PW"), 0};
  TENSILE_CHECK(a.PH >= 1 && a.PW >= 1 && (a.PH - 1) * a.win.SH < p.OH + a.win.PH && (a.PW - 1) * a.win.SW < p.OW + a.win.PW, ShapeError, op,
                ": a pooled output of ", a.PH, "x", a.PW, " does not fit a ", p.OH, "x", p.OW, " plane with window ", shape_str(v));
  a.pooled = __int128(p.N) * p.OC * a.PH * a.PW;
  return a;
}

// Called after the tensor arguments are checked (they fix the op's device).
void cpu_only(const char* op) {
  TENSILE_CHECK(!op_on_cuda(), DeviceError, op, ": runs on the CPU only (on CUDA, lib runs conv2d, relu and max_pool2d)");
}

// conv2dReluMaxPool2dForward(out, outOff, idx, idxOff, x, xOff, w, wOff, bias | null, biasOff, params, window, PH, PW, dtype)
// out (N, OC, PH, PW) = max_pool2d(relu(conv2d(x, w) + bias)), idx (N, OC, PH, PW, int64) the
// pool's indices into the convolution's planes. CPU only.
Napi::Value Conv2dReluMaxPool2dForward(const Napi::CallbackInfo& info) {
  const char* op = "conv2d_relu_max_pool2d";
  const FusedArgs a = fused_args(info, 10, op);
  const Conv2dParams& p = a.p;
  dispatch_floating(dtype_arg(info, 14), op, [&](auto t) {
    using T = decltype(t);
    T* out = checked_ptr<T>(info, 0, a.pooled, op, "output");
    int64_t* idx = checked_ptr<int64_t>(info, 2, a.pooled, op, "indices");
    const T* x = checked_ptr<T>(info, 4, input_elems(p), op, "input");
    const T* w = checked_ptr<T>(info, 6, weight_elems(p), op, "weight");
    const T* bias = optional_checked_ptr<T>(info, 8, p.OC, op, "bias");
    cpu_only(op);
    conv2d_relu_max_pool2d_forward_cpu<T>(out, idx, x, w, bias, p, a.win, a.PH, a.PW);
  });
  return info.Env().Undefined();
}

// conv2dReluMaxPool2dBackward(dx | null, dxOff, dw | null, dwOff, db | null, dbOff, grad, gradOff, idx, idxOff, x, xOff, w, wOff,
//                             params, window, PH, PW, dtype)
// The gradients (those not null; each overwritten) of conv2dReluMaxPool2dForward's input, weight
// and bias from its output's gradient grad and its indices idx (N, OC, PH, PW). CPU only.
Napi::Value Conv2dReluMaxPool2dBackward(const Napi::CallbackInfo& info) {
  const char* op = "conv2d_relu_max_pool2d_backward";
  const FusedArgs a = fused_args(info, 14, op);
  const Conv2dParams& p = a.p;
  dispatch_floating(dtype_arg(info, 18), op, [&](auto t) {
    using T = decltype(t);
    T* dx = optional_checked_ptr<T>(info, 0, input_elems(p), op, "input gradient");
    T* dw = optional_checked_ptr<T>(info, 2, weight_elems(p), op, "weight gradient");
    T* db = optional_checked_ptr<T>(info, 4, p.OC, op, "bias gradient");
    const T* grad = checked_ptr<T>(info, 6, a.pooled, op, "output gradient");
    const int64_t* idx = checked_ptr<int64_t>(info, 8, a.pooled, op, "indices");
    const T* x = checked_ptr<T>(info, 10, input_elems(p), op, "input");
    const T* w = checked_ptr<T>(info, 12, weight_elems(p), op, "weight");
    cpu_only(op);
    check_plane_indices(idx, int64_t(a.pooled), p.OH, p.OW, op, "an output plane");
    // The gradients are written while the indices are read.
    const __int128 idx_bytes = __int128(a.pooled) * 8;
    check_no_overlap(dx, dx ? __int128(input_elems(p)) * sizeof(T) : 0, idx, idx_bytes, op, "input gradient", "indices");
    check_no_overlap(dw, dw ? __int128(weight_elems(p)) * sizeof(T) : 0, idx, idx_bytes, op, "weight gradient", "indices");
    check_no_overlap(db, db ? __int128(p.OC) * sizeof(T) : 0, idx, idx_bytes, op, "bias gradient", "indices");
    conv2d_relu_max_pool2d_backward_cpu<T>(dx, dw, db, grad, idx, x, w, p, a.win, a.PH, a.PW);
  });
  return info.Env().Undefined();
}

// setConvAllowTF32(flag): tn.backends.cudnn.allowTF32 (a no-op in a build without CUDA).
Napi::Value SetConvAllowTF32(const Napi::CallbackInfo& info) {
  const bool allow = bool_arg(info, 0);
#ifdef TENSILE_HAVE_CUDA
  set_conv2d_allow_tf32_cuda(allow);
#else
  (void)allow;
#endif
  return info.Env().Undefined();
}

}  // namespace

void RegisterConv2d(Napi::Env env, Napi::Object exports) {
  TENSILE_EXPORT(exports, "conv2dForward", Conv2dForward);
  TENSILE_EXPORT(exports, "conv2dBackwardInput", Conv2dBackwardInput);
  TENSILE_EXPORT(exports, "conv2dBackwardWeight", Conv2dBackwardWeight);
  TENSILE_EXPORT(exports, "conv2dBackwardBias", Conv2dBackwardBias);
  TENSILE_EXPORT(exports, "conv2dReluMaxPool2dForward", Conv2dReluMaxPool2dForward);
  TENSILE_EXPORT(exports, "conv2dReluMaxPool2dBackward", Conv2dReluMaxPool2dBackward);
  TENSILE_EXPORT(exports, "setConvAllowTF32", SetConvAllowTF32);
}

}  // namespace tensile
