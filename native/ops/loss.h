// Loss kernels: log_softmax and softmax along one dimension, cross-entropy fused with its gradient,
// nll_loss, and the point-wise regression losses (mse, l1, smooth_l1). Plain reference loops over
// contiguous buffers; the formulas are PyTorch's, including its weight/ignore_index/reduction rules.
// Not here: class-probability targets (composed from log_softmax in lib/ops/loss.ts).
//
// Dimension letters: the class (softmax) dimension sits in the middle of an (outer, C, inner) view,
// so [N, C] is (N, C, 1), [N, C, H, W] is (N, C, H*W) and softmax over dim d of any shape is
// (prod(shape[:d]), shape[d], prod(shape[d+1:])). S = outer * inner is the number of samples
// (positions) a class-index target has; targets and per-sample losses are (outer, inner).
// n is the element count of the point-wise losses.
//
// Forward kernels overwrite their outputs; backward kernels overwrite (never accumulate into) their
// gradient outputs. Sums accumulate in double and are formed in fixed blocks, so every result is
// the same whatever the thread count.
#pragma once
#include <cstdint>

namespace tensile {

// PyTorch's at::Reduction codes, shared with lib/ops/loss.ts (REDUCTION_CODE).
enum class Reduction : int { None = 0, Mean = 1, Sum = 2 };

// ---------------------------------------------------------------------------------------------
// log_softmax / softmax along the middle dimension

// out = x - max_c x - log(sum_c exp(x - max_c x)); out and x are (outer, C, inner).
template <typename T>
void log_softmax_forward_cpu(T* out, const T* x, int64_t outer, int64_t C, int64_t inner);

// dx = dy - exp(out) * sum_c dy; dx, dy and out (the forward's output) are (outer, C, inner).
template <typename T>
void log_softmax_backward_cpu(T* dx, const T* dy, const T* out, int64_t outer, int64_t C, int64_t inner);

// out = exp(x - max_c x) / sum_c exp(x - max_c x); out and x are (outer, C, inner).
template <typename T>
void softmax_forward_cpu(T* out, const T* x, int64_t outer, int64_t C, int64_t inner);

// dx = out * (dy - sum_c dy * out); dx, dy and out (the forward's output) are (outer, C, inner).
template <typename T>
void softmax_backward_cpu(T* dx, const T* dy, const T* out, int64_t outer, int64_t C, int64_t inner);

// ---------------------------------------------------------------------------------------------
// class-index losses. TI is int32_t or int64_t. Every target must already lie in [0, C) or equal
// ignore_index (the binding checks them all before calling). `weight` is (C) or null (all ones).
//
// Per sample s with target t (PyTorch's formulas, eps = label_smoothing):
//   loss_s = (1 - eps) * (-w_t * logp[t]) + eps / C * sum_c(-w_c * logp[c]),  0 when t == ignore_index
//   total_weight = sum of w_t over the samples that are not ignored
// reduction None writes loss_s to out (S); Sum writes sum_s loss_s to out (1); Mean writes
// sum_s loss_s / total_weight (NaN when every target is ignored, as PyTorch gives).

// logp (outer, C, inner) = log_softmax(logits) over C, saved for the backward; out is (S) for
// Reduction::None and (1) otherwise; total_weight is (1); target is (S).
template <typename T, typename TI>
void cross_entropy_forward_cpu(T* out, T* total_weight, T* logp, const T* logits, const TI* target, const T* weight,
                               Reduction reduction, int64_t ignore_index, double label_smoothing, int64_t outer,
                               int64_t C, int64_t inner);

// dlogits (outer, C, inner) from the saved logp (outer, C, inner) and total_weight (1); dout is (S)
// for Reduction::None and (1) otherwise. With g_s = dout (times 1/total_weight for Mean):
//   dlogits[c] = g_s * (p[c] * ((1 - eps) w_t + eps/C sum_k w_k) - (1 - eps) w_t [c == t] - eps/C w_c)
// and 0 for ignored samples.
template <typename T, typename TI>
void cross_entropy_backward_cpu(T* dlogits, const T* dout, const T* logp, const TI* target, const T* weight,
                                const T* total_weight, Reduction reduction, int64_t ignore_index,
                                double label_smoothing, int64_t outer, int64_t C, int64_t inner);

// nll_loss on log-probabilities logp (outer, C, inner): the cross-entropy rules above with eps = 0.
// out is (S) for Reduction::None and (1) otherwise; total_weight is (1); target is (S).
template <typename T, typename TI>
void nll_loss_forward_cpu(T* out, T* total_weight, const T* logp, const TI* target, const T* weight,
                          Reduction reduction, int64_t ignore_index, int64_t outer, int64_t C, int64_t inner);

// dlogp (outer, C, inner): -g_s * w_t at the target class, 0 elsewhere and for ignored samples.
template <typename T, typename TI>
void nll_loss_backward_cpu(T* dlogp, const T* dout, const TI* target, const T* weight, const T* total_weight,
                           Reduction reduction, int64_t ignore_index, int64_t outer, int64_t C, int64_t inner);

// ---------------------------------------------------------------------------------------------
// point-wise regression losses, z = input - target:
//   mse:       z^2
//   l1:        |z|
//   smooth_l1: 0.5 z^2 / beta where |z| < beta, else |z| - 0.5 beta  (beta == 0 is l1)
// reduction None writes (n) values, Mean and Sum one. The gradient with respect to target is the
// negated input gradient (lib/ops/loss.ts forms it).

enum class PointwiseLoss : int { Mse = 0, L1 = 1, SmoothL1 = 2 };

// out is (n) for Reduction::None and (1) otherwise; input and target are (n).
template <typename T>
void pointwise_loss_forward_cpu(PointwiseLoss loss, T* out, const T* input, const T* target, Reduction reduction,
                                double beta, int64_t n);

// dinput (n); dout is (n) for Reduction::None and (1) otherwise; input and target are (n).
// d|z|/dz is sign(z), 0 at z == 0, as PyTorch.
template <typename T>
void pointwise_loss_backward_cpu(PointwiseLoss loss, T* dinput, const T* dout, const T* input, const T* target,
                                 Reduction reduction, double beta, int64_t n);

}  // namespace tensile
