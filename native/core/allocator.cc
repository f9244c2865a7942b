// Size classes: requests round up to a class (64 B granularity below 4 KiB, then four classes
// per power of two), and each class keeps a free list per thread. The cache is unbounded until
// cpu_empty_cache() or an allocation failure drops it; a training loop reaches a fixed
// working set after its first step.
//
// Per thread, because a block is best reused by the thread that last wrote it: its lines are
// still in that core's cache. With one list for all threads, a kernel's scratch on the second
// thread was as often a block the first had just written, and every line of it then moved between
// the cores: the classic CNN's first-layer backward, which unpools into 270 KB of scratch per
// thread, spent 1.7x the CPU time at 2 threads as at 1. A thread whose list is empty takes a
// block from another thread's before asking the system, so the cache holds no more than one list
// would.
#include "allocator.h"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace tensile {
namespace {

constexpr size_t kAlign = 64;

size_t size_class(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes <= 4096) return (bytes + 63) & ~size_t(63);
  // Four classes per octave bounds the waste at 25%.
  size_t p = size_t(1) << (63 - __builtin_clzll(bytes));
  size_t quarter = p / 4;
  return (bytes + quarter - 1) / quarter * quarter;
}

// Threads beyond this many share lists (slot = thread number % kSlots).
constexpr int kSlots = 16;

int thread_slot() {
  static std::atomic<int> next{0};
  thread_local int slot = next.fetch_add(1) % kSlots;
  return slot;
}

struct Cache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_lists[kSlots];
  int64_t allocated = 0;
  int64_t cached = 0;

  // A cached block of class cls, preferably one the calling thread freed; null if none.
  void* take(size_t cls, int slot) {
    for (int k = 0; k < kSlots; k++) {
      auto& lists = free_lists[(slot + k) % kSlots];
      auto it = lists.find(cls);
      if (it != lists.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        return p;
      }
    }
    return nullptr;
  }

  void drop_all() {
    for (auto& lists : free_lists) {
      for (auto& kv : lists)
        for (void* p : kv.second) std::free(p);
      lists.clear();
    }
    cached = 0;
  }
};

Cache& cache() {
  // Leaked on purpose: kernels on worker threads may free after static destruction begins.
  static Cache* c = new Cache();
  return *c;
}

}  // namespace

void* cpu_alloc(size_t bytes) {
  size_t cls = size_class(bytes);
  Cache& c = cache();
  const int slot = thread_slot();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (void* p = c.take(cls, slot)) {
      c.cached -= int64_t(cls);
      c.allocated += int64_t(cls);
      return p;
    }
  }
  void* p = std::aligned_alloc(kAlign, cls);
  if (!p) {
    std::lock_guard<std::mutex> lock(c.mu);
    c.drop_all();
    p = std::aligned_alloc(kAlign, cls);
    if (!p) throw std::bad_alloc();
  }
  std::lock_guard<std::mutex> lock(c.mu);
  c.allocated += int64_t(cls);
  return p;
}

void cpu_free(void* p, size_t bytes) {
  if (!p) return;
  size_t cls = size_class(bytes);
  Cache& c = cache();
  const int slot = thread_slot();
  std::lock_guard<std::mutex> lock(c.mu);
  c.allocated -= int64_t(cls);
  c.cached += int64_t(cls);
  c.free_lists[slot][cls].push_back(p);
}

CpuAllocatorStats cpu_allocator_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return {c.allocated, c.allocated + c.cached};
}

void cpu_empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.drop_all();
}

}  // namespace tensile
