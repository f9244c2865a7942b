// The CUDA side of native/core: one stream per device, CUDA statuses in words, a caching device
// allocator, host<->device copies through pinned staging buffers, and scratch buffers for kernel
// launchers. Host code only: this header includes no CUDA header (cudaStream_t is declared the
// way cuda_runtime_api.h declares it), so g++-compiled bindings can include it. Compiled from
// cuda_runtime.cu when nvcc was found (TENSILE_HAVE_CUDA); there is no CPU-only twin, so callers
// guard their includes with TENSILE_HAVE_CUDA.
//
// Statuses: every function returns an int, 0 for success, else the cudaError_t. Nothing here
// aborts, prints or throws; the binding turns a status into a JS error with cuda_status_message()
// (cudaErrorMemoryAllocation, 2, becomes OutOfMemoryError).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

typedef struct CUstream_st* cudaStream_t;

namespace tensile {

// ---------------------------------------------------------------------------------------------
// devices and streams

// Makes `device` current on the calling thread (cached per thread, so repeated calls are cheap).
int cuda_set_device(int device);

// The one stream of `device`, created on first use (non-blocking with respect to the legacy
// default stream). Every kernel, copy and scratch allocation for that device goes through it, so
// work on one device runs in issue order and no device synchronisation is needed inside a step.
int cuda_stream(int device, cudaStream_t* out);

// Waits for everything issued on the device's stream: the one place where the host blocks,
// used where the user reads values (item, toArray, data).
int cuda_synchronize(int device);

// ---------------------------------------------------------------------------------------------
// statuses

constexpr int kCudaOutOfMemory = 2;  // cudaErrorMemoryAllocation

// "cudaErrorInvalidValue" and so on; "cudaSuccess" for 0.
const char* cuda_error_name(int status);
// The runtime's sentence for the status; for out-of-memory, the sizes of the last failed
// allocation on this thread (what was asked, what the device has free, what tensile holds).
std::string cuda_status_message(int status);
inline bool cuda_is_oom(int status) { return status == kCudaOutOfMemory; }

// ---------------------------------------------------------------------------------------------
// caching device allocator
//
// Blocks are binned by size class (512 B granularity up to 1 MiB, then four classes per power of
// two, so at most 25% waste) and reused from per-device free lists. Reuse is stream-ordered: a
// freed block goes straight back to the cache and may be handed out again at once, because the
// next user issues its work on the same stream, after every kernel that used the block before.
// On out-of-memory the allocator frees its cache (cudaFree synchronises the device), retries
// once, then returns kCudaOutOfMemory with the sizes kept for cuda_status_message().

// *out = 256-byte aligned device memory of at least `bytes` on `device` (uninitialised). A
// request of 0 bytes gets a minimal block, so that every tensor has a distinct pointer.
int cuda_alloc(void** out, size_t bytes, int device);
// Hands a block from cuda_alloc back to its device's cache. Null is ignored.
int cuda_free(void* p);

struct CudaAllocatorStats {
  int64_t allocated;       // bytes handed out and not yet returned
  int64_t reserved;        // allocated + bytes parked in the cache
  int64_t peak_allocated;  // high-water mark of `allocated`
  int64_t num_alloc_retries;  // times an out-of-memory emptied the cache and retried
};
CudaAllocatorStats cuda_allocator_stats(int device);
// Frees every cached block of `device` (live blocks stay).
int cuda_empty_cache(int device);

// ---------------------------------------------------------------------------------------------
// pinned (page-locked) host memory, cached
//
// For CPU tensors that feed host-to-device copies (the DataLoader's pinMemory): a copy from pinned
// memory is a plain asynchronous DMA with no staging. Freed blocks are cached by size class and
// handed out again only once every stream that existed when they were freed has passed that
// point (an event per stream), so an in-flight copy never sees its source overwritten.

// *out = pinned host memory of at least `bytes`; kCudaOutOfMemory (and others) on failure.
int cuda_host_alloc(void** out, size_t bytes);
// Back to the cache; `p` must come from cuda_host_alloc. Null is ignored.
int cuda_host_free(void* p);
// Frees the cached pinned blocks whose events have completed.
void cuda_host_empty_cache();

// ---------------------------------------------------------------------------------------------
// copies (all on the device's stream)

// Host to device. Small copies (up to 4 MiB) go through a pinned staging buffer and return
// without waiting for the transfer; larger ones are issued from pageable memory, which the
// driver stages itself. Either way the host buffer may be reused as soon as this returns.
int cuda_copy_h2d(void* dst, const void* src, size_t bytes, int device);
// Host to device from pinned memory (cuda_host_alloc): asynchronous, no staging. The source must
// stay allocated until the copy is done, which cuda_host_free's events ensure.
int cuda_copy_h2d_pinned(void* dst, const void* src, size_t bytes, int device);
// Device to host: waits for the stream (the value is wanted now).
int cuda_copy_d2h(void* dst, const void* src, size_t bytes, int device);
// Device to device on one device; asynchronous.
int cuda_copy_d2d(void* dst, const void* src, size_t bytes, int device);
// dst[0, bytes) = 0, asynchronous.
int cuda_memset_zero(void* dst, size_t bytes, cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// scratch buffers for kernel launchers

// Temporary device memory for one launcher call, from the caching allocator on the current
// device. Freed (back to the cache) when it goes out of scope, which is safe while kernels that
// use it are still queued: the next user of the block is ordered after them on the same stream.
class CudaScratch {
 public:
  explicit CudaScratch(size_t bytes);
  ~CudaScratch();
  CudaScratch(const CudaScratch&) = delete;
  CudaScratch& operator=(const CudaScratch&) = delete;
  int status() const { return status_; }  // 0, or kCudaOutOfMemory (and others) when allocation failed
  template <typename T>
  T* as() const {
    return static_cast<T*>(p_);
  }

 private:
  void* p_ = nullptr;
  int status_ = 0;
};

}  // namespace tensile
