// CPU optimizer steps: the reference loops, element by element, in the parameter's own type T
// (scalars are converted to T once, as PyTorch does for float tensors), parallel over chunks of
// the flat parameter on the shared pool. These are also the oracle for any CUDA twin.
#include <cmath>
#include <type_traits>

#include "../core/thread_pool.h"
#include "optim.h"

namespace tensile {
namespace {

constexpr int64_t kGrain = 16384;  // below this, threading costs more than it saves

// Calls f with each flag as a compile-time constant (std::true_type / std::false_type), so that
// the element loop below carries no branch: with the flags tested inside it GCC neither unswitched
// nor vectorised it, and an SGD step over 421k parameters took 1.3 ms instead of ~0.2.
template <typename F>
void with_flags(F&& f) {
  f();
}
template <typename F, typename... Rest>
void with_flags(F&& f, bool flag, Rest... rest) {
  if (flag)
    with_flags([&](auto... c) { f(std::true_type{}, c...); }, rest...);
  else
    with_flags([&](auto... c) { f(std::false_type{}, c...); }, rest...);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// SGD

template <typename T>
void sgd_step_cpu(T* param, const T* grad, T* momentum_buf, int64_t n, double lr, double momentum, double dampening,
                  bool nesterov, double weight_decay, bool maximize, bool first_step) {
  const T lr_t = T(lr), mu = T(momentum), one_minus_tau = T(1.0 - dampening), wd = T(weight_decay);
  with_flags(
      [&](auto maximize_c, auto use_wd_c, auto use_momentum_c, auto first_step_c, auto nesterov_c) {
        constexpr bool kMaximize = decltype(maximize_c)::value, kWd = decltype(use_wd_c)::value;
        constexpr bool kMomentum = decltype(use_momentum_c)::value, kFirst = decltype(first_step_c)::value;
        constexpr bool kNesterov = decltype(nesterov_c)::value;
        parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
          const T lr_l = lr_t, mu_l = mu, tau_l = one_minus_tau, wd_l = wd;  // local copies (see adam_step_cpu)
          for (int64_t i = i0; i < i1; i++) {
            // g_t = grad f(theta_{t-1}), negated for maximize. PyTorch's code negates here, before weight
            // decay (the docs' pseudo-code flips the sign at the update; the two agree unless weight decay is set).
            T g = kMaximize ? -grad[i] : grad[i];
            // g_t <- g_t + lambda * theta_{t-1}
            if (kWd) g = g + wd_l * param[i];
            if (kMomentum) {
              // b_t <- g_t on the first step (no dampening), else b_t <- mu * b_{t-1} + (1 - tau) * g_t
              T b = kFirst ? g : mu_l * momentum_buf[i] + tau_l * g;
              momentum_buf[i] = b;
              // g_t <- g_t + mu * b_t (Nesterov), else g_t <- b_t
              g = kNesterov ? g + mu_l * b : b;
            }
            // theta_t <- theta_{t-1} - gamma * g_t
            param[i] = param[i] - lr_l * g;
          }
        });
      },
      maximize, weight_decay != 0, momentum != 0, first_step, nesterov);
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
  const T step_size_ = T(lr / bias_correction1);
  const T bias_correction2_sqrt_ = T(std::sqrt(bias_correction2));
  const T b1_ = T(beta1), one_minus_b1_ = T(1.0 - beta1), b2_ = T(beta2), one_minus_b2_ = T(1.0 - beta2);
  const T eps_t_ = T(eps), wd_ = T(weight_decay), decay_ = T(1.0 - lr * weight_decay);
  with_flags(
      [&](auto maximize_c, auto use_wd_c, auto decoupled_c, auto amsgrad_c) {
        constexpr bool kMaximize = decltype(maximize_c)::value, kWd = decltype(use_wd_c)::value;
        constexpr bool kDecoupled = decltype(decoupled_c)::value, kAmsgrad = decltype(amsgrad_c)::value;
  parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
    // Local copies: read through the closure's references, GCC must assume the stores below may
    // change them, and it reloads them every element instead of vectorising.
    const T b1 = b1_, one_minus_b1 = one_minus_b1_, b2 = b2_, one_minus_b2 = one_minus_b2_, eps_t = eps_t_, wd = wd_, decay = decay_;
    const T step_size = step_size_, bias_correction2_sqrt = bias_correction2_sqrt_;
    for (int64_t i = i0; i < i1; i++) {
      // g_t = grad f(theta_{t-1}), negated for maximize
      T g = kMaximize ? -grad[i] : grad[i];
      T p = param[i];
      if (kWd) {
        // AdamW: theta_t <- theta_{t-1} - gamma * lambda * theta_{t-1} (decoupled weight decay)
        // Adam:  g_t <- g_t + lambda * theta_{t-1} (L2 penalty)
        if (kDecoupled) p = p * decay;
        else g = g + wd * p;
      }
      // m_t <- beta1 * m_{t-1} + (1 - beta1) * g_t (first moment)
      T m = b1 * exp_avg[i] + one_minus_b1 * g;
      exp_avg[i] = m;
      // v_t <- beta2 * v_{t-1} + (1 - beta2) * g_t^2 (second moment)
      T v = b2 * exp_avg_sq[i] + one_minus_b2 * g * g;
      exp_avg_sq[i] = v;
      // AMSGrad: v_t^max <- max(v_{t-1}^max, v_t), and the denominator uses v_t^max instead of v_t
      if (kAmsgrad) {
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
      },
      maximize, weight_decay != 0, decoupled, amsgrad);
}

template void sgd_step_cpu<float>(float*, const float*, float*, int64_t, double, double, double, bool, double, bool, bool);
template void sgd_step_cpu<double>(double*, const double*, double*, int64_t, double, double, double, bool, double, bool, bool);
template void adam_step_cpu<float>(float*, const float*, float*, float*, float*, int64_t, double, double, double, double,
                                   double, int64_t, bool, bool, bool);
template void adam_step_cpu<double>(double*, const double*, double*, double*, double*, int64_t, double, double, double,
                                    double, double, int64_t, bool, bool, bool);

}  // namespace tensile
