// Shared glue for every binding file: argument unpacking, the tensor-argument convention, dtype
// dispatch and the one place where C++ failures turn into tensile's JS error classes.
//
// A tensor argument is two JS values: the storage handle (an External from `alloc`) and an element
// offset into it. Bindings receive contiguous tensors unless their signature says otherwise
// (lib/ops/*.ts calls .contiguous() first).
#pragma once
#include <napi.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "../core/dtype.h"

// As cuda_runtime_api.h declares it (global scope), so that g++-compiled bindings name the CUDA
// launchers' stream type without the CUDA headers.
typedef struct CUstream_st* cudaStream_t;

namespace tensile {

// Native storage behind one JS handle. `data` is null once disposed.
struct Storage {
  void* data;
  size_t bytes;
  int device;           // 0 = cpu, 1 + n = cuda:n
  bool pinned = false;  // host memory from cuda_host_alloc (device 0 only)
};

// "cpu", "cuda:0", ... for a device code.
std::string device_name(int device);

enum class ErrorKind { Error = 0, ShapeError, DTypeError, DeviceError, IndexError, DataError, OutOfMemoryError, ValueError };

struct BindingError {
  ErrorKind kind;
  std::string message;
};

template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

// Formats a shape as PyTorch users read it: [20, 3, 28, 28].
std::string shape_str(const std::vector<int64_t>& shape);

#define TENSILE_CHECK(cond, kind, ...) \
  do {                                 \
    if (!(cond)) throw ::tensile::BindingError{::tensile::ErrorKind::kind, ::tensile::str_cat(__VA_ARGS__)}; \
  } while (0)

// A JS exception that a Node-API call left pending (a getter or Proxy of an argument threw). It is
// taken out of Node-API at once (take_pending_exception) and travels as this C++ exception.
struct PendingJsException {
  napi_value value;
};

// If a Node-API call left an exception pending, clears it and throws it as PendingJsException.
// Call it after any Node-API call that can run JS. Why it must not stay pending: see call_guarded.
void take_pending_exception(napi_env env);

// Wraps a binding so that BindingError, std::bad_alloc, std::exception and pending JS exceptions
// become JS errors of tensile's classes (registered once through `initialize`), never an abort.
//
// A failed call does not throw through Node-API: it returns the failure sentinel (the object given
// to `initialize`) with the error in its `error` property, and lib/native.ts throws it. Node-API
// keeps a thrown exception in the env until the callback has returned and it has rethrown it, and
// that rethrow allocates (V8's message object); a garbage collection there runs the storages'
// finalizers, which run during GC (see storage.cc), and Node aborts the process when it finds the
// env's exception still pending after a finalizer ("Check failed: AllowJavascriptExecution"). A
// loop that catches native errors with garbage about hit that within seconds. With the sentinel,
// no exception is ever pending in the env while the addon runs or returns.
Napi::Value call_guarded(const Napi::CallbackInfo& info, Napi::Value (*fn)(const Napi::CallbackInfo&));

template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  return call_guarded(info, F);
}

// exports.Set(name, guarded function): one line per export in each Register* function.
#define TENSILE_EXPORT(exports, name, fn) \
  (exports).Set(name, Napi::Function::New((exports).Env(), ::tensile::guarded<fn>, name))

// ---------------------------------------------------------------------------------------------
// argument unpacking

Storage* storage_arg(const Napi::CallbackInfo& info, int i);
// The storage behind a handle value (one element of an array argument); `i` names it in errors.
Storage* storage_value(napi_env env, napi_value v, int i);
int64_t int_arg(const Napi::CallbackInfo& info, int i);
// Whether a JS number converts to int64_t: the conversion of a NaN, infinite or out-of-range double
// is undefined behaviour in C++, so every integer argument is tested with this first.
inline bool fits_int64(double d) { return d >= -9.2e18 && d <= 9.2e18; }
double double_arg(const Napi::CallbackInfo& info, int i);
bool bool_arg(const Napi::CallbackInfo& info, int i);
DType dtype_arg(const Napi::CallbackInfo& info, int i);
// A JS array of integers (or an Int32Array / Float64Array) as int64s.
std::vector<int64_t> ints_arg(const Napi::CallbackInfo& info, int i);
bool is_null_arg(const Napi::CallbackInfo& info, int i);

// A size argument (element count, dimension): an integer in [0, kMaxSize), else a ValueError naming
// op and name. 2^48 is far above any real size, and a product of two such sizes fits an __int128.
constexpr int64_t kMaxSize = int64_t(1) << 48;
int64_t size_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name);

