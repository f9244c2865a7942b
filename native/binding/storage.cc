// Storage handles: the only place that creates or frees tensor memory on behalf of JS.
// Each handle is a napi External whose finalizer is a "basic" (GC-safe) finalizer, which Node runs
// during garbage collection itself rather than on a later event-loop turn. Together with the
// napi_adjust_external_memory accounting this keeps a synchronous training loop, which never
// yields to the event loop, at a flat memory footprint without dispose calls.
#include <cstring>

#include "../core/allocator.h"
#include "../core/cuda_probe.h"
#include "../core/thread_pool.h"
#include "registry.h"
#include "util.h"

namespace tensile {

void register_error_classes(Napi::Env env, Napi::Object classes, Napi::Value failed);

namespace {

// Each byte of host tensor memory is reported to V8 as kHostExternalWeight bytes. V8 starts a
// collection when external memory has grown by a fixed amount (64 MiB) since the last one; at face
// value a small model's step leaves so little garbage that tens of MiB of dead tensors pile up
// between collections, and the caching allocator's reserve (and so RSS) steps up whenever one pile
// happens to be larger than the last. Weighting keeps the garbage between collections small and
// the footprint flat, at the cost of more collections (each a full mark-compact, ~1-2 ms).
//
// Device memory counts at face value. The growth V8 sees includes a step's transient working set
// (activations released by backward), and on the GPU nothing else (no spare handles, no fused op)
// keeps that set small: weighted x4, the standard CNN's step (batch 64) crossed the limit every
// step, one mark-compact per step, 4.0 ms a step on an H200; at x1, 11 collections in 330 steps
// and 1.1 ms a step (x0, no accounting: the same speed, but the reserve grew without bound until
// the JS heap happened to need a collection).
constexpr int64_t kHostExternalWeight = 4;
constexpr int64_t kDeviceExternalWeight = 1;

int64_t external_bytes(int64_t bytes, int device) {
  return bytes * (device > 0 ? kDeviceExternalWeight : kHostExternalWeight);
}

// Hands a block back to the allocator it came from.
void free_block(const Storage* s) {
#ifdef TENSILE_HAVE_CUDA
  if (s->device > 0) {
    cuda_free(s->data);
    return;
  }
  if (s->pinned) {
    cuda_host_free(s->data);
    return;
  }
#endif
  cpu_free(s->data, s->bytes);
}

void release_data(node_api_basic_env env, Storage* s) {
  if (!s->data) return;
  free_block(s);
  s->data = nullptr;
  int64_t ignored;
  napi_adjust_external_memory(env, -external_bytes(int64_t(s->bytes), s->device), &ignored);
}

void finalize_storage(node_api_basic_env env, void* data, void* /*hint*/) {
  auto* s = static_cast<Storage*>(data);
  release_data(env, s);
  delete s;
}

// Why `device` (1 + n) cannot hold memory, or "" when it can.
std::string device_unavailable(int device) {
  if (device == 0) return "";
  const CudaProbe& p = cuda_probe();
  if (!p.compiled) return p.message;
  if (p.device_count == 0) return str_cat(p.error_name, ": ", p.message);
  if (device - 1 >= p.device_count) return str_cat("this machine has ", p.device_count, " CUDA device", p.device_count == 1 ? "" : "s");
  return "";
}

// Memory for a new storage on s->device (s->pinned asks for page-locked host memory, and is cleared
// when none can be had).
void allocate_block(Storage* s) {
#ifdef TENSILE_HAVE_CUDA
  if (s->device > 0) {
    int st = cuda_alloc(&s->data, s->bytes, s->device - 1);
    if (st) check_cuda_status(st, "alloc");
    return;
  }
  if (s->pinned) {
    if (cuda_probe().device_count > 0 && cuda_host_alloc(&s->data, s->bytes) == 0) return;
    s->pinned = false;
  }
#else
  s->pinned = false;
#endif
  try {
    s->data = cpu_alloc(s->bytes);
  } catch (...) {
    throw BindingError{ErrorKind::OutOfMemoryError, str_cat("alloc: out of host memory allocating ", s->bytes, " bytes")};
  }
}

Napi::Value new_storage(Napi::Env env, int64_t bytes, int64_t device, bool pinned) {
  TENSILE_CHECK(bytes >= 0, ValueError, "alloc: negative size ", bytes);
  TENSILE_CHECK(device >= 0 && device <= 1024, DeviceError, "alloc: invalid device code ", device);
  std::string why = device_unavailable(int(device));
  TENSILE_CHECK(why.empty(), DeviceError, "alloc: device '", device_name(int(device)), "' is not available: ", why);
  auto* s = new Storage{nullptr, size_t(bytes), int(device), pinned};
  try {
    allocate_block(s);
  } catch (...) {
    delete s;
    throw;
  }
  int64_t ignored;
  napi_adjust_external_memory(env, external_bytes(bytes, int(device)), &ignored);
  napi_value handle;
  if (napi_create_external(env, s, finalize_storage, nullptr, &handle) != napi_ok) {
    napi_adjust_external_memory(env, -external_bytes(bytes, int(device)), &ignored);
    free_block(s);
    delete s;
    throw BindingError{ErrorKind::Error, "alloc: could not create a storage handle"};
  }
  return Napi::Value(env, handle);
}

// alloc(bytes, device) -> handle; device 0 = cpu, 1 + n = cuda:n. Memory is uninitialised.
Napi::Value Alloc(const Napi::CallbackInfo& info) { return new_storage(info.Env(), int_arg(info, 0), int_arg(info, 1), false); }

// allocPinned(bytes) -> handle of a cpu storage in page-locked memory when a CUDA device is usable,
// else in ordinary host memory (as PyTorch's pin_memory without an accelerator).
Napi::Value AllocPinned(const Napi::CallbackInfo& info) { return new_storage(info.Env(), int_arg(info, 0), 0, true); }

// isPinned(handle) -> whether the storage is page-locked host memory.
Napi::Value IsPinned(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), storage_arg(info, 0)->pinned); }

