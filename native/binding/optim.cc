// N-API glue for native/ops/optim.h. lib/optim/*.ts validates options and shapes first; here we
// check what would otherwise read or write out of bounds, since the binding is callable directly.
#include "../ops/optim.h"

#include "registry.h"
#include "util.h"

#include <memory>
#include <vector>

namespace tensile {
namespace {

// The wording test/optim pins for a tensor that does not fit its storage.
constexpr RangeError kOptimRange = RangeError::DoesNotFit;

int64_t numel_arg(const Napi::CallbackInfo& info, int i, const char* op) {
  int64_t n = int_arg(info, i);
  TENSILE_CHECK(n >= 0, ValueError, op, ": invalid number of elements ", n);
  return n;
}

// The option checks of the single- and multi-tensor steps, in PyTorch's words.
void check_sgd_options(double lr, double momentum, double weight_decay) {
  TENSILE_CHECK(lr >= 0, ValueError, "sgd_step: invalid learning rate: ", lr);
  TENSILE_CHECK(momentum >= 0, ValueError, "sgd_step: invalid momentum value: ", momentum);
  TENSILE_CHECK(weight_decay >= 0, ValueError, "sgd_step: invalid weight_decay value: ", weight_decay);
}

void check_adam_options(double lr, double beta1, double beta2, double eps, double weight_decay) {
  TENSILE_CHECK(lr >= 0, ValueError, "adam_step: invalid learning rate: ", lr);
  TENSILE_CHECK(beta1 >= 0 && beta1 < 1, ValueError, "adam_step: invalid beta parameter at index 0: ", beta1);
  TENSILE_CHECK(beta2 >= 0 && beta2 < 1, ValueError, "adam_step: invalid beta parameter at index 1: ", beta2);
  TENSILE_CHECK(eps >= 0, ValueError, "adam_step: invalid epsilon value: ", eps);
  TENSILE_CHECK(weight_decay >= 0, ValueError, "adam_step: invalid weight_decay value: ", weight_decay);
}

// sgdStep(param, paramOff, grad, gradOff, momentumBuf | null, bufOff, n, dtype, lr, momentum, dampening, nesterov,
//         weightDecay, maximize, firstStep): param and momentumBuf (n) updated in place.
Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  int64_t n = numel_arg(info, 6, "sgd_step");
  DType dt = dtype_arg(info, 7);
  double lr = double_arg(info, 8), momentum = double_arg(info, 9), dampening = double_arg(info, 10);
  bool nesterov = bool_arg(info, 11);
  double weight_decay = double_arg(info, 12);
  bool maximize = bool_arg(info, 13), first_step = bool_arg(info, 14);
  check_sgd_options(lr, momentum, weight_decay);
  TENSILE_CHECK(momentum == 0 || !is_null_arg(info, 4), ValueError, "sgd_step: momentum ", momentum, " needs a momentum buffer");
  dispatch_floating(dt, "sgd_step", [&](auto t) {
    using T = decltype(t);
    T* param = checked_ptr<T>(info, 0, n, "sgd_step", "param", kOptimRange);
    const T* grad = checked_ptr<T>(info, 2, n, "sgd_step", "grad", kOptimRange);
    T* buf = momentum != 0 ? checked_ptr<T>(info, 4, n, "sgd_step", "momentum_buf", kOptimRange) : nullptr;
    if (n == 0) return;
    TENSILE_ON_DEVICE("sgd_step", sgd_step, <T>, param, grad, buf, n, lr, momentum, dampening, nesterov, weight_decay, maximize, first_step);
  });
  return info.Env().Undefined();
}

// adamStep(param, paramOff, grad, gradOff, expAvg, expAvgOff, expAvgSq, expAvgSqOff, maxExpAvgSq | null,
//          maxExpAvgSqOff, n, dtype, lr, beta1, beta2, eps, weightDecay, step, amsgrad, decoupled, maximize):
// param and the three state buffers (n) updated in place; step counts this step (>= 1).
Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  int64_t n = numel_arg(info, 10, "adam_step");
  DType dt = dtype_arg(info, 11);
  double lr = double_arg(info, 12), beta1 = double_arg(info, 13), beta2 = double_arg(info, 14);
  double eps = double_arg(info, 15), weight_decay = double_arg(info, 16);
  int64_t step = int_arg(info, 17);
  bool amsgrad = bool_arg(info, 18), decoupled = bool_arg(info, 19), maximize = bool_arg(info, 20);
  check_adam_options(lr, beta1, beta2, eps, weight_decay);
  TENSILE_CHECK(step >= 1, ValueError, "adam_step: step must be at least 1, got ", step);
  TENSILE_CHECK(!amsgrad || !is_null_arg(info, 8), ValueError, "adam_step: amsgrad needs a max_exp_avg_sq buffer");
  dispatch_floating(dt, "adam_step", [&](auto t) {
    using T = decltype(t);
    T* param = checked_ptr<T>(info, 0, n, "adam_step", "param", kOptimRange);
    const T* grad = checked_ptr<T>(info, 2, n, "adam_step", "grad", kOptimRange);
    T* exp_avg = checked_ptr<T>(info, 4, n, "adam_step", "exp_avg", kOptimRange);
    T* exp_avg_sq = checked_ptr<T>(info, 6, n, "adam_step", "exp_avg_sq", kOptimRange);
    T* max_exp_avg_sq = amsgrad ? checked_ptr<T>(info, 8, n, "adam_step", "max_exp_avg_sq", kOptimRange) : nullptr;
    if (n == 0) return;
    TENSILE_ON_DEVICE("adam_step", adam_step, <T>, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, n, lr, beta1, beta2, eps, weight_decay, step, amsgrad, decoupled, maximize);
  });
  return info.Env().Undefined();
}