// Seeds arrive as two uint32 halves (info[i], info[i+1]) so that JS numbers carry all 64 bits.
uint64_t seed_arg(const Napi::CallbackInfo& info, int i);

// ---------------------------------------------------------------------------------------------
// checked tensor pointers

// How a failed range check is reported. The common form is an IndexError worded
//   "<op>: <name> needs <n> elements from offset <off> but its storage holds <cap>".
// Two families keep what their tests pin: loss raises those words as a ValueError
// (test/ops/loss.test.ts) and optim words it "<op>: <name> of <n> elements at offset <off> does
// not fit its storage of <cap> elements" (test/optim/optimizer.test.ts).
enum class RangeError { Needs, NeedsAsValueError, DoesNotFit };

// Start of the n elements of `itemsize` bytes at (handle info[i], element offset info[i+1]), after
// checking that they lie inside the storage: a DeviceError if the storage is not on the op's device
// (set by the first tensor argument, see "the device an op runs on" below), else a range error
// naming op, argument name, n, offset and capacity. The pointer may be device memory: host code
// must not dereference it unless !op_on_cuda(). n is 128-bit so that callers can pass unchecked
// products of sizes.
void* checked_data(const Napi::CallbackInfo& info, int i, __int128 n, size_t itemsize, const char* op, const char* name,
                   RangeError report = RangeError::Needs);

// The same for a storage already unpacked (elements of array arguments) at element offset `off`.
void* checked_storage_data(Storage* s, int64_t off, __int128 n, size_t itemsize, const char* op, const char* name,
                           RangeError report = RangeError::Needs);

// The same, typed: a pointer to n elements of T. Every binding reaches tensor memory through this.
template <typename T>
T* checked_ptr(const Napi::CallbackInfo& info, int i, __int128 n, const char* op, const char* name,
               RangeError report = RangeError::Needs) {
  return static_cast<T*>(checked_data(info, i, n, sizeof(T), op, name, report));
}

// Same, but JS null/undefined in slot i gives nullptr (optional bias, weight, ...).
template <typename T>
T* optional_checked_ptr(const Napi::CallbackInfo& info, int i, __int128 n, const char* op, const char* name,
                        RangeError report = RangeError::Needs) {
  return is_null_arg(info, i) ? nullptr : checked_ptr<T>(info, i, n, op, name, report);
}

// Whether the bytes [a, a + a_bytes) and [b, b + b_bytes) overlap (empty ranges never do).
bool bytes_overlap(const void* a, __int128 a_bytes, const void* b, __int128 b_bytes);

// Raises a ValueError when the bytes [a, a + a_bytes) and [b, b + b_bytes) overlap. For a kernel
// that reads `b` (indices, class targets, a copy's source) while or after writing `a`: writing
// could change an index after its range check, and the kernel would then follow it out of bounds.
void check_no_overlap(const void* a, __int128 a_bytes, const void* b, __int128 b_bytes, const char* op, const char* a_name, const char* b_name);

// Checks the n argmax indices of max pooling (or of the fused convolution's pool) before a CPU
// kernel scatters through them: each must lie in [-1, H*W), else an IndexError naming op, the first
// bad one and `plane` ("a plane", "an output plane") of HxW. One branch-free pass when all are in
// range; the first bad one is looked up only to name it.
void check_plane_indices(const int64_t* idx, int64_t n, int64_t H, int64_t W, const char* op, const char* plane);

// ---------------------------------------------------------------------------------------------
// the device an op runs on
//
// Every binding call starts with no device (call_guarded resets it); the first tensor argument that
// checked_data sees sets it, and each later one must be on the same device, else a DeviceError
// naming the op and both arguments. The binding then runs its kernel where the tensors are:
//
//   on_device(op, [&] { foo_cpu<T>(...); }, TENSILE_CUDA(foo_cuda<T>(..., stream)));
//
// TENSILE_CUDA builds the CUDA branch only where the CUDA launchers exist (TENSILE_HAVE_CUDA); in a
// CPU-only build no storage can live on a device (alloc refuses), so that branch is never taken.
int op_device();  // -1 before the first tensor argument, else 0 = cpu, 1 + n = cuda:n
inline bool op_on_cuda() { return op_device() > 0; }

// The stream of the op's device, with that device made current (for the launcher's scratch memory).
cudaStream_t op_stream(const char* op);

// A CUDA status as a binding error: OutOfMemoryError for cudaErrorMemoryAllocation (with the sizes),
// else an Error naming the op and the runtime's words. 0 does nothing.
void check_cuda_status(int status, const char* op);