// Copies `n` bytes between two storages on any devices: device->host waits (and raises the device's
// deferred errors), device->device on one device is asynchronous. Host->device is asynchronous for
// the device, and the host bytes may be changed as soon as this returns (they went through a staging
// buffer), except with `non_blocking` from pinned memory: then the DMA reads the source itself, later,
// and the source must not change until the device has passed this point (PyTorch's non_blocking).
void copy_bytes(Storage* dst, size_t dst_off, const Storage* src, size_t src_off, size_t n, bool non_blocking = false) {
  if (n == 0) return;
  char* d = static_cast<char*>(dst->data) + dst_off;
  const char* from = static_cast<const char*>(src->data) + src_off;
  if (dst->device == 0 && src->device == 0) {
    std::memcpy(d, from, n);
    return;
  }
#ifdef TENSILE_HAVE_CUDA
  if (src->device == 0) {
    check_cuda_status(src->pinned && non_blocking ? cuda_copy_h2d_pinned(d, from, n, dst->device - 1) : cuda_copy_h2d(d, from, n, dst->device - 1),
                      "copy");
  } else if (dst->device == 0) {
    check_cuda_status(cuda_copy_d2h(d, from, n, src->device - 1), "copy");
    raise_deferred_checks(src->device);
  } else if (dst->device == src->device) {
    check_cuda_status(cuda_copy_d2d(d, from, n, dst->device - 1), "copy");
  } else {
    // Between two devices: through the host (rare; peer access is not set up).
    std::vector<char> tmp(n);
    check_cuda_status(cuda_copy_d2h(tmp.data(), from, n, src->device - 1), "copy");
    check_cuda_status(cuda_copy_h2d(d, tmp.data(), n, dst->device - 1), "copy");
  }
#else
  throw BindingError{ErrorKind::DeviceError, "copy: this build of tensile has no CUDA kernels"};
#endif
}

// copy(dst, dstByteOffset, src, srcByteOffset, bytes[, nonBlocking]).
Napi::Value Copy(const Napi::CallbackInfo& info) {
  Storage* dst = storage_arg(info, 0);
  Storage* src = storage_arg(info, 2);
  int64_t doff = int_arg(info, 1), soff = int_arg(info, 3), n = int_arg(info, 4);
  TENSILE_CHECK(doff >= 0 && soff >= 0 && n >= 0 && size_t(doff + n) <= dst->bytes && size_t(soff + n) <= src->bytes, ValueError,
                "copy: ", n, " bytes from offset ", soff, " of a storage of ", src->bytes, " bytes to offset ", doff, " of one of ", dst->bytes,
                " bytes do not fit");
  copy_bytes(dst, size_t(doff), src, size_t(soff), size_t(n), !is_null_arg(info, 5) && bool_arg(info, 5));
  return info.Env().Undefined();
}

