// 2-D pooling kernels: max (with int64 argmax indices), average and adaptive average, forward and
// backward. Every kernel works on independent (H, W) planes: P = N*C planes, so batched and
// unbatched inputs are the same call. Output sizes and option checks live in lib/ops/pool2d.ts;
// the kernels only clip windows to the input, so any sizes are memory-safe.
//
// Dimension letters: P = N*C planes, H, W = input plane, OH, OW = output plane,
// KH, KW = kernel, SH, SW = stride, PH, PW = padding, DH, DW = dilation.
#pragma once
#include <cstdint>

namespace tensile {

// Window geometry shared by max and average pooling (average pooling has no dilation: DH = DW = 1).
struct Pool2dWindow {
  int64_t KH, KW, SH, SW, PH, PW, DH, DW;
};

// Output o of a plane covers input rows o*SH - PH + k*DH for k < KH (columns likewise); rows
// outside [0, H) are padding (-inf) and never win. indices hold the flat position h*W + w of the
// winner within its plane (PyTorch's convention); ties keep the first, NaN wins. A window that
// holds no input element at all (possible only with extreme dilation) gives -inf and index -1.
// With `relu`, out = relu(max) = max(relu(x)) over the window: a window whose max is not positive
// gives 0 (NaN stays NaN) and index -1, so that the backward below passes it no gradient, which is
// exactly the gradient of relu followed by max pooling, without the relu output in memory.
// out, indices are (P, OH, OW); inp is (P, H, W).
template <typename T>
void max_pool2d_forward_cpu(T* out, int64_t* indices, const T* inp, int64_t P, int64_t H, int64_t W, int64_t OH,
                            int64_t OW, const Pool2dWindow& win, bool relu = false);

// dinp = 0, then dinp[p][indices[p][o]] += dout[p][o] (windows may overlap). Negative indices
// are skipped; the binding has checked that all others lie in [0, H*W). `win`, when given, is the
// forward's window: for 2x2/stride-2 windows, which do not overlap, each input element is then
// written once (the gradient, or 0), which halves the memory traffic on large planes; an index
// outside its own window then passes no gradient (forward never makes one).
// dinp is (P, H, W); dout, indices are (P, OH, OW).
template <typename T>
void max_pool2d_backward_cpu(T* dinp, const T* dout, const int64_t* indices, int64_t P, int64_t H, int64_t W,
                             int64_t OH, int64_t OW, const Pool2dWindow* win = nullptr);

// PyTorch's divisor rules: the window [o*S - P, o*S - P + K) is first clipped to the padded
// input [-P, H + P) (ceil_mode windows may run past it), giving the count_include_pad divisor;
// then to [0, H), giving the divisor otherwise. divisor_override > 0 replaces both. A window
// with no input element gives 0.
// out is (P, OH, OW); inp is (P, H, W).
template <typename T>
void avg_pool2d_forward_cpu(T* out, const T* inp, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                            const Pool2dWindow& win, bool count_include_pad, int64_t divisor_override);

// dinp = 0, then each dout element spread evenly (by the same divisor) over its window.
// dinp is (P, H, W); dout is (P, OH, OW).
template <typename T>
void avg_pool2d_backward_cpu(T* dinp, const T* dout, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                             const Pool2dWindow& win, bool count_include_pad, int64_t divisor_override);

// Output row i averages input rows [floor(i*H/OH), ceil((i+1)*H/OH)) (columns likewise), as
// PyTorch does; windows overlap when OH does not divide H. OH, OW >= 1.
// out is (P, OH, OW); inp is (P, H, W).
template <typename T>
void adaptive_avg_pool2d_forward_cpu(T* out, const T* inp, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW);

// dinp = 0, then each dout element spread evenly over its window.
// dinp is (P, H, W); dout is (P, OH, OW).
template <typename T>
void adaptive_avg_pool2d_backward_cpu(T* dinp, const T* dout, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW);

}  // namespace tensile
