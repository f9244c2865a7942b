// Launchers of the CUDA kernels, one block per op family, beside the CPU declarations in
// native/ops/<family>.h: the same name with a `_cuda` suffix, the same parameters in the same
// order with the same meaning (see the family header for shapes and formulas), then a trailing
// `cudaStream_t stream`. Every pointer is device memory unless a comment says "host"; every
// launcher returns an int status, 0 or the cudaError_t (cuda_status_message() in
// native/core/cuda_runtime.h puts it in words). Launchers never synchronise the device; they may
// take scratch memory from the caching allocator on the current device, and they expect `stream`
// to be that device's stream (cuda_stream()), which is what makes returning scratch right after
// the launch safe.
//
// Compiled from native/ops/*_cuda.cu when nvcc is found (TENSILE_HAVE_CUDA). Host code can include
// this header without the CUDA toolkit's headers.
//
// Semantics match the CPU twins, with these differences, all within float rounding:
// - sums over many terms are formed in a different (but fixed, run-to-run reproducible) order;
// - exp, log, tanh, pow and friends come from CUDA's libdevice, not glibc (a few ulp in float);
// - GEMM and convolution accumulate in a different order, and in TF32 when asked for.
// Bit-identical to the CPU: fills, casts, copies, comparisons, uniform_cuda, dropout masks and
// outputs, relu/leaky_relu, max pooling (values and indices), average pooling forward, the
// optimizer steps (products and sums are kept unfused to round as the CPU does).
#pragma once
#include <cstdint>
#include <vector>

#include "../core/dtype.h"
#include "activation.h"
#include "batch_norm.h"
#include "conv2d.h"
#include "elementwise.h"
#include "loss.h"
#include "pool2d.h"
#include "reduce.h"

typedef struct CUstream_st* cudaStream_t;

