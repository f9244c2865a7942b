// Streams, statuses, the caching device allocator and staged copies (see cuda_runtime.h). Host
// code only; kernels live in native/ops/*_cuda.cu.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "cuda_runtime.h"

namespace tensile {
namespace {

constexpr int kMaxDevices = 64;

// ---------------------------------------------------------------------------------------------
// streams

struct DeviceStreams {
  std::mutex mu;
  cudaStream_t stream[kMaxDevices] = {};
};

DeviceStreams& streams() {
  // Leaked on purpose: storage finalizers may run during static destruction.
  static DeviceStreams* s = new DeviceStreams();
  return *s;
}

thread_local int t_current_device = -1;
thread_local std::string t_oom_detail;

// ---------------------------------------------------------------------------------------------
// allocator

size_t size_class(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes <= (size_t(1) << 20)) return (bytes + 511) & ~size_t(511);
  size_t p = size_t(1) << (63 - __builtin_clzll(bytes));
  size_t quarter = p / 4;
  return (bytes + quarter - 1) / quarter * quarter;
}

struct Block {
  size_t size;  // the size class, which is what cudaMalloc was asked for
  int device;
};

struct DeviceCache {
  std::unordered_map<size_t, std::vector<void*>> free_lists;
  int64_t allocated = 0, cached = 0, peak = 0, retries = 0;
};

struct Allocator {
  std::mutex mu;
  DeviceCache dev[kMaxDevices];
  std::unordered_map<void*, Block> live;  // every block handed out, for cuda_free(p)
};

Allocator& allocator() {
  static Allocator* a = new Allocator();
  return *a;
}

// Frees every cached block of one device; the caller holds the allocator's lock.
void drop_cache_locked(DeviceCache& c) {
  for (auto& kv : c.free_lists)
    for (void* p : kv.second) cudaFree(p);
  c.free_lists.clear();
  c.cached = 0;
}

std::string mib(double bytes) {
  std::ostringstream os;
  os.precision(bytes < 10 * 1048576.0 ? 2 : 0);
  os << std::fixed << bytes / 1048576.0 << " MiB";
  return os.str();
}

// ---------------------------------------------------------------------------------------------
// pinned staging buffers for host-to-device copies

constexpr size_t kStagingMax = size_t(4) << 20;  // larger copies go from pageable memory
constexpr size_t kStagingMin = size_t(64) << 10;
constexpr int kStagingCount = 16;  // per device; when all are in flight the oldest is waited for

struct Staging {
  void* host = nullptr;
  size_t cap = 0;
  cudaEvent_t done = nullptr;  // recorded after the copy that last read `host`
  uint64_t last_use = 0;
};

struct StagingPool {
  std::mutex mu;
  std::vector<Staging> bufs[kMaxDevices];
  uint64_t clock = 0;
};

StagingPool& staging() {
  static StagingPool* s = new StagingPool();
  return *s;
}

// ---------------------------------------------------------------------------------------------
// pinned host blocks

struct HostBlock {
  size_t size;
  std::vector<cudaEvent_t> events;  // recorded on every stream when the block was freed
};

struct HostCache {
  std::mutex mu;
  std::unordered_map<void*, size_t> live;                      // block -> size class
  std::unordered_map<size_t, std::vector<std::pair<void*, HostBlock>>> free_lists;
};

HostCache& host_cache() {
  static HostCache* h = new HostCache();
  return *h;
}

// True when every event of the block has completed (the block may be reused).
bool host_block_ready(HostBlock& b) {
  for (cudaEvent_t e : b.events)
    if (cudaEventQuery(e) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
  return true;
}

void destroy_events(HostBlock& b) {
  for (cudaEvent_t e : b.events) cudaEventDestroy(e);
  b.events.clear();
}

inline int status_of(cudaError_t e) {
  if (e != cudaSuccess) cudaGetLastError();  // clear non-sticky errors so the next call starts clean
  return int(e);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// devices and streams

int cuda_set_device(int device) {
  if (device < 0 || device >= kMaxDevices) return int(cudaErrorInvalidDevice);
  if (t_current_device == device) return 0;
  cudaError_t e = cudaSetDevice(device);
  if (e != cudaSuccess) return status_of(e);
  t_current_device = device;
  return 0;
}

int cuda_stream(int device, cudaStream_t* out) {
  if (int s = cuda_set_device(device)) return s;
  DeviceStreams& ds = streams();
  std::lock_guard<std::mutex> lock(ds.mu);
  if (!ds.stream[device]) {
    cudaError_t e = cudaStreamCreateWithFlags(&ds.stream[device], cudaStreamNonBlocking);
    if (e != cudaSuccess) {
      ds.stream[device] = nullptr;
      return status_of(e);
    }
  }
  *out = ds.stream[device];
  return 0;
}

int cuda_synchronize(int device) {
  cudaStream_t s;
  if (int st = cuda_stream(device, &s)) return st;
  return status_of(cudaStreamSynchronize(s));
}

// ---------------------------------------------------------------------------------------------
// statuses

const char* cuda_error_name(int status) { return cudaGetErrorName(cudaError_t(status)); }

std::string cuda_status_message(int status) {
  if (status == kCudaOutOfMemory && !t_oom_detail.empty()) return t_oom_detail;
  return std::string(cudaGetErrorName(cudaError_t(status))) + ": " + cudaGetErrorString(cudaError_t(status));
}

// ---------------------------------------------------------------------------------------------
// allocator

int cuda_alloc(void** out, size_t bytes, int device) {
  *out = nullptr;
  if (int s = cuda_set_device(device)) return s;
  const size_t cls = size_class(bytes);
  Allocator& a = allocator();
  DeviceCache& c = a.dev[device];
  {
    std::lock_guard<std::mutex> lock(a.mu);
    auto it = c.free_lists.find(cls);
    if (it != c.free_lists.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached -= int64_t(cls);
      c.allocated += int64_t(cls);
      c.peak = std::max(c.peak, c.allocated);
      a.live[p] = Block{cls, device};
      *out = p;
      return 0;
    }
  }
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, cls);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    std::lock_guard<std::mutex> lock(a.mu);
    drop_cache_locked(c);
    c.retries++;
    e = cudaMalloc(&p, cls);
  }
  if (e != cudaSuccess) {
    int s = status_of(e);
    if (e == cudaErrorMemoryAllocation) {
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      cudaGetLastError();
      int64_t held;
      {
        std::lock_guard<std::mutex> lock(a.mu);
        held = c.allocated;
      }
      std::ostringstream os;
      os << "CUDA out of memory: tried to allocate " << mib(double(bytes)) << " on cuda:" << device << " ("
         << mib(double(free_b)) << " free of " << mib(double(total_b)) << "; tensile holds " << mib(double(held))
         << " in live blocks and has emptied its cache)";
      t_oom_detail = os.str();
    }
    return s;
  }
  std::lock_guard<std::mutex> lock(a.mu);
  c.allocated += int64_t(cls);
  c.peak = std::max(c.peak, c.allocated);
  a.live[p] = Block{cls, device};
  *out = p;
  return 0;
}

int cuda_free(void* p) {
  if (!p) return 0;
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  auto it = a.live.find(p);
  if (it == a.live.end()) return int(cudaErrorInvalidDevicePointer);
  const Block b = it->second;
  a.live.erase(it);
  DeviceCache& c = a.dev[b.device];
  c.allocated -= int64_t(b.size);
  c.cached += int64_t(b.size);
  c.free_lists[b.size].push_back(p);
  return 0;
}

CudaAllocatorStats cuda_allocator_stats(int device) {
  if (device < 0 || device >= kMaxDevices) return {0, 0, 0, 0};
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  const DeviceCache& c = a.dev[device];
  return {c.allocated, c.allocated + c.cached, c.peak, c.retries};
}

int cuda_empty_cache(int device) {
  if (int s = cuda_set_device(device)) return s;
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  drop_cache_locked(a.dev[device]);
  return status_of(cudaGetLastError());
}

// ---------------------------------------------------------------------------------------------
// pinned host memory

int cuda_host_alloc(void** out, size_t bytes) {
  *out = nullptr;
  const size_t cls = size_class(bytes);
  HostCache& h = host_cache();
  {
    std::lock_guard<std::mutex> lock(h.mu);
    auto it = h.free_lists.find(cls);
    if (it != h.free_lists.end())
      for (size_t i = 0; i < it->second.size(); i++)
        if (host_block_ready(it->second[i].second)) {
          void* p = it->second[i].first;
          destroy_events(it->second[i].second);
          it->second.erase(it->second.begin() + long(i));
          h.live[p] = cls;
          *out = p;
          return 0;
        }
  }
  void* p = nullptr;
  cudaError_t e = cudaHostAlloc(&p, cls, cudaHostAllocPortable);
  if (e != cudaSuccess) {
    cuda_host_empty_cache();
    cudaGetLastError();
    e = cudaHostAlloc(&p, cls, cudaHostAllocPortable);
  }
  if (e != cudaSuccess) return status_of(e);
  std::lock_guard<std::mutex> lock(h.mu);
  h.live[p] = cls;
  *out = p;
  return 0;
}

int cuda_host_free(void* p) {
  if (!p) return 0;
  HostCache& h = host_cache();
  HostBlock b;
  {
    std::lock_guard<std::mutex> lock(h.mu);
    auto it = h.live.find(p);
    if (it == h.live.end()) return int(cudaErrorInvalidHostPointer);
    b.size = it->second;
    h.live.erase(it);
  }
  // An event on every stream: copies from this block issued before now finish before it is reused.
  {
    DeviceStreams& ds = streams();
    std::lock_guard<std::mutex> lock(ds.mu);
    for (int d = 0; d < kMaxDevices; d++) {
      if (!ds.stream[d]) continue;
      cudaEvent_t ev;
      if (cudaEventCreateWithFlags(&ev, cudaEventDisableTiming) != cudaSuccess) {
        cudaGetLastError();
        continue;
      }
      if (cudaEventRecord(ev, ds.stream[d]) != cudaSuccess) {
        cudaGetLastError();
        cudaEventDestroy(ev);
        cudaStreamSynchronize(ds.stream[d]);  // no event: wait instead, so reuse stays safe
        continue;
      }
      b.events.push_back(ev);
    }
  }
  std::lock_guard<std::mutex> lock(h.mu);
  h.free_lists[b.size].emplace_back(p, std::move(b));
  return 0;
}

void cuda_host_empty_cache() {
  HostCache& h = host_cache();
  std::lock_guard<std::mutex> lock(h.mu);
  for (auto& kv : h.free_lists) {
    auto& list = kv.second;
    for (size_t i = 0; i < list.size();) {
      if (host_block_ready(list[i].second)) {
        destroy_events(list[i].second);
        cudaFreeHost(list[i].first);
        list.erase(list.begin() + long(i));
      } else {
        i++;
      }
    }
  }
  cudaGetLastError();
}

// ---------------------------------------------------------------------------------------------
// copies

int cuda_copy_h2d_pinned(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return 0;
  cudaStream_t stream;
  if (int s = cuda_stream(device, &stream)) return s;
  return status_of(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream));
}