// free(handle): releases the memory now; the handle stays valid but empty.
Napi::Value Free(const Napi::CallbackInfo& info) {
  void* p = nullptr;
  if (napi_get_value_external(info.Env(), info[0], &p) == napi_ok && p) release_data(info.Env(), static_cast<Storage*>(p));
  return info.Env().Undefined();
}

// write(handle, byteOffset, typedArray): copies the typed array's bytes into the storage.
Napi::Value Write(const Napi::CallbackInfo& info) {
  Storage* s = storage_arg(info, 0);
  int64_t offset = int_arg(info, 1);
  bool is_typed = false;
  napi_is_typedarray(info.Env(), info[2], &is_typed);
  TENSILE_CHECK(is_typed, ValueError, "write: expected a typed array");
  napi_typedarray_type type;
  size_t length = 0, byte_offset = 0;
  void* data = nullptr;
  napi_value buffer;
  napi_status st = napi_get_typedarray_info(info.Env(), info[2], &type, &length, &data, &buffer, &byte_offset);
  size_t n = info[2].As<Napi::TypedArray>().ByteLength();
  // napi_get_typedarray_info gives the data pointer for arrays on a SharedArrayBuffer too (the
  // ArrayBuffer wrapper route does not, and crashed on them).
  TENSILE_CHECK(st == napi_ok && (data || n == 0), ValueError, "write: cannot read this typed array's memory");
  TENSILE_CHECK(offset >= 0 && size_t(offset) + n <= s->bytes, ValueError, "write: ", n, " bytes at offset ", offset, " exceed storage of ", s->bytes, " bytes");
  if (n) {
    Storage host{data, n, 0, false};
    copy_bytes(s, size_t(offset), &host, 0, n);
  }
  return info.Env().Undefined();
}

// read(handle, byteOffset, byteLength) -> ArrayBuffer copy.
Napi::Value Read(const Napi::CallbackInfo& info) {
  Storage* s = storage_arg(info, 0);
  int64_t offset = int_arg(info, 1);
  int64_t n = int_arg(info, 2);
  TENSILE_CHECK(offset >= 0 && n >= 0 && size_t(offset + n) <= s->bytes, ValueError, "read: ", n, " bytes at offset ", offset, " exceed storage of ", s->bytes, " bytes");
  auto buf = Napi::ArrayBuffer::New(info.Env(), size_t(n));
  if (n) {
    Storage host{buf.Data(), size_t(n), 0, false};
    copy_bytes(&host, 0, s, size_t(offset), size_t(n));
  }
  return buf;
}

// storageBytes(handle) -> byte size (0 after dispose).
Napi::Value StorageBytes(const Napi::CallbackInfo& info) {
  void* p = nullptr;
  napi_get_value_external(info.Env(), info[0], &p);
  auto* s = static_cast<Storage*>(p);
  return Napi::Number::New(info.Env(), s && s->data ? double(s->bytes) : 0.0);
}

Napi::Value AllocatorStats(const Napi::CallbackInfo& info) {
  auto st = cpu_allocator_stats();
  auto o = Napi::Object::New(info.Env());
  o.Set("allocated", double(st.allocated));
  o.Set("reserved", double(st.reserved));
  return o;
}

Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  cpu_empty_cache();
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), get_num_threads()); }

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  int64_t n = int_arg(info, 0);
  TENSILE_CHECK(n >= 1 && n <= 1024, ValueError, "setNumThreads: expected an integer in [1, 1024] but got ", n);
  set_num_threads(int(n));
  return info.Env().Undefined();
}

Napi::Value CudaProbeJs(const Napi::CallbackInfo& info) {
  const CudaProbe& p = cuda_probe();
  auto o = Napi::Object::New(info.Env());
  o.Set("compiled", p.compiled);
  o.Set("deviceCount", p.device_count);
  o.Set("code", p.code);
  o.Set("errorName", p.error_name);
  o.Set("message", p.message);
  o.Set("driverVersion", p.driver_version);
  o.Set("runtimeVersion", p.runtime_version);
  return o;
}