// ---------------------------------------------------------------------------------------------
// multi-tensor steps: one call for a list of same-dtype parameters on one device (one launch per 48
// tensors on CUDA; on the CPU a loop of the single-tensor kernel, so results are the same bits)

// Array argument at slot i as a vector of values, `count` long (or empty when null and optional).
std::vector<Napi::Value> list_arg(const Napi::CallbackInfo& info, int i, size_t count, const char* op, const char* name, bool optional = false) {
  std::vector<Napi::Value> out;
  if (optional && is_null_arg(info, i)) return out;
  TENSILE_CHECK(info[i].IsArray(), ValueError, op, ": ", name, " must be an array");
  auto a = info[i].As<Napi::Array>();
  TENSILE_CHECK(a.Length() == count, ValueError, op, ": ", name, " has ", a.Length(), " entries but there are ", count, " parameters");
  out.reserve(count);
  for (uint32_t k = 0; k < count; k++) {
    out.push_back(a.Get(k));
    take_pending_exception(info.Env());  // a getter that threw
  }
  return out;
}

int64_t int_value(const Napi::Value& v, const char* op, const char* name) {
  TENSILE_CHECK(v.IsNumber(), ValueError, op, ": ", name, " entries must be numbers");
  const double d = v.As<Napi::Number>().DoubleValue();
  TENSILE_CHECK(fits_int64(d), ValueError, op, ": ", name, " entries must be finite integers but got ", d);
  return int64_t(d);
}

// Pointers to the `count` tensors given as handles at slot h and element offsets at slot h + 1,
// each checked to hold numels[k] elements; null entries (or a null list) give nullptr when optional.
template <typename T>
std::vector<T*> tensor_list(const Napi::CallbackInfo& info, int h, const std::vector<int64_t>& numels, const char* op, const char* name,
                            bool optional = false) {
  const size_t count = numels.size();
  std::vector<Napi::Value> handles = list_arg(info, h, count, op, name, optional);
  std::vector<T*> out(count, nullptr);
  if (handles.empty()) return out;
  std::vector<Napi::Value> offs = list_arg(info, h + 1, count, op, name);
  for (size_t k = 0; k < count; k++) {
    if (optional && (handles[k].IsNull() || handles[k].IsUndefined())) continue;
    Storage* s = storage_value(info.Env(), handles[k], h);
    out[k] = static_cast<T*>(checked_storage_data(s, int_value(offs[k], op, name), numels[k], sizeof(T), op, name, kOptimRange));
  }
  return out;
}

std::vector<int64_t> numels_arg(const Napi::CallbackInfo& info, int i, const char* op) {
  TENSILE_CHECK(info[i].IsArray(), ValueError, op, ": numels must be an array");
  auto a = info[i].As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t k = 0; k < out.size(); k++) {
    Napi::Value v = a.Get(k);
    take_pending_exception(info.Env());
    out[k] = int_value(v, op, "numels");
    TENSILE_CHECK(out[k] >= 0 && out[k] < kMaxSize, ValueError, op, ": invalid number of elements ", out[k]);
  }
  return out;
}

