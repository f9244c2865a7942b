// CUDA twin of conv2d_cpu.cc: im2col into scratch, then our GEMM (gemm_cuda.cuh) with a two-level
// batch over (image, group), so that a chunk of images and every group go in one launch.
//
// The column matrix of a chunk of nb images is (C * KH * KW, nb * P): row (c, kh, kw), and in it
// image n's P = OH * OW output positions side by side. Group g's rows are [g * Kg, (g + 1) * Kg),
// so one im2col serves all groups, and image n's column block is a (Kg, P) matrix with row
// stride nb * P starting at column n * P: exactly what the batched GEMM reads. Chunks are sized
// to keep the column matrix under kColBudget elements.
//
// - forward:   out[n, g] (OCg, P) = weight[g] (OCg, Kg) x col[n, g] (Kg, P) (+ bias, prefilled)
// - input:     dcol[n, g] (Kg, P) = weight[g]^T x dout[n, g], then col2im as a gather: each input
//              element sums the column entries that read it (no atomics, fixed order)
// - weight:    dweight[g] (OCg, Kg) = dout[g] (OCg, nb * P) x col[g]^T, one GEMM per chunk with
//              K = nb * P (dout is first regrouped to (OC, nb * P)); chunks accumulate (beta = 1)
// - bias:      one block per output channel, a double sum over (N, OH, OW)
// 1x1 kernels with stride 1 and no padding read the input itself as the column matrix (forward,
// input gradient). Not here: implicit GEMM without the column buffer, Winograd, NHWC.
#include <cuda_runtime.h>

#include <algorithm>

#include "../core/cuda_device.cuh"
#include "cuda_kernels.h"
#include "gemm_cuda.cuh"

namespace tensile {

// tn.backends.cudnn.allowTF32 (PyTorch's torch.backends.cudnn.allow_tf32, which defaults to true there;
// off here until it has been measured on a GPU): TF32 tensor-core products in the convolutions' GEMMs.
bool conv_allow_tf32 = false;
void set_conv2d_allow_tf32_cuda(bool allow) { conv_allow_tf32 = allow; }

namespace {

using namespace cuda;

constexpr int64_t kColBudget = int64_t(1) << 24;  // column-matrix elements per chunk (64 MiB float)

struct Geometry {
  int64_t Cg, OCg, Kg, KK, P, HW, rows;  // rows = C * KH * KW of the full column matrix
  bool direct;                            // 1x1, stride 1, no padding, same size
  int64_t nb;                             // images per chunk

