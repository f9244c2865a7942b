#include "util.h"

#include <new>

namespace tensile {
namespace {

// Per-env (main thread and each worker_thread) references to the JS error classes and to the
// failure sentinel of call_guarded.
struct ErrorClasses {
  Napi::FunctionReference ctor[8];
  Napi::ObjectReference failed;
};

// Decimal text of a 128-bit count (ostream has no operator for __int128).
std::string count_str(__int128 v) {
  if (v >= INT64_MIN && v <= INT64_MAX) return std::to_string(int64_t(v));
  const bool neg = v < 0;
  unsigned __int128 u = neg ? -(unsigned __int128)(v) : (unsigned __int128)(v);
  std::string digits;
  while (u) {
    digits.insert(digits.begin(), char('0' + int(u % 10)));
    u /= 10;
  }
  return neg ? "-" + digits : digits;
}

const char* kind_name(ErrorKind k) {
  static const char* names[] = {"Error", "ShapeError", "DTypeError", "DeviceError", "IndexError", "DataError", "OutOfMemoryError", "ValueError"};
  return names[int(k)];
}

}  // namespace

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); i++) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

void register_error_classes(Napi::Env env, Napi::Object classes, Napi::Value failed) {
  auto* ec = env.GetInstanceData<ErrorClasses>();
  if (!ec) {
    ec = new ErrorClasses();
    env.SetInstanceData(ec);
  }
  for (int k = 0; k < 8; k++) {
    Napi::Value v = classes.Get(kind_name(ErrorKind(k)));
    take_pending_exception(env);
    if (v.IsFunction()) ec->ctor[k] = Napi::Persistent(v.As<Napi::Function>());
  }
  if (failed.IsObject()) ec->failed = Napi::Persistent(failed.As<Napi::Object>());
}

namespace {

// The exception a Node-API call left pending, cleared; null when none is.
napi_value clear_pending_exception(napi_env env) {
  bool pending = false;
  napi_value e = nullptr;
  if (napi_is_exception_pending(env, &pending) != napi_ok || !pending || napi_get_and_clear_last_exception(env, &e) != napi_ok) return nullptr;
  return e;
}

}  // namespace

void take_pending_exception(napi_env env) {
  if (napi_value e = clear_pending_exception(env)) throw PendingJsException{e};
}

namespace {

// The JS error object for a failure: tensile's class for `kind` when registered, else Error.
napi_value make_js_error(napi_env env, ErrorKind kind, const std::string& message) {
  // An exception a Node-API call left pending is the failure's first cause: report it.
  napi_value err = clear_pending_exception(env);
  if (err) return err;
  auto* ec = Napi::Env(env).GetInstanceData<ErrorClasses>();
  napi_value msg = nullptr;
  napi_create_string_utf8(env, message.data(), message.size(), &msg);
  if (ec && !ec->ctor[int(kind)].IsEmpty()) {
    if (napi_new_instance(env, ec->ctor[int(kind)].Value(), 1, &msg, &err) == napi_ok) return err;
    // The constructor itself threw: report that exception instead.
    if ((err = clear_pending_exception(env))) return err;
  }
  napi_create_error(env, nullptr, msg, &err);
  return err;
}

// Hands `error` to lib/native.ts through the sentinel (see call_guarded). Before `initialize` has
// given a sentinel (a raw caller of the .node), it can only be thrown.
Napi::Value fail_with(napi_env env, napi_value error) {
  auto* ec = Napi::Env(env).GetInstanceData<ErrorClasses>();
  if (!ec || ec->failed.IsEmpty()) {
    napi_throw(env, error);
    return Napi::Value();
  }
  Napi::Object failed = ec->failed.Value();
  napi_set_named_property(env, failed, "error", error);
  return failed;
}

}  // namespace

std::string device_name(int device) { return device == 0 ? std::string("cpu") : str_cat("cuda:", device - 1); }

namespace {
thread_local int t_op_device = -1;
thread_local const char* t_op_first_arg = "";
}  // namespace

int op_device() { return t_op_device; }

cudaStream_t op_stream(const char* op) {
#ifdef TENSILE_HAVE_CUDA
  cudaStream_t s = nullptr;
  check_cuda_status(cuda_stream(t_op_device - 1, &s), op);
  return s;
#else
  throw BindingError{ErrorKind::DeviceError, str_cat(op, ": this build of tensile has no CUDA kernels")};
#endif
}

void check_cuda_status(int status, const char* op) {
  if (status == 0) return;
#ifdef TENSILE_HAVE_CUDA
  if (cuda_is_oom(status)) throw BindingError{ErrorKind::OutOfMemoryError, str_cat(op, ": ", cuda_status_message(status))};
  throw BindingError{ErrorKind::Error, str_cat(op, ": CUDA error ", cuda_status_message(status))};
#else
  throw BindingError{ErrorKind::Error, str_cat(op, ": CUDA status ", status, " in a build without CUDA")};
#endif
}

namespace {
std::vector<DeferredCheck>& deferred_checks() {
  static auto* v = new std::vector<DeferredCheck>();
  return *v;
}
}  // namespace

