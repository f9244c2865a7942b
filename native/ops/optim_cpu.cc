// CPU optimizer steps: the reference loops, element by element, in the parameter's own type T
// (scalars are converted to T once, as PyTorch does for float tensors), parallel over chunks of
// the flat parameter on the shared pool. These are also the oracle for any CUDA twin.
#include <cmath>

#include "../core/thread_pool.h"
#include "optim.h"

namespace tensile {
namespace {

constexpr int64_t kGrain = 16384;  // below this, threading costs more than it saves

}  // namespace

// ---------------------------------------------------------------------------------------------
// SGD

template <typename T>
void sgd_step_cpu(T* param, const T* grad, T* momentum_buf, int64_t n, double lr, double momentum, double dampening,
                  bool nesterov, double weight_decay, bool maximize, bool first_step) {
  const T lr_t = T(lr), mu = T(momentum), one_minus_tau = T(1.0 - dampening), wd = T(weight_decay);
  const bool use_wd = weight_decay != 0, use_momentum = momentum != 0;
  parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
      // g_t = grad f(theta_{t-1}), negated for maximize. PyTorch's code negates here, before weight
      // decay (the docs' pseudo-code flips the sign at the update; the two agree unless weight decay is set).
      T g = maximize ? -grad[i] : grad[i];
      // g_t <- g_t + lambda * theta_{t-1}
      if (use_wd) g = g + wd * param[i];
      if (use_momentum) {
        // b_t <- g_t on the first step (no dampening), else b_t <- mu * b_{t-1} + (1 - tau) * g_t
        T b = first_step ? g : mu * momentum_buf[i] + one_minus_tau * g;
        momentum_buf[i] = b;
        // g_t <- g_t + mu * b_t (Nesterov), else g_t <- b_t
        g = nesterov ? g + mu * b : b;
      }
      // theta_t <- theta_{t-1} - gamma * g_t
      param[i] = param[i] - lr_t * g;
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Adam / AdamW

template <typename T>
void adam_step_cpu(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, int64_t n, double lr,
                   double beta1, double beta2, double eps, double weight_decay, int64_t step, bool amsgrad,
                   bool decoupled, bool maximize) {
  // The per-step scalars, in double as PyTorch computes them in Python:
  // bias corrections 1 - beta1^t and 1 - beta2^t, the step size gamma / (1 - beta1^t), sqrt(1 - beta2^t).
  const double bias_correction1 = 1.0 - std::pow(beta1, double(step));
  const double bias_correction2 = 1.0 - std::pow(beta2, double(step));
  const T step_size = T(lr / bias_correction1);
  const T bias_correction2_sqrt = T(std::sqrt(bias_correction2));
  const T b1 = T(beta1), one_minus_b1 = T(1.0 - beta1), b2 = T(beta2), one_minus_b2 = T(1.0 - beta2);
  const T eps_t = T(eps), wd = T(weight_decay), decay = T(1.0 - lr * weight_decay);
  const bool use_wd = weight_decay != 0;
  parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
      // g_t = grad f(theta_{t-1}), negated for maximize
      T g = maximize ? -grad[i] : grad[i];
      T p = param[i];
      if (use_wd) {
        // AdamW: theta_t <- theta_{t-1} - gamma * lambda * theta_{t-1} (decoupled weight decay)
        // Adam:  g_t <- g_t + lambda * theta_{t-1} (L2 penalty)
        if (decoupled) p = p * decay;
        else g = g + wd * p;
      }
      // m_t <- beta1 * m_{t-1} + (1 - beta1) * g_t (first moment)
      T m = b1 * exp_avg[i] + one_minus_b1 * g;
      exp_avg[i] = m;
      // v_t <- beta2 * v_{t-1} + (1 - beta2) * g_t^2 (second moment)
      T v = b2 * exp_avg_sq[i] + one_minus_b2 * g * g;
      exp_avg_sq[i] = v;
      // AMSGrad: v_t^max <- max(v_{t-1}^max, v_t), and the denominator uses v_t^max instead of v_t
      if (amsgrad) {
        T vmax = max_exp_avg_sq[i];
        v = (vmax < v || v != v) ? v : vmax;  // NaN propagates, as torch.maximum does
        max_exp_avg_sq[i] = v;
      }
      // denominator sqrt(v_hat_t) + eps, with v_hat_t = v_t / (1 - beta2^t)
      T denom = std::sqrt(v) / bias_correction2_sqrt + eps_t;
      // theta_t <- theta_{t-1} - gamma * m_hat_t / (sqrt(v_hat_t) + eps), with m_hat_t = m_t / (1 - beta1^t)
      param[i] = p - step_size * (m / denom);
    }
  });
}

template void sgd_step_cpu<float>(float*, const float*, float*, int64_t, double, double, double, bool, double, bool, bool);
template void sgd_step_cpu<double>(double*, const double*, double*, int64_t, double, double, double, bool, double, bool, bool);
template void adam_step_cpu<float>(float*, const float*, float*, float*, float*, int64_t, double, double, double, double,
                                   double, int64_t, bool, bool, bool);
template void adam_step_cpu<double>(double*, const double*, double*, double*, double*, int64_t, double, double, double,
                                    double, double, int64_t, bool, bool, bool);

}  // namespace tensile