// sgdStepMulti(params[], paramOffs[], grads[], gradOffs[], bufs[] | null, bufOffs[] | null, numels[], firstSteps[],
//              dtype, lr, momentum, dampening, nesterov, weightDecay, maximize)
Napi::Value SgdStepMulti(const Napi::CallbackInfo& info) {
  const char* op = "sgd_step";
  const std::vector<int64_t> numels = numels_arg(info, 6, op);
  const size_t count = numels.size();
  std::vector<Napi::Value> first_values = list_arg(info, 7, count, op, "firstSteps");
  std::unique_ptr<bool[]> first(new bool[count + 1]);
  for (size_t k = 0; k < count; k++) first[k] = first_values[k].ToBoolean().Value();
  DType dt = dtype_arg(info, 8);
  double lr = double_arg(info, 9), momentum = double_arg(info, 10), dampening = double_arg(info, 11);
  bool nesterov = bool_arg(info, 12);
  double weight_decay = double_arg(info, 13);
  bool maximize = bool_arg(info, 14);
  check_sgd_options(lr, momentum, weight_decay);
  if (count == 0) return info.Env().Undefined();
  dispatch_floating(dt, op, [&](auto t) {
    using T = decltype(t);
    std::vector<T*> params = tensor_list<T>(info, 0, numels, op, "param");
    std::vector<T*> grads = tensor_list<T>(info, 2, numels, op, "grad");
    std::vector<T*> bufs = tensor_list<T>(info, 4, numels, op, "momentum_buf", true);
    for (size_t k = 0; k < count; k++)
      TENSILE_CHECK(momentum == 0 || bufs[k], ValueError, "sgd_step: momentum ", momentum, " needs a momentum buffer");
    on_device(op,
              [&] {
                for (size_t k = 0; k < count; k++)
                  if (numels[k])
                    sgd_step_cpu<T>(params[k], grads[k], momentum != 0 ? bufs[k] : nullptr, numels[k], lr, momentum, dampening, nesterov,
                                    weight_decay, maximize, first[k]);
              },
              TENSILE_CUDA(sgd_step_multi_cuda<T>(int64_t(count), params.data(), const_cast<const T* const*>(grads.data()),
                                                  momentum != 0 ? bufs.data() : nullptr, numels.data(), first.get(), lr, momentum,
                                                  dampening, nesterov, weight_decay, maximize, stream)));
  });
  return info.Env().Undefined();
}

// adamStepMulti(params[], paramOffs[], grads[], gradOffs[], expAvgs[], expAvgOffs[], expAvgSqs[], expAvgSqOffs[],
//               maxExpAvgSqs[] | null, maxExpAvgSqOffs[] | null, numels[], steps[], dtype, lr, beta1, beta2, eps,
//               weightDecay, amsgrad, decoupled, maximize)
Napi::Value AdamStepMulti(const Napi::CallbackInfo& info) {
  const char* op = "adam_step";
  const std::vector<int64_t> numels = numels_arg(info, 10, op);
  const size_t count = numels.size();
  std::vector<Napi::Value> step_values = list_arg(info, 11, count, op, "steps");
  std::vector<int64_t> steps(count);
  for (size_t k = 0; k < count; k++) {
    steps[k] = int_value(step_values[k], op, "steps");
    TENSILE_CHECK(steps[k] >= 1, ValueError, "adam_step: step must be at least 1, got ", steps[k]);
  }
  DType dt = dtype_arg(info, 12);
  double lr = double_arg(info, 13), beta1 = double_arg(info, 14), beta2 = double_arg(info, 15);
  double eps = double_arg(info, 16), weight_decay = double_arg(info, 17);
  bool amsgrad = bool_arg(info, 18), decoupled = bool_arg(info, 19), maximize = bool_arg(info, 20);
  check_adam_options(lr, beta1, beta2, eps, weight_decay);
  TENSILE_CHECK(!amsgrad || !is_null_arg(info, 8), ValueError, "adam_step: amsgrad needs a max_exp_avg_sq buffer");
  if (count == 0) return info.Env().Undefined();
  dispatch_floating(dt, op, [&](auto t) {
    using T = decltype(t);
    std::vector<T*> params = tensor_list<T>(info, 0, numels, op, "param");
    std::vector<T*> grads = tensor_list<T>(info, 2, numels, op, "grad");
    std::vector<T*> m = tensor_list<T>(info, 4, numels, op, "exp_avg");
    std::vector<T*> v = tensor_list<T>(info, 6, numels, op, "exp_avg_sq");
    std::vector<T*> vmax = amsgrad ? tensor_list<T>(info, 8, numels, op, "max_exp_avg_sq") : std::vector<T*>(count, nullptr);
    on_device(op,
              [&] {
                for (size_t k = 0; k < count; k++)
                  if (numels[k])
                    adam_step_cpu<T>(params[k], grads[k], m[k], v[k], vmax[k], numels[k], lr, beta1, beta2, eps, weight_decay, steps[k],
                                     amsgrad, decoupled, maximize);
              },
              TENSILE_CUDA(adam_step_multi_cuda<T>(int64_t(count), params.data(), const_cast<const T* const*>(grads.data()), m.data(),
                                                   v.data(), amsgrad ? vmax.data() : nullptr, numels.data(), steps.data(), lr, beta1,
                                                   beta2, eps, weight_decay, amsgrad, decoupled, maximize, stream)));
  });
  return info.Env().Undefined();
}

}  // namespace

void RegisterOptim(Napi::Env env, Napi::Object exports) {
  TENSILE_EXPORT(exports, "sgdStep", SgdStep);
  TENSILE_EXPORT(exports, "adamStep", AdamStep);
  TENSILE_EXPORT(exports, "sgdStepMulti", SgdStepMulti);
  TENSILE_EXPORT(exports, "adamStepMulti", AdamStepMulti);
}

}  // namespace tensile