void defer_check(DeferredCheck check) {
#ifdef TENSILE_HAVE_CUDA
  auto& v = deferred_checks();
  v.push_back(std::move(check));
  // A loop that never reads a value would queue without bound: look at the queue now and then.
  if (v.size() >= 256) {
    const int device = v.front().device;
    check_cuda_status(cuda_synchronize(device - 1), v.front().op.c_str());
    raise_deferred_checks(device);
  }
#else
  (void)check;
#endif
}

void raise_deferred_checks(int device) {
#ifdef TENSILE_HAVE_CUDA
  auto& v = deferred_checks();
  std::string error;
  for (size_t i = 0; i < v.size();) {
    if (v[i].device != device) {
      i++;
      continue;
    }
    DeferredCheck c = std::move(v[i]);
    v.erase(v.begin() + long(i));
    int64_t r[2] = {0, 0};
    int st = cuda_copy_d2h(r, c.counts, sizeof r, device - 1);
    cuda_free(c.counts);
    if (!error.empty() || st != 0 || r[0] <= 0) continue;
    const int64_t first = c.n - r[1];
    if (c.kind == DeferredCheck::Kind::ClassTarget)
      error = str_cat(c.op, ": ", r[0], " target", r[0] == 1 ? " is" : "s are", " out of bounds for ", c.bound,
                      " classes (the first at position ", first, "), found on ", device_name(device),
                      " when its results were next read; the results of that op are NaN");
    else
      error = str_cat(c.op, ": ", r[0], " ind", r[0] == 1 ? "ex is" : "ices are", " out of range for dimension 0 of size ",
                      c.bound, " (the first at position ", first, "), found on ", device_name(device),
                      " when its results were next read; their rows of the result are zeros");
  }
  if (!error.empty()) throw BindingError{ErrorKind::IndexError, error};
#else
  (void)device;
#endif
}

Napi::Value call_guarded(const Napi::CallbackInfo& info, Napi::Value (*fn)(const Napi::CallbackInfo&)) {
  napi_env env = info.Env();
  t_op_device = -1;
  try {
    Napi::Value r = fn(info);
    take_pending_exception(env);
    return r;
  } catch (const PendingJsException& e) {
    return fail_with(env, e.value);
  } catch (const BindingError& e) {
    return fail_with(env, make_js_error(env, e.kind, e.message));
  } catch (const std::bad_alloc&) {
    return fail_with(env, make_js_error(env, ErrorKind::OutOfMemoryError, "out of host memory"));
  } catch (const std::exception& e) {
    return fail_with(env, make_js_error(env, ErrorKind::Error, e.what()));
  }
}

Storage* storage_value(napi_env env, napi_value v, int i) {
  void* p = nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p)
    throw BindingError{ErrorKind::Error, str_cat("argument ", i, " is not a tensor storage handle")};
  auto* s = static_cast<Storage*>(p);
  if (!s->data && s->bytes) throw BindingError{ErrorKind::Error, "tensor used after dispose()"};
  return s;
}

Storage* storage_arg(const Napi::CallbackInfo& info, int i) { return storage_value(info.Env(), info[i], i); }

namespace {
// A JS number as an integer argument (see fits_int64).
int64_t integer_value(double d, int i) {
  if (!fits_int64(d)) throw BindingError{ErrorKind::ValueError, str_cat("argument ", i, " must be a finite integer but got ", d)};
  return int64_t(d);
}
}  // namespace

int64_t int_arg(const Napi::CallbackInfo& info, int i) {
  double d = 0;
  if (napi_get_value_double(info.Env(), info[i], &d) != napi_ok)
    throw BindingError{ErrorKind::Error, str_cat("argument ", i, " must be a number")};
  return integer_value(d, i);
}

double double_arg(const Napi::CallbackInfo& info, int i) {
  double d = 0;
  if (napi_get_value_double(info.Env(), info[i], &d) != napi_ok)
    throw BindingError{ErrorKind::Error, str_cat("argument ", i, " must be a number")};
  return d;
}

bool bool_arg(const Napi::CallbackInfo& info, int i) {
  bool b = false;
  if (napi_get_value_bool(info.Env(), info[i], &b) != napi_ok)
    throw BindingError{ErrorKind::Error, str_cat("argument ", i, " must be a boolean")};
  return b;
}

DType dtype_arg(const Napi::CallbackInfo& info, int i) {
  int64_t d = int_arg(info, i);
  if (d < 0 || d > 7) throw BindingError{ErrorKind::DTypeError, str_cat("unknown dtype code ", d)};
  return DType(d);
}