  explicit Geometry(const Conv2dParams& p) {
    Cg = p.C / p.groups;
    OCg = p.OC / p.groups;
    KK = p.KH * p.KW;
    Kg = Cg * KK;
    P = p.OH * p.OW;
    HW = p.H * p.W;
    rows = p.C * KK;
    direct = p.KH == 1 && p.KW == 1 && p.strideH == 1 && p.strideW == 1 && p.padH == 0 && p.padW == 0 &&
             p.OH == p.H && p.OW == p.W;
    nb = std::max<int64_t>(1, std::min<int64_t>(p.N, kColBudget / std::max<int64_t>(1, rows * P)));
  }
};

// col (rows, nbc * P) for images [n0, n0 + nbc): element t of col is (row, n, pos) in row-major
// order, so thread t writes col[t] and consecutive threads read consecutive input columns.
template <typename T>
__global__ void __launch_bounds__(kThreads) im2col_kernel(T* col, const T* inp, Conv2dParams p, int64_t n0, int64_t nbc) {
  const int64_t P = p.OH * p.OW, total = p.C * p.KH * p.KW * nbc * P;
  TENSILE_CUDA_LOOP(t, total) {
    const int64_t pos = t % P, rest = t / P, n = rest % nbc, row = rest / nbc;
    const int64_t kw = row % p.KW, kh = (row / p.KW) % p.KH, c = row / (p.KW * p.KH);
    const int64_t oh = pos / p.OW, ow = pos % p.OW;
    const int64_t ih = oh * p.strideH - p.padH + kh * p.dilH, iw = ow * p.strideW - p.padW + kw * p.dilW;
    T v = T(0);
    if (ih >= 0 && ih < p.H && iw >= 0 && iw < p.W) v = inp[(((n0 + n) * p.C + c) * p.H + ih) * p.W + iw];
    col[t] = v;
  }
}

// dinp (images [n0, n0 + nbc)) = col2im(dcol): input element (n, c, ih, iw) sums dcol over the
// taps (kh, kw) whose output position (oh, ow) reads it, in (kh, kw) order. Overwrites.
template <typename T>
__global__ void __launch_bounds__(kThreads) col2im_kernel(T* dinp, const T* dcol, Conv2dParams p, int64_t n0, int64_t nbc) {
  const int64_t P = p.OH * p.OW, ldcol = nbc * P, total = nbc * p.C * p.H * p.W;
  TENSILE_CUDA_LOOP(t, total) {
    const int64_t iw = t % p.W, ih = (t / p.W) % p.H, c = (t / (p.W * p.H)) % p.C, n = t / (p.W * p.H * p.C);
    T acc = T(0);
    for (int64_t kh = 0; kh < p.KH; kh++) {
      const int64_t hnum = ih + p.padH - kh * p.dilH;  // = oh * strideH
      if (hnum < 0 || hnum % p.strideH) continue;
      const int64_t oh = hnum / p.strideH;
      if (oh >= p.OH) continue;
      for (int64_t kw = 0; kw < p.KW; kw++) {
        const int64_t wnum = iw + p.padW - kw * p.dilW;
        if (wnum < 0 || wnum % p.strideW) continue;
        const int64_t ow = wnum / p.strideW;
        if (ow >= p.OW) continue;
        acc += dcol[((c * p.KH + kh) * p.KW + kw) * ldcol + n * P + oh * p.OW + ow];
      }
    }
    dinp[(n0 * p.C) * p.H * p.W + t] = acc;
  }
}

// out[n, oc, :] = bias[oc] for every image (the GEMM then adds with beta = 1).
template <typename T>
__global__ void __launch_bounds__(kThreads) bias_fill_kernel(T* out, const T* bias, int64_t OC, int64_t P, int64_t total) {
  TENSILE_CUDA_LOOP(t, total) out[t] = bias[(t / P) % OC];
}

// doutT (OC, nbc * P) = dout of images [n0, n0 + nbc) regrouped by channel.
template <typename T>
__global__ void __launch_bounds__(kThreads) regroup_kernel(T* doutT, const T* dout, int64_t OC, int64_t P, int64_t n0,
                                                           int64_t nbc) {
  const int64_t total = OC * nbc * P;
  TENSILE_CUDA_LOOP(t, total) {
    const int64_t pos = t % P, n = (t / P) % nbc, oc = t / (P * nbc);
    doutT[t] = dout[((n0 + n) * OC + oc) * P + pos];
  }
}

// dbias[oc] = sum over (n, pos) of dout[n, oc, pos], one block per channel, in double.
template <typename T>
__global__ void __launch_bounds__(kThreads) bias_grad_kernel(T* dbias, const T* dout, int64_t N, int64_t OC, int64_t P) {
  __shared__ double shared[32];
  for (int64_t oc = blockIdx.x; oc < OC; oc += gridDim.x) {
    double acc = 0;
    for (int64_t j = threadIdx.x; j < N * P; j += blockDim.x) {
      const int64_t n = j / P, pos = j - n * P;
      acc += double(dout[(n * OC + oc) * P + pos]);
    }
    acc = block_sum(acc, shared);
    if (threadIdx.x == 0) dbias[oc] = T(acc);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// launchers

template <typename T>
int conv2d_forward_cuda(T* out, const T* inp, const T* weight, const T* bias, const Conv2dParams& p,
                        cudaStream_t stream) {
  const Geometry geo(p);
  const int64_t outN = p.N * p.OC * geo.P;
  if (outN <= 0) return 0;
  const T beta = bias ? T(1) : T(0);
  if (bias) bias_fill_kernel<T><<<grid_for(outN), kThreads, 0, stream>>>(out, bias, p.OC, geo.P, outN);
  if (geo.direct) {
    GemmProblem<T> g{false, false, geo.OCg, geo.P, geo.Kg, T(1),
                     weight, geo.Kg, 0, geo.OCg * geo.Kg,
                     inp, geo.P, p.C * geo.HW, geo.Cg * geo.HW,
                     beta, out, geo.P, p.OC * geo.P, geo.OCg * geo.P, p.N, p.groups};
    TENSILE_CUDA_TRY(gemm_run(g, conv_allow_tf32, stream));
    return launch_status();
  }
  CudaScratch col(size_t(geo.rows * geo.nb * geo.P) * sizeof(T));
  TENSILE_CUDA_TRY(col.status());
  for (int64_t n0 = 0; n0 < p.N; n0 += geo.nb) {
    const int64_t nbc = std::min(geo.nb, p.N - n0), ldcol = nbc * geo.P;
    im2col_kernel<T><<<grid_for(geo.rows * ldcol), kThreads, 0, stream>>>(col.as<T>(), inp, p, n0, nbc);
    GemmProblem<T> g{false, false, geo.OCg, geo.P, geo.Kg, T(1),
                     weight, geo.Kg, 0, geo.OCg * geo.Kg,
                     col.as<T>(), ldcol, geo.P, geo.Kg * ldcol,
                     beta, out + n0 * p.OC * geo.P, geo.P, p.OC * geo.P, geo.OCg * geo.P, nbc, p.groups};
    TENSILE_CUDA_TRY(gemm_run(g, conv_allow_tf32, stream));
  }
  return launch_status();
}

template <typename T>
int conv2d_backward_input_cuda(T* dinp, const T* dout, const T* weight, const Conv2dParams& p, cudaStream_t stream) {
  const Geometry geo(p);
  if (p.N * p.C * geo.HW <= 0) return 0;
  if (geo.direct) {
    GemmProblem<T> g{true, false, geo.Kg, geo.P, geo.OCg, T(1),
                     weight, geo.Kg, 0, geo.OCg * geo.Kg,
                     dout, geo.P, p.OC * geo.P, geo.OCg * geo.P,
                     T(0), dinp, geo.P, p.C * geo.HW, geo.Cg * geo.HW, p.N, p.groups};
    TENSILE_CUDA_TRY(gemm_run(g, conv_allow_tf32, stream));
    return launch_status();
  }
  CudaScratch dcol(size_t(geo.rows * geo.nb * geo.P) * sizeof(T));
  TENSILE_CUDA_TRY(dcol.status());
  for (int64_t n0 = 0; n0 < p.N; n0 += geo.nb) {
    const int64_t nbc = std::min(geo.nb, p.N - n0), ldcol = nbc * geo.P;
    GemmProblem<T> g{true, false, geo.Kg, geo.P, geo.OCg, T(1),
                     weight, geo.Kg, 0, geo.OCg * geo.Kg,
                     dout + n0 * p.OC * geo.P, geo.P, p.OC * geo.P, geo.OCg * geo.P,
                     T(0), dcol.as<T>(), ldcol, geo.P, geo.Kg * ldcol, nbc, p.groups};
    TENSILE_CUDA_TRY(gemm_run(g, conv_allow_tf32, stream));
    col2im_kernel<T><<<grid_for(nbc * p.C * geo.HW), kThreads, 0, stream>>>(dinp, dcol.as<T>(), p, n0, nbc);
  }
  return launch_status();
}

template <typename T>
int conv2d_backward_weight_cuda(T* dweight, const T* dout, const T* inp, const Conv2dParams& p, cudaStream_t stream) {
  const Geometry geo(p);
  const int64_t wsize = p.OC * geo.Kg;
  if (wsize <= 0) return 0;
  if (p.N <= 0 || geo.P <= 0) return cuda_memset_zero(dweight, size_t(wsize) * sizeof(T), stream);
  CudaScratch col(size_t(geo.rows * geo.nb * geo.P) * sizeof(T));
  TENSILE_CUDA_TRY(col.status());
  CudaScratch doutT(size_t(p.OC * geo.nb * geo.P) * sizeof(T));
  TENSILE_CUDA_TRY(doutT.status());
  for (int64_t n0 = 0; n0 < p.N; n0 += geo.nb) {
    const int64_t nbc = std::min(geo.nb, p.N - n0), ldcol = nbc * geo.P;
    im2col_kernel<T><<<grid_for(geo.rows * ldcol), kThreads, 0, stream>>>(col.as<T>(), inp, p, n0, nbc);
    regroup_kernel<T><<<grid_for(p.OC * ldcol), kThreads, 0, stream>>>(doutT.as<T>(), dout, p.OC, geo.P, n0, nbc);
    // One GEMM per group (batch over groups), K = the chunk's nb * P positions; later chunks add on.
    GemmProblem<T> g{false, true, geo.OCg, geo.Kg, ldcol, T(1),
                     doutT.as<T>(), ldcol, geo.OCg * ldcol, 0,
                     col.as<T>(), ldcol, geo.Kg * ldcol, 0,
                     n0 == 0 ? T(0) : T(1), dweight, geo.Kg, geo.OCg * geo.Kg, 0, p.groups, 1};
    TENSILE_CUDA_TRY(gemm_run(g, conv_allow_tf32, stream));
  }
  return launch_status();
}

template <typename T>
int conv2d_backward_bias_cuda(T* dbias, const T* dout, const Conv2dParams& p, cudaStream_t stream) {
  if (p.OC <= 0) return 0;
  bias_grad_kernel<T><<<unsigned(std::min<int64_t>(p.OC, kMaxGrid)), kThreads, 0, stream>>>(dbias, dout, p.N, p.OC,
                                                                                           p.OH * p.OW);
  return launch_status();
}

#define INSTANTIATE(T)                                                                                      \
  template int conv2d_forward_cuda<T>(T*, const T*, const T*, const T*, const Conv2dParams&, cudaStream_t); \
  template int conv2d_backward_input_cuda<T>(T*, const T*, const T*, const Conv2dParams&, cudaStream_t);    \
  template int conv2d_backward_weight_cuda<T>(T*, const T*, const T*, const Conv2dParams&, cudaStream_t);   \
  template int conv2d_backward_bias_cuda<T>(T*, const T*, const Conv2dParams&, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace tensile