int cuda_copy_h2d(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return 0;
  cudaStream_t stream;
  if (int s = cuda_stream(device, &stream)) return s;
  if (bytes <= kStagingMax) {
    StagingPool& sp = staging();
    std::lock_guard<std::mutex> lock(sp.mu);
    std::vector<Staging>& bufs = sp.bufs[device];
    // A free buffer that is big enough; else grow the pool; else wait for the oldest one.
    Staging* pick = nullptr;
    for (Staging& b : bufs)
      if (b.cap >= bytes && cudaEventQuery(b.done) == cudaSuccess) {
        pick = &b;
        break;
      }
    cudaGetLastError();  // cudaEventQuery's cudaErrorNotReady is not an error
    if (!pick && int(bufs.size()) < kStagingCount) {
      Staging b;
      // The next power of two >= bytes (bytes >= 1 here; __builtin_clzll(0) is undefined, hence the max).
      b.cap = bytes <= kStagingMin ? kStagingMin : size_t(1) << (64 - __builtin_clzll(bytes - 1));
      if (cudaHostAlloc(&b.host, b.cap, cudaHostAllocDefault) == cudaSuccess &&
          cudaEventCreateWithFlags(&b.done, cudaEventDisableTiming) == cudaSuccess) {
        bufs.push_back(b);
        pick = &bufs.back();
      } else {
        if (b.host) cudaFreeHost(b.host);
        cudaGetLastError();
      }
    }
    if (!pick) {
      // Every buffer is in flight (or too small): wait for the least recently used one, growing it if needed.
      Staging* oldest = nullptr;
      for (Staging& b : bufs)
        if (!oldest || b.last_use < oldest->last_use) oldest = &b;
      if (oldest && cudaEventSynchronize(oldest->done) == cudaSuccess) {
        if (oldest->cap < bytes) {
          void* h = nullptr;
          size_t cap = size_t(1) << (64 - __builtin_clzll(bytes - 1));
          if (cudaHostAlloc(&h, cap, cudaHostAllocDefault) == cudaSuccess) {
            cudaFreeHost(oldest->host);
            oldest->host = h;
            oldest->cap = cap;
            pick = oldest;
          }
        } else {
          pick = oldest;
        }
      }
      cudaGetLastError();
    }
    if (pick) {
      std::memcpy(pick->host, src, bytes);
      cudaError_t e = cudaMemcpyAsync(dst, pick->host, bytes, cudaMemcpyHostToDevice, stream);
      if (e == cudaSuccess) e = cudaEventRecord(pick->done, stream);
      pick->last_use = ++sp.clock;
      return status_of(e);
    }
    // No pinned memory to be had: fall through to the pageable path.
  }
  // From pageable memory the driver copies the source into its own staging area before returning.
  return status_of(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream));
}

int cuda_copy_d2h(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return 0;
  cudaStream_t stream;
  if (int s = cuda_stream(device, &stream)) return s;
  cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream);
  if (e == cudaSuccess) e = cudaStreamSynchronize(stream);
  return status_of(e);
}

int cuda_copy_d2d(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return 0;
  cudaStream_t stream;
  if (int s = cuda_stream(device, &stream)) return s;
  return status_of(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
}

int cuda_memset_zero(void* dst, size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return 0;
  return status_of(cudaMemsetAsync(dst, 0, bytes, stream));
}

// ---------------------------------------------------------------------------------------------
// scratch

CudaScratch::CudaScratch(size_t bytes) {
  int device = 0;
  cudaError_t e = cudaGetDevice(&device);
  if (e != cudaSuccess) {
    status_ = status_of(e);
    return;
  }
  status_ = cuda_alloc(&p_, bytes, device);
}

CudaScratch::~CudaScratch() { cuda_free(p_); }

}  // namespace tensile