std::vector<int64_t> ints_arg(const Napi::CallbackInfo& info, int i) {
  Napi::Value v = info[i];
  std::vector<int64_t> out;
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() == napi_int32_array) {
      auto a = v.As<Napi::Int32Array>();
      out.assign(a.Data(), a.Data() + a.ElementLength());
      return out;
    }
    if (ta.TypedArrayType() == napi_float64_array) {
      auto a = v.As<Napi::Float64Array>();
      for (size_t k = 0; k < a.ElementLength(); k++) out.push_back(integer_value(a[k], i));
      return out;
    }
  }
  if (!v.IsArray()) throw BindingError{ErrorKind::Error, str_cat("argument ", i, " must be an array of integers")};
  auto arr = v.As<Napi::Array>();
  uint32_t n = arr.Length();
  out.resize(n);
  for (uint32_t k = 0; k < n; k++) {
    napi_value e;
    double d = 0;
    // An element may be a getter that throws or a hole: each is an error, never a silent 0.
    napi_status st = napi_get_element(info.Env(), arr, k, &e);
    take_pending_exception(info.Env());
    if (st != napi_ok || napi_get_value_double(info.Env(), e, &d) != napi_ok)
      throw BindingError{ErrorKind::Error, str_cat("argument ", i, " must be an array of integers")};
    out[k] = integer_value(d, i);
  }
  return out;
}

int64_t size_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name) {
  int64_t v = int_arg(info, i);
  TENSILE_CHECK(v >= 0 && v < kMaxSize, ValueError, op, ": ", name, " must be a non-negative size but got ", v);
  return v;
}

uint64_t seed_arg(const Napi::CallbackInfo& info, int i) {
  return (uint64_t(uint32_t(int_arg(info, i))) << 32) | uint64_t(uint32_t(int_arg(info, i + 1)));
}

void* checked_storage_data(Storage* s, int64_t off, __int128 n, size_t itemsize, const char* op, const char* name, RangeError report) {
  if (t_op_device < 0) {
    t_op_device = s->device;
    t_op_first_arg = name;
  } else if (s->device != t_op_device) {
    throw BindingError{ErrorKind::DeviceError, str_cat(op, ": expected all tensors on the same device, but ", name, " is on ",
                                                       device_name(s->device), " and ", t_op_first_arg, " on ",
                                                       device_name(t_op_device))};
  }
  int64_t cap = int64_t(s->bytes / itemsize);
  if (off >= 0 && off <= cap && n >= 0 && n <= __int128(cap - off)) return static_cast<char*>(s->data) + off * int64_t(itemsize);
  if (report == RangeError::DoesNotFit)
    throw BindingError{ErrorKind::IndexError, str_cat(op, ": ", name, " of ", count_str(n), " elements at offset ", off,
                                                      " does not fit its storage of ", cap, " elements")};
  throw BindingError{report == RangeError::NeedsAsValueError ? ErrorKind::ValueError : ErrorKind::IndexError,
                     str_cat(op, ": ", name, " needs ", count_str(n), " elements from offset ", off, " but its storage holds ", cap)};
}

void* checked_data(const Napi::CallbackInfo& info, int i, __int128 n, size_t itemsize, const char* op, const char* name,
                   RangeError report) {
  return checked_storage_data(storage_arg(info, i), int_arg(info, i + 1), n, itemsize, op, name, report);
}

bool is_null_arg(const Napi::CallbackInfo& info, int i) {
  if (size_t(i) >= info.Length()) return true;
  napi_valuetype t;
  napi_typeof(info.Env(), info[i], &t);
  return t == napi_null || t == napi_undefined;
}

namespace {
// A min/max reduction that vectorises only with 64-bit compares (AVX2; SSE2 has none), hence the
// clones: at baseline it was slower than the pooling kernel it guards.
__attribute__((target_clones("avx512f", "avx2", "default"))) bool indices_in_range(const int64_t* idx, int64_t n, int64_t plane) {
  int64_t lo = 0, hi = -1;
  for (int64_t k = 0; k < n; k++) {
    lo = idx[k] < lo ? idx[k] : lo;
    hi = idx[k] > hi ? idx[k] : hi;
  }
  return lo >= -1 && hi < plane;
}
}  // namespace

bool bytes_overlap(const void* a, __int128 a_bytes, const void* b, __int128 b_bytes) {
  if (a_bytes <= 0 || b_bytes <= 0) return false;
  const __int128 pa = __int128(reinterpret_cast<uintptr_t>(a)), pb = __int128(reinterpret_cast<uintptr_t>(b));
  return pa < pb + b_bytes && pb < pa + a_bytes;
}

void check_no_overlap(const void* a, __int128 a_bytes, const void* b, __int128 b_bytes, const char* op, const char* a_name, const char* b_name) {
  TENSILE_CHECK(!bytes_overlap(a, a_bytes, b, b_bytes), ValueError, op, ": ", a_name, " and ", b_name,
                " share memory (a kernel writing one would change the other as it reads it); pass separate tensors, e.g. clone() one");
}

void check_plane_indices(const int64_t* idx, int64_t n, int64_t H, int64_t W, const char* op, const char* plane) {
  if (indices_in_range(idx, n, H * W)) return;
  for (int64_t k = 0; k < n; k++)
    TENSILE_CHECK(idx[k] >= -1 && idx[k] < H * W, IndexError, op, ": index ", idx[k], " at position ", k, " is out of range for ", plane, " of ", H, "x", W);
}

}  // namespace tensile
