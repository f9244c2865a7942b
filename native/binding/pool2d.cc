// N-API glue for native/ops/pool2d.h. Output sizes and option rules are PyTorch's and live in
// lib/ops/pool2d.ts; here we check only what keeps a direct call in bounds: positive geometry,
// storages large enough for (P, H, W) and (P, OH, OW), and max-pool indices inside their plane.
#include "../ops/pool2d.h"

#include <algorithm>
#include <limits>

#include "registry.h"
#include "util.h"

namespace tensile {
namespace {

// a*b*c, or a ValueError when a size is negative or the product overflows.
int64_t count3(const char* op, int64_t a, int64_t b, int64_t c) {
  int64_t ab = 0, abc = 0;
  TENSILE_CHECK(a >= 0 && b >= 0 && c >= 0 && !__builtin_mul_overflow(a, b, &ab) && !__builtin_mul_overflow(ab, c, &abc),
                ValueError, op, ": invalid sizes ", a, " x ", b, " x ", c);
  return abc;
}

struct Planes {
  int64_t P, H, W, OH, OW;
  int64_t in, out;  // P*H*W and P*OH*OW
};

Planes planes_arg(const Napi::CallbackInfo& info, int i, const char* op) {
  Planes g{int_arg(info, i), int_arg(info, i + 1), int_arg(info, i + 2), int_arg(info, i + 3), int_arg(info, i + 4), 0, 0};
  TENSILE_CHECK(g.H >= 1 && g.W >= 1 && g.OH >= 1 && g.OW >= 1, ValueError, op, ": plane sizes must be positive, got input ", g.H, "x", g.W,
                " and output ", g.OH, "x", g.OW);
  g.in = count3(op, g.P, g.H, g.W);
  g.out = count3(op, g.P, g.OH, g.OW);
  return g;
}

// kH, kW, sH, sW, pH, pW[, dH, dW] starting at info[i].
Pool2dWindow window_arg(const Napi::CallbackInfo& info, int i, bool dilated, const char* op) {
  Pool2dWindow w{int_arg(info, i), int_arg(info, i + 1), int_arg(info, i + 2), int_arg(info, i + 3), int_arg(info, i + 4), int_arg(info, i + 5),
                 dilated ? int_arg(info, i + 6) : 1, dilated ? int_arg(info, i + 7) : 1};
  const int64_t big = int64_t(1) << 31;
  TENSILE_CHECK(w.KH >= 1 && w.KW >= 1 && w.SH >= 1 && w.SW >= 1 && w.DH >= 1 && w.DW >= 1 && w.PH >= 0 && w.PW >= 0, ValueError, op,
                ": kernel, stride and dilation must be positive and padding non-negative");
  TENSILE_CHECK(w.KH < big && w.KW < big && w.SH < big && w.SW < big && w.DH < big && w.DW < big && w.PH < big && w.PW < big, ValueError,
                op, ": pooling window parameters are too large");
  return w;
}

// maxPool2dForward(out, outOff, indices, indicesOff, x, xOff, P, H, W, OH, OW, kH, kW, sH, sW, pH, pW, dH, dW, dtype[, relu])
// out (P, OH, OW) of dtype, indices (P, OH, OW) int64, x (P, H, W) of dtype; relu fuses relu before the pool.
Napi::Value MaxPool2dForward(const Napi::CallbackInfo& info) {
  const char* op = "max_pool2d";
  Planes g = planes_arg(info, 6, op);
  Pool2dWindow w = window_arg(info, 11, true, op);
  const bool relu = !is_null_arg(info, 20) && bool_arg(info, 20);
  int64_t* idx = checked_ptr<int64_t>(info, 2, g.out, op, "indices");
  dispatch_floating(dtype_arg(info, 19), op, [&](auto t) {
    using T = decltype(t);
    auto* output_p = checked_ptr<T>(info, 0, g.out, op, "output");
    auto* input_p = checked_ptr<T>(info, 4, g.in, op, "input");
    TENSILE_ON_DEVICE(op, max_pool2d_forward, <T>, output_p, idx, input_p, g.P, g.H, g.W, g.OH, g.OW, w, relu);
  });
  return info.Env().Undefined();
}

// maxPool2dBackward(dx, dxOff, dy, dyOff, indices, indicesOff, P, H, W, OH, OW, dtype[, kH, kW, sH, sW, pH, pW, dH, dW])
// dx (P, H, W), dy (P, OH, OW), indices (P, OH, OW) int64 from maxPool2dForward; the forward's
// window, when given, lets the kernel use a faster path for it.
Napi::Value MaxPool2dBackward(const Napi::CallbackInfo& info) {
  const char* op = "max_pool2d_backward";
  Planes g = planes_arg(info, 6, op);
  const int64_t* idx = checked_ptr<int64_t>(info, 4, g.out, op, "indices");
  // CUDA indices stay on the device: that kernel skips any index outside the plane instead.
  if (!op_on_cuda()) check_plane_indices(idx, g.out, g.H, g.W, op, "a plane");
  Pool2dWindow w{};
  const bool has_window = !is_null_arg(info, 12);
  if (has_window) w = window_arg(info, 12, true, op);
  dispatch_floating(dtype_arg(info, 11), op, [&](auto t) {
    using T = decltype(t);
    auto* grad_input_p = checked_ptr<T>(info, 0, g.in, op, "grad_input");
    auto* grad_output_p = checked_ptr<T>(info, 2, g.out, op, "grad_output");
    check_no_overlap(grad_input_p, __int128(g.in) * sizeof(T), idx, __int128(g.out) * 8, op, "grad_input", "indices");
    on_device(op, [&] { max_pool2d_backward_cpu<T>(grad_input_p, grad_output_p, idx, g.P, g.H, g.W, g.OH, g.OW, has_window ? &w : nullptr); },
              TENSILE_CUDA(max_pool2d_backward_cuda<T>(grad_input_p, grad_output_p, idx, g.P, g.H, g.W, g.OH, g.OW, stream)));
  });
  return info.Env().Undefined();
}

// The arguments avgPool2dForward and avgPool2dBackward share, from slot 4 on:
// P, H, W, OH, OW, kH, kW, sH, sW, pH, pW, countIncludePad, divisorOverride, dtype.
struct AvgPoolArgs {
  Planes g;
  Pool2dWindow w;
  bool include_pad;
  int64_t divisor;  // 0 means none
  DType dtype;
};

AvgPoolArgs avg_pool_args(const Napi::CallbackInfo& info, const char* op) {
  AvgPoolArgs a{planes_arg(info, 4, op), window_arg(info, 9, false, op), bool_arg(info, 15), int_arg(info, 16), DType::Float32};
  TENSILE_CHECK(a.divisor >= 0, ValueError, op, ": divisor_override must be positive, got ", a.divisor);
  a.dtype = dtype_arg(info, 17);
  return a;
}

// avgPool2dForward(out, outOff, x, xOff, P, H, W, OH, OW, kH, kW, sH, sW, pH, pW, countIncludePad, divisorOverride, dtype)
// out (P, OH, OW), x (P, H, W); divisorOverride 0 means none.
Napi::Value AvgPool2dForward(const Napi::CallbackInfo& info) {
  const char* op = "avg_pool2d";
  const AvgPoolArgs a = avg_pool_args(info, op);
  const Planes& g = a.g;
  dispatch_floating(a.dtype, op, [&](auto t) {
    using T = decltype(t);
    auto* output_p = checked_ptr<T>(info, 0, g.out, op, "output");
    auto* input_p = checked_ptr<T>(info, 2, g.in, op, "input");
    TENSILE_ON_DEVICE(op, avg_pool2d_forward, <T>, output_p, input_p, g.P, g.H, g.W, g.OH, g.OW, a.w, a.include_pad, a.divisor);
  });
  return info.Env().Undefined();
}

// avgPool2dBackward(dx, dxOff, dy, dyOff, P, H, W, OH, OW, kH, kW, sH, sW, pH, pW, countIncludePad, divisorOverride, dtype)
// dx (P, H, W), dy (P, OH, OW).
Napi::Value AvgPool2dBackward(const Napi::CallbackInfo& info) {
  const char* op = "avg_pool2d_backward";
  const AvgPoolArgs a = avg_pool_args(info, op);
  const Planes& g = a.g;
  dispatch_floating(a.dtype, op, [&](auto t) {
    using T = decltype(t);
    auto* grad_input_p = checked_ptr<T>(info, 0, g.in, op, "grad_input");
    auto* grad_output_p = checked_ptr<T>(info, 2, g.out, op, "grad_output");
    TENSILE_ON_DEVICE(op, avg_pool2d_backward, <T>, grad_input_p, grad_output_p, g.P, g.H, g.W, g.OH, g.OW, a.w, a.include_pad, a.divisor);
  });
  return info.Env().Undefined();
}

// adaptiveAvgPool2dForward(out, outOff, x, xOff, P, H, W, OH, OW, dtype)
// out (P, OH, OW), x (P, H, W).
Napi::Value AdaptiveAvgPool2dForward(const Napi::CallbackInfo& info) {
  const char* op = "adaptive_avg_pool2d";
  Planes g = planes_arg(info, 4, op);
  dispatch_floating(dtype_arg(info, 9), op, [&](auto t) {
    using T = decltype(t);
    auto* output_p = checked_ptr<T>(info, 0, g.out, op, "output");
    auto* input_p = checked_ptr<T>(info, 2, g.in, op, "input");
    TENSILE_ON_DEVICE(op, adaptive_avg_pool2d_forward, <T>, output_p, input_p, g.P, g.H, g.W, g.OH, g.OW);
  });
  return info.Env().Undefined();
}

// adaptiveAvgPool2dBackward(dx, dxOff, dy, dyOff, P, H, W, OH, OW, dtype)
// dx (P, H, W), dy (P, OH, OW).
Napi::Value AdaptiveAvgPool2dBackward(const Napi::CallbackInfo& info) {
  const char* op = "adaptive_avg_pool2d_backward";
  Planes g = planes_arg(info, 4, op);
  dispatch_floating(dtype_arg(info, 9), op, [&](auto t) {
    using T = decltype(t);
    auto* grad_input_p = checked_ptr<T>(info, 0, g.in, op, "grad_input");
    auto* grad_output_p = checked_ptr<T>(info, 2, g.out, op, "grad_output");
    TENSILE_ON_DEVICE(op, adaptive_avg_pool2d_backward, <T>, grad_input_p, grad_output_p, g.P, g.H, g.W, g.OH, g.OW);
  });
  return info.Env().Undefined();
}

}  // namespace

void RegisterPool2d(Napi::Env env, Napi::Object exports) {
  TENSILE_EXPORT(exports, "maxPool2dForward", MaxPool2dForward);
  TENSILE_EXPORT(exports, "maxPool2dBackward", MaxPool2dBackward);
  TENSILE_EXPORT(exports, "avgPool2dForward", AvgPool2dForward);
  TENSILE_EXPORT(exports, "avgPool2dBackward", AvgPool2dBackward);
  TENSILE_EXPORT(exports, "adaptiveAvgPool2dForward", AdaptiveAvgPool2dForward);
  TENSILE_EXPORT(exports, "adaptiveAvgPool2dBackward", AdaptiveAvgPool2dBackward);
}

}  // namespace tensile
