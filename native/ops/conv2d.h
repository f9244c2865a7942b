// 2-D convolution (PyTorch's cross-correlation) with stride, zero padding, dilation and groups:
// forward and the three backward kernels. 3x3 stride-1 layers with enough channels use Winograd
// F(2x2, 3x3); otherwise, where the column stride is 1 and channels fill SIMD vectors, a direct
// kernel with vectors along channels (conv2d_cpu.cc, "Direct path"), or, for stride-1 layers
// whose channels would leave those vectors partly empty, vectors along whole image planes stored
// as one row ("Wide rows"); else each image and group
// is lowered to one GEMM through im2col (skipped for 1x1, stride-1, unpadded kernels, whose
// input already is the column matrix). Not here: FFT, channels-last layouts.
//
// Dimension letters: N images, C input channels, H x W input size, OC output channels, KH x KW
// kernel size, OH x OW output size, G groups (C and OC divisible by G).
// Layouts: inp (N, C, H, W), weight (OC, C/G, KH, KW), bias (OC), out (N, OC, OH, OW).
#pragma once
#include <cstdint>

#include "pool2d.h"

namespace tensile {

// Input row ih of output row oh and kernel row kh is oh * strideH - padH + kh * dilH; rows
// outside [0, H) read as zero. OH and OW are given rather than derived, so that a caller can pad
// the bottom/right edge by one more than the top/left (PyTorch's padding='same' with an even
// dilated kernel): positions past the input are zeros however far they reach.
struct Conv2dParams {
  int64_t N, C, H, W, OC, KH, KW, OH, OW;
  int64_t strideH, strideW, padH, padW, dilH, dilW, groups;
};

// out (N, OC, OH, OW) = conv(inp, weight) + bias; bias (OC) may be null.
template <typename T>
void conv2d_forward_cpu(T* out, const T* inp, const T* weight, const T* bias, const Conv2dParams& p);

// Backward kernels overwrite their output (they do not accumulate).
// dinp (N, C, H, W) = gradient of the input given dout (N, OC, OH, OW).
template <typename T>
void conv2d_backward_input_cpu(T* dinp, const T* dout, const T* weight, const Conv2dParams& p);

// dweight (OC, C/G, KH, KW) = sum over images of dout x im2col(inp).
template <typename T>
void conv2d_backward_weight_cpu(T* dweight, const T* dout, const T* inp, const Conv2dParams& p);

// dbias (OC) = dout summed over N, OH, OW.
template <typename T>
void conv2d_backward_bias_cpu(T* dbias, const T* dout, const Conv2dParams& p);

// conv2d -> relu -> max_pool2d in one pass (conv2d_pool_cpu.cc), CPU only: on CUDA, lib runs the three
// ops. The pool's window is `win`, its output PH x PW per plane.
// out, indices (N, OC, PH, PW) = max_pool2d_forward_cpu(relu) of conv2d_forward_cpu(inp, weight, bias);
// the indices index the convolution's (OH, OW) planes, -1 where relu passes no gradient.
template <typename T>
void conv2d_relu_max_pool2d_forward_cpu(T* out, int64_t* indices, const T* inp, const T* weight, const T* bias, const Conv2dParams& p,
                                        const Pool2dWindow& win, int64_t PH, int64_t PW);

// The gradients of that op's input, weight and bias (any may be null: not wanted; those given are
// overwritten) from its output's gradient `grad` and its indices (N, OC, PH, PW), which must lie in
// [-1, OH*OW) (the binding checks). The weight and bias gradients cost what the PH*PW positions do,
// not OH*OW (with AVX-512, one group, unit column dilation and patch rows KW*C of at most 8 or at
// least 16; elsewhere the dense kernel on the unpooled gradient). A tap whose convolution output got no gradient is not multiplied through, so an
// infinite input there no longer turns the weight gradient into NaN as the dense kernels would.
template <typename T>
void conv2d_relu_max_pool2d_backward_cpu(T* dinp, T* dweight, T* dbias, const T* grad, const int64_t* indices, const T* inp, const T* weight,
                                         const Conv2dParams& p, const Pool2dWindow& win, int64_t PH, int64_t PW);

}  // namespace tensile
