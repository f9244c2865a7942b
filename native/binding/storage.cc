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

void register_error_classes(Napi::Env env, Napi::Object classes);

namespace {

// Each byte of tensor memory is reported to V8 as kExternalWeight bytes. V8 starts a collection
// when external memory has grown by a fixed amount (64 MiB) since the last one; at face value a
// small model's step leaves so little garbage that tens of MiB of dead tensors pile up between
// collections, and the caching allocator's reserve (and so RSS) steps up whenever one pile
// happens to be larger than the last. Weighting keeps the garbage between collections small and
// the footprint flat, at the cost of more (cheap, young-heap) collections.
constexpr int64_t kExternalWeight = 4;

void release_data(node_api_basic_env env, Storage* s) {
  if (!s->data) return;
  cpu_free(s->data, s->bytes);
  s->data = nullptr;
  int64_t ignored;
  napi_adjust_external_memory(env, -int64_t(s->bytes) * kExternalWeight, &ignored);
}

void finalize_storage(node_api_basic_env env, void* data, void* /*hint*/) {
  auto* s = static_cast<Storage*>(data);
  release_data(env, s);
  delete s;
}

// alloc(bytes, device) -> handle. Memory is uninitialised.
Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t bytes = int_arg(info, 0);
  int64_t device = int_arg(info, 1);
  TENSILE_CHECK(bytes >= 0, ValueError, "alloc: negative size ", bytes);
  TENSILE_CHECK(device == 0, DeviceError, "alloc: device ", device, " is not available in this build");
  auto* s = new Storage{nullptr, size_t(bytes), int(device)};
  try {
    s->data = cpu_alloc(size_t(bytes));
  } catch (...) {
    delete s;
    throw BindingError{ErrorKind::OutOfMemoryError, str_cat("alloc: out of host memory allocating ", bytes, " bytes")};
  }
  int64_t ignored;
  napi_adjust_external_memory(env, bytes * kExternalWeight, &ignored);
  napi_value handle;
  if (napi_create_external(env, s, finalize_storage, nullptr, &handle) != napi_ok) {
    cpu_free(s->data, s->bytes);
    delete s;
    throw BindingError{ErrorKind::Error, "alloc: could not create a storage handle"};
  }
  return Napi::Value(env, handle);
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
  if (n) std::memcpy(static_cast<uint8_t*>(s->data) + offset, data, n);
  return info.Env().Undefined();
}

// read(handle, byteOffset, byteLength) -> ArrayBuffer copy.
Napi::Value Read(const Napi::CallbackInfo& info) {
  Storage* s = storage_arg(info, 0);
  int64_t offset = int_arg(info, 1);
  int64_t n = int_arg(info, 2);
  TENSILE_CHECK(offset >= 0 && n >= 0 && size_t(offset + n) <= s->bytes, ValueError, "read: ", n, " bytes at offset ", offset, " exceed storage of ", s->bytes, " bytes");
  auto buf = Napi::ArrayBuffer::New(info.Env(), size_t(n));
  if (n) std::memcpy(buf.Data(), static_cast<uint8_t*>(s->data) + offset, size_t(n));
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
  CudaProbe p = cuda_probe();
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

// initialize({ Error, ShapeError, ... }): the JS error classes native code throws.
Napi::Value Initialize(const Napi::CallbackInfo& info) {
  register_error_classes(info.Env(), info[0].As<Napi::Object>());
  return info.Env().Undefined();
}

}  // namespace

void RegisterStorage(Napi::Env env, Napi::Object exports) {
  TENSILE_EXPORT(exports, "initialize", Initialize);
  TENSILE_EXPORT(exports, "alloc", Alloc);
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