namespace tensile {

// ---------------------------------------------------------------------------------------------
// elementwise (elementwise.h)

template <typename T>
int unary_cuda(UnaryOp op, T* out, const T* x, int64_t n, double scalar, cudaStream_t stream);

// Shapes and strides are host vectors; after merging contiguous dims at most 16 may remain
// (else cudaErrorInvalidValue). T: float, double, int32_t, int64_t, uint8_t.
template <typename T>
int binary_cuda(BinaryOp op, T* out, const T* a, const std::vector<int64_t>& a_strides, const T* b,
                const std::vector<int64_t>& b_strides, const std::vector<int64_t>& shape, cudaStream_t stream);

// T: float, double, int32_t, int64_t, uint8_t; same dimension limit as binary_cuda.
template <typename T>
int where_cuda(T* out, const uint8_t* cond, const std::vector<int64_t>& c_strides, const T* a,
               const std::vector<int64_t>& a_strides, const T* b, const std::vector<int64_t>& b_strides,
               const std::vector<int64_t>& shape, cudaStream_t stream);

int copy_strided_cuda(void* out, const std::vector<int64_t>& out_strides, const void* x, size_t itemsize,
                      const std::vector<int64_t>& shape, const std::vector<int64_t>& x_strides, cudaStream_t stream);

int cast_cuda(void* out, DType out_dtype, const void* x, DType x_dtype, int64_t n, cudaStream_t stream);

int fill_cuda(void* out, DType dtype, int64_t n, double value, cudaStream_t stream);

// Same values as uniform_cpu / normal_cpu for the same seed (normal within libm ulps).
template <typename T>
int uniform_cuda(T* out, int64_t n, double lo, double hi, uint64_t seed, cudaStream_t stream);
template <typename T>
int normal_cuda(T* out, int64_t n, double mean, double std, uint64_t seed, cudaStream_t stream);

// idx (k, int32 or int64) is device memory, read only by the kernel (checking it on the host would
// wait for the device): an index outside [0, rows) gives a row of zeros and is noted in bad (2 int64,
// device, zeroed by the caller; note_offender in cuda_device.cuh), as count_invalid_targets_cuda
// below does, for the binding to raise at the next synchronisation.
template <typename TI>
int index_select_rows_cuda(void* out, const void* x, size_t row_bytes, const TI* idx, int64_t k, int64_t rows,
                           int64_t* bad, cudaStream_t stream);

// Atomic adds: rows named twice are summed in an unspecified order; rows outside [0, rows) are
// skipped (the forward reported them).
template <typename T>
int index_add_rows_cuda(T* out, const T* src, int64_t row, const int64_t* idx, int64_t k, int64_t rows,
                        cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// reduce (reduce.h). T: float, double, int32_t, int64_t, uint8_t. Sums accumulate in double;
// ties and NaN resolve as on the CPU (first index wins, NaN wins).

template <typename T>
int reduce_dim_cuda(ReduceOp op, T* out, int64_t* indices, const T* x, int64_t outer, int64_t r, int64_t inner,
                    cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// gemm (gemm.h). Tiled with shared memory and register blocking (128x128x8 or 64x64x8 block
// tiles, 8x8 or 4x4 per thread), split-K when the output has too few tiles to fill the GPU.
// allow_tf32 (float only, sm_80+): tensor-core TF32 products with float accumulation, as
// torch.backends.cuda.matmul.allow_tf32; ignored for double.

template <typename T>
int gemm_cuda(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
              const T* B, int64_t ldb, T beta, T* C, int64_t ldc, bool allow_tf32, cudaStream_t stream);

template <typename T>
int gemm_batched_cuda(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                      int64_t strideA, const T* B, int64_t ldb, int64_t strideB, T beta, T* C, int64_t ldc,
                      int64_t strideC, int64_t batch, bool allow_tf32, cudaStream_t stream);

// One thread per output element, in the operand type: the oracle for the tiled kernels.
template <typename T>
int gemm_naive_cuda(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                    const T* B, int64_t ldb, T beta, T* C, int64_t ldc, cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// conv2d (conv2d.h): im2col into scratch (bounded: images are taken in chunks), then the GEMM
// above with a two-level batch over (image, group); col2im is a gather (no atomics). 1x1,
// stride-1, unpadded kernels skip im2col in forward and input gradient.

// Whether the convolution GEMMs (float) may use TF32 tensor cores (sm_80+); false by default.
void set_conv2d_allow_tf32_cuda(bool allow);

template <typename T>
int conv2d_forward_cuda(T* out, const T* inp, const T* weight, const T* bias, const Conv2dParams& p,
                        cudaStream_t stream);
template <typename T>
int conv2d_backward_input_cuda(T* dinp, const T* dout, const T* weight, const Conv2dParams& p, cudaStream_t stream);
template <typename T>
int conv2d_backward_weight_cuda(T* dweight, const T* dout, const T* inp, const Conv2dParams& p, cudaStream_t stream);
template <typename T>
int conv2d_backward_bias_cuda(T* dbias, const T* dout, const Conv2dParams& p, cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// pool2d (pool2d.h). max_pool2d_backward scatters with atomic adds (overlapping windows sum in an
// unspecified order); the average-pool backward kernels gather, in the CPU's order.

template <typename T>
int max_pool2d_forward_cuda(T* out, int64_t* indices, const T* inp, int64_t P, int64_t H, int64_t W, int64_t OH,
                            int64_t OW, const Pool2dWindow& win, bool relu, cudaStream_t stream);
template <typename T>
int max_pool2d_backward_cuda(T* dinp, const T* dout, const int64_t* indices, int64_t P, int64_t H, int64_t W,
                             int64_t OH, int64_t OW, cudaStream_t stream);
template <typename T>
int avg_pool2d_forward_cuda(T* out, const T* inp, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                            const Pool2dWindow& win, bool count_include_pad, int64_t divisor_override,
                            cudaStream_t stream);
template <typename T>
int avg_pool2d_backward_cuda(T* dinp, const T* dout, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                             const Pool2dWindow& win, bool count_include_pad, int64_t divisor_override,
                             cudaStream_t stream);
template <typename T>
int adaptive_avg_pool2d_forward_cuda(T* out, const T* inp, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                     cudaStream_t stream);
template <typename T>
int adaptive_avg_pool2d_backward_cuda(T* dinp, const T* dout, int64_t P, int64_t H, int64_t W, int64_t OH,
                                      int64_t OW, cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// activation (activation.h). Dropout masks equal the CPU's for the same seed (the same
// random_unit(seed, i), not Philox), so CUDA and CPU runs can be compared element by element.

template <typename T>
int activation_forward_cuda(Activation act, T* out, const T* inp, int64_t n, double slope, cudaStream_t stream);
template <typename T>
int activation_backward_cuda(Activation act, T* dinp, const T* dout, const T* saved, int64_t n, double slope,
                             cudaStream_t stream);
template <typename T>
int dropout_forward_cuda(T* out, uint8_t* mask, const T* inp, int64_t n, double p, uint64_t seed, cudaStream_t stream);
template <typename T>
int dropout_backward_cuda(T* dinp, const T* dout, const uint8_t* mask, int64_t n, double p, cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// batch_norm (batch_norm.h). Per-channel sums in double, split over blocks and added in a fixed
// order.

template <typename T>
int batch_norm_forward_cuda(T* out, T* save_mean, T* save_invstd, T* running_mean, T* running_var, const T* inp,
                            const T* weight, const T* bias, int64_t N, int64_t C, int64_t S, bool training,
                            double momentum, double eps, cudaStream_t stream);
template <typename T>
int batch_norm_backward_cuda(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* save_mean,
                             const T* save_invstd, const T* weight, int64_t N, int64_t C, int64_t S, bool training,
                             cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// loss (loss.h). TI: int32_t or int64_t. The CPU binding checks every target before the kernel
// runs; on CUDA that check would need the targets on the host (a synchronisation), so the kernels
// themselves stay memory-safe instead: a target outside [0, C) that is not ignore_index reads
// nothing and gives a NaN loss and NaN gradients for its sample. count_invalid_targets_cuda lets
// the binding report such targets as an error when it next synchronises.

template <typename T>
int log_softmax_forward_cuda(T* out, const T* x, int64_t outer, int64_t C, int64_t inner, cudaStream_t stream);
template <typename T>
int log_softmax_backward_cuda(T* dx, const T* dy, const T* out, int64_t outer, int64_t C, int64_t inner,
                              cudaStream_t stream);
template <typename T>
int softmax_forward_cuda(T* out, const T* x, int64_t outer, int64_t C, int64_t inner, cudaStream_t stream);
template <typename T>
int softmax_backward_cuda(T* dx, const T* dy, const T* out, int64_t outer, int64_t C, int64_t inner,
                          cudaStream_t stream);

template <typename T, typename TI>
int cross_entropy_forward_cuda(T* out, T* total_weight, T* logp, const T* logits, const TI* target, const T* weight,
                               Reduction reduction, int64_t ignore_index, double label_smoothing, int64_t outer,
                               int64_t C, int64_t inner, cudaStream_t stream);
template <typename T, typename TI>
int cross_entropy_backward_cuda(T* dlogits, const T* dout, const T* logp, const TI* target, const T* weight,
                                const T* total_weight, Reduction reduction, int64_t ignore_index,
                                double label_smoothing, int64_t outer, int64_t C, int64_t inner, cudaStream_t stream);
template <typename T, typename TI>
int nll_loss_forward_cuda(T* out, T* total_weight, const T* logp, const TI* target, const T* weight,
                          Reduction reduction, int64_t ignore_index, int64_t outer, int64_t C, int64_t inner,
                          cudaStream_t stream);
template <typename T, typename TI>
int nll_loss_backward_cuda(T* dlogp, const T* dout, const TI* target, const T* weight, const T* total_weight,
                           Reduction reduction, int64_t ignore_index, int64_t outer, int64_t C, int64_t inner,
                           cudaStream_t stream);

// counts (2 int64, device, zeroed by the caller): the targets that lie outside [0, C) and differ from
// ignore_index, noted by note_offender (cuda_device.cuh). Read it back when convenient.
template <typename TI>
int count_invalid_targets_cuda(int64_t* counts, const TI* target, int64_t S, int64_t C, int64_t ignore_index,
                               cudaStream_t stream);

template <typename T>
int pointwise_loss_forward_cuda(PointwiseLoss loss, T* out, const T* input, const T* target, Reduction reduction,
                                double beta, int64_t n, cudaStream_t stream);
template <typename T>
int pointwise_loss_backward_cuda(PointwiseLoss loss, T* dinput, const T* dout, const T* input, const T* target,
                                 Reduction reduction, double beta, int64_t n, cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// optim (optim.h). The single-tensor launchers have the CPU signatures; the multi-tensor ones
// update every parameter of a group in one launch (48 tensors per launch; longer lists take
// ceil(count / 48) launches). Their arrays (`count` entries) are host arrays of device pointers
// and host scalars; per-tensor entries are those that may differ within a group (a parameter's
// first momentum step, its Adam step count). Results equal the CPU steps bit for bit.

template <typename T>
int sgd_step_cuda(T* param, const T* grad, T* momentum_buf, int64_t n, double lr, double momentum, double dampening,
                  bool nesterov, double weight_decay, bool maximize, bool first_step, cudaStream_t stream);

template <typename T>
int adam_step_cuda(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, int64_t n, double lr,
                   double beta1, double beta2, double eps, double weight_decay, int64_t step, bool amsgrad,
                   bool decoupled, bool maximize, cudaStream_t stream);

// params, grads, momentum_bufs (null entries, or a null array, when momentum == 0), numels and
// first_steps have `count` entries.
template <typename T>
int sgd_step_multi_cuda(int64_t count, T* const* params, const T* const* grads, T* const* momentum_bufs,
                        const int64_t* numels, const bool* first_steps, double lr, double momentum, double dampening,
                        bool nesterov, double weight_decay, bool maximize, cudaStream_t stream);

// max_exp_avg_sqs may be null unless amsgrad; steps[i] >= 1 is parameter i's step count including
// this step.
template <typename T>
int adam_step_multi_cuda(int64_t count, T* const* params, const T* const* grads, T* const* exp_avgs,
                         T* const* exp_avg_sqs, T* const* max_exp_avg_sqs, const int64_t* numels, const int64_t* steps,
                         double lr, double beta1, double beta2, double eps, double weight_decay, bool amsgrad,
                         bool decoupled, bool maximize, cudaStream_t stream);

}  // namespace tensile