#ifdef TENSILE_HAVE_CUDA
#define TENSILE_CUDA(...) [&](cudaStream_t stream) -> int { return (__VA_ARGS__); }
#else
#define TENSILE_CUDA(...) [&](cudaStream_t) -> int { return 0; }
#endif

template <typename CpuFn, typename CudaFn>
void on_device(const char* op, CpuFn&& cpu, CudaFn&& cuda) {
  if (op_on_cuda())
    check_cuda_status(cuda(op_stream(op)), op);
  else
    cpu();
}

// The common case of on_device, with one argument list for both twins:
//   TENSILE_ON_DEVICE(op, foo, <T>, a, b)  runs foo_cpu<T>(a, b) or foo_cuda<T>(a, b, stream).
// `tpl` may be empty (non-template kernels).
#define TENSILE_ON_DEVICE(op, name, tpl, ...) \
  ::tensile::on_device(op, [&] { name##_cpu tpl(__VA_ARGS__); }, TENSILE_CUDA(name##_cuda tpl(__VA_ARGS__, stream)))

// Errors a CUDA kernel found that the host can only learn at a synchronisation (a class target or a
// row index out of range): the binding queues a small device buffer to look at, and the next read of
// device memory (read, copy to the host, cuda.synchronize) raises the first one as an IndexError.
struct DeferredCheck {
  enum class Kind { ClassTarget, RowIndex };
  int64_t* counts;  // device memory from note_offender (cuda_device.cuh): offenders, max(n - position)
  int device;       // 1 + n
  std::string op;
  Kind kind;
  int64_t bound;    // the number of classes, or of rows
  int64_t n;        // positions checked (targets, indices)
};
void defer_check(DeferredCheck check);
// queue_deferred_check (below, with the CUDA runtime) allocates, launches and queues one.

// Called after the host has waited for `device` (1 + n): raises the first deferred error found there.
void raise_deferred_checks(int device);

// Runs fn(T{}) with T = float or double; other dtypes are a DTypeError naming the op.
template <typename Fn>
void dispatch_floating(DType d, const char* op, Fn&& fn) {
  switch (d) {
    case DType::Float32: fn(float{}); return;
    case DType::Float64: fn(double{}); return;
    default:
      throw BindingError{ErrorKind::DTypeError, str_cat(op, ": expected a float32 or float64 tensor but got ", dtype_name(d))};
  }
}

// Runs fn(T{}) for every dtype with arithmetic kernels; bool and uint8 both map to uint8_t. The
// 16-bit float storage types have none yet: a DTypeError naming op.
template <typename Fn>
void dispatch_all(DType d, Fn&& fn, const char* op) {
  switch (d) {
    case DType::Float32: fn(float{}); return;
    case DType::Float64: fn(double{}); return;
    case DType::Int32: fn(int32_t{}); return;
    case DType::Int64: fn(int64_t{}); return;
    case DType::Uint8:
    case DType::Bool: fn(uint8_t{}); return;
    case DType::BFloat16:
    case DType::Float16: break;
  }
  throw BindingError{ErrorKind::DTypeError, str_cat(op, ": ", dtype_name(d), " tensors are storage only for now (cast them to float32 first)")};
}

}  // namespace tensile

// The CUDA runtime and launchers (native/core/cuda_runtime.h, native/ops/cuda_kernels.h), where this
// build has them.
#ifdef TENSILE_HAVE_CUDA
#include "../core/cuda_runtime.h"
#include "../ops/cuda_kernels.h"
#endif

#ifdef TENSILE_HAVE_CUDA
namespace tensile {

// Allocates the 2-int64 counts on the op's device, zeroes them on its stream, runs launch(counts,
// stream) (a launcher whose kernels note_offender into them) and queues the check; frees them if
// that fails.
template <typename Launch>
void queue_deferred_check(const char* op, DeferredCheck::Kind kind, int64_t bound, int64_t n, Launch&& launch) {
  void* counts = nullptr;
  check_cuda_status(cuda_alloc(&counts, 2 * sizeof(int64_t), op_device() - 1), op);
  cudaStream_t stream = op_stream(op);
  int st = cuda_memset_zero(counts, 2 * sizeof(int64_t), stream);
  if (!st) st = launch(static_cast<int64_t*>(counts), stream);
  if (st) cuda_free(counts);
  check_cuda_status(st, op);
  defer_check(DeferredCheck{static_cast<int64_t*>(counts), op_device(), op, kind, bound, n});
}

}  // namespace tensile
#endif
