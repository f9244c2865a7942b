// Fused optimizer steps: one call updates one parameter tensor and its state in place, following
// PyTorch's torch.optim.SGD / Adam / AdamW exactly (single-tensor algorithm, same order of steps).
// What this is not: a multi-tensor or mixed-precision step; lib/optim/*.ts loops over parameters.
// Dimension letters: n = number of elements of the parameter. Every pointer is (n), contiguous,
// of the parameter's floating type T; param and the state buffers are read and written.
#pragma once
#include <cstdint>

namespace tensile {

// SGD with momentum, dampening, Nesterov momentum, L2 weight decay and maximize.
// https://pytorch.org/docs/stable/generated/torch.optim.SGD.html
// param (n): updated in place
// grad (n): the gradient of the loss with respect to param
// momentum_buf (n): the momentum buffer b, read and written; unused (may be null) when momentum == 0
// first_step: true on the parameter's first step with momentum, where b is set to g (no dampening)
template <typename T>
void sgd_step_cpu(T* param, const T* grad, T* momentum_buf, int64_t n, double lr, double momentum, double dampening,
                  bool nesterov, double weight_decay, bool maximize, bool first_step);

// Adam (decoupled = false, L2 weight decay added to the gradient) and AdamW (decoupled = true,
// param scaled by 1 - lr * weight_decay first), with bias correction and AMSGrad.
// https://pytorch.org/docs/stable/generated/torch.optim.Adam.html and .../torch.optim.AdamW.html
// param (n): updated in place
// grad (n): the gradient of the loss with respect to param
// exp_avg (n): first moment m, read and written
// exp_avg_sq (n): second moment v, read and written
// max_exp_avg_sq (n): running max of v, read and written; used (and required) only when amsgrad
// step: the step count t of this parameter including this step (t >= 1), for bias correction
template <typename T>
void adam_step_cpu(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, int64_t n, double lr,
                   double beta1, double beta2, double eps, double weight_decay, int64_t step, bool amsgrad,
                   bool decoupled, bool maximize);

}  // namespace tensile