// cudaSynchronize(index): waits for cuda:index's stream, then raises what the device deferred.
Napi::Value CudaSynchronize(const Napi::CallbackInfo& info) {
  int64_t index = int_arg(info, 0);
  std::string why = device_unavailable(int(index) + 1);
  TENSILE_CHECK(index >= 0 && why.empty(), DeviceError, "cuda.synchronize: device 'cuda:", index, "' is not available: ", why);
#ifdef TENSILE_HAVE_CUDA
  check_cuda_status(cuda_synchronize(int(index)), "cuda.synchronize");
  raise_deferred_checks(int(index) + 1);
#endif
  return info.Env().Undefined();
}

// cudaMemoryStats(index) -> { allocated, reserved, peakAllocated, numAllocRetries } (zeros without CUDA).
Napi::Value CudaMemoryStats(const Napi::CallbackInfo& info) {
  int64_t index = int_arg(info, 0);
  auto o = Napi::Object::New(info.Env());
  double a = 0, r = 0, p = 0, n = 0;
#ifdef TENSILE_HAVE_CUDA
  if (index >= 0 && index < cuda_probe().device_count) {
    CudaAllocatorStats st = cuda_allocator_stats(int(index));
    a = double(st.allocated), r = double(st.reserved), p = double(st.peak_allocated), n = double(st.num_alloc_retries);
  }
#else
  (void)index;
#endif
  o.Set("allocated", a);
  o.Set("reserved", r);
  o.Set("peakAllocated", p);
  o.Set("numAllocRetries", n);
  return o;
}

// cudaEmptyCache(index): frees the device's cached blocks and the completed cached pinned blocks.
Napi::Value CudaEmptyCache(const Napi::CallbackInfo& info) {
  int64_t index = int_arg(info, 0);
#ifdef TENSILE_HAVE_CUDA
  if (index >= 0 && index < cuda_probe().device_count) {
    check_cuda_status(cuda_empty_cache(int(index)), "cuda.emptyCache");
    cuda_host_empty_cache();
  }
#else
  (void)index;
#endif
  return info.Env().Undefined();
}

// initialize({ Error, ShapeError, ... }, failed): the JS error classes of native errors, and the
// sentinel a failed call returns with the error in failed.error (see call_guarded in util.h).
Napi::Value Initialize(const Napi::CallbackInfo& info) {
  TENSILE_CHECK(info[0].IsObject(), ValueError, "initialize: expected an object of error classes");
  register_error_classes(info.Env(), info[0].As<Napi::Object>(), info[1]);
  return info.Env().Undefined();
}

}  // namespace

void RegisterStorage(Napi::Env env, Napi::Object exports) {
  TENSILE_EXPORT(exports, "initialize", Initialize);
  TENSILE_EXPORT(exports, "alloc", Alloc);
  TENSILE_EXPORT(exports, "allocPinned", AllocPinned);
  TENSILE_EXPORT(exports, "isPinned", IsPinned);
  TENSILE_EXPORT(exports, "copy", Copy);
  TENSILE_EXPORT(exports, "cudaSynchronize", CudaSynchronize);
  TENSILE_EXPORT(exports, "cudaMemoryStats", CudaMemoryStats);
  TENSILE_EXPORT(exports, "cudaEmptyCache", CudaEmptyCache);
  TENSILE_EXPORT(exports, "free", Free);
  TENSILE_EXPORT(exports, "write", Write);
  TENSILE_EXPORT(exports, "read", Read);
  TENSILE_EXPORT(exports, "storageBytes", StorageBytes);
  TENSILE_EXPORT(exports, "allocatorStats", AllocatorStats);
  TENSILE_EXPORT(exports, "emptyCache", EmptyCache);
  TENSILE_EXPORT(exports, "getNumThreads", GetNumThreads);
  TENSILE_EXPORT(exports, "setNumThreads", SetNumThreads);
  TENSILE_EXPORT(exports, "cudaProbe", CudaProbeJs);
}

}  // namespace tensile
