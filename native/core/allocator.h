// Caching host allocator: blocks are binned by size class and reused, so a training step that
// allocates the same shapes every iteration touches no fresh pages after the first step.
// Not a general malloc: callers must hand back the exact byte count they asked for.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tensile {

// 64-byte aligned, uninitialised. Throws std::bad_alloc when the system is out of memory
// (after dropping the cache once).
void* cpu_alloc(size_t bytes);
void cpu_free(void* p, size_t bytes);

struct CpuAllocatorStats {
  int64_t allocated;  // bytes handed out and not yet returned
  int64_t reserved;   // allocated + bytes parked in the cache
};
CpuAllocatorStats cpu_allocator_stats();
void cpu_empty_cache();

// RAII scratch buffer for kernels (im2col panels, packed GEMM panels, ...).
template <typename T>
class ScratchBuffer {
 public:
  explicit ScratchBuffer(size_t n) : n_(n), p_(static_cast<T*>(cpu_alloc(n * sizeof(T)))) {}
  ~ScratchBuffer() { cpu_free(p_, n_ * sizeof(T)); }
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  T* get() const { return p_; }

 private:
  size_t n_;
  T* p_;
};

}  // namespace tensile
