// Size classes: requests round up to a class (64 B granularity below 4 KiB, then four classes
// per power of two), and each class keeps a free list. The cache is unbounded until
// cpu_empty_cache() or an allocation failure drops it; a training loop reaches a fixed
// working set after its first step.
#include "allocator.h"

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

struct Cache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_lists;
  int64_t allocated = 0;
  int64_t cached = 0;

  void drop_all() {
    for (auto& kv : free_lists)
      for (void* p : kv.second) std::free(p);
    free_lists.clear();
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
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free_lists.find(cls);
    if (it != c.free_lists.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
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
  std::lock_guard<std::mutex> lock(c.mu);
  c.allocated -= int64_t(cls);
  c.cached += int64_t(cls);
  c.free_lists[cls].push_back(p);
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
