// One persistent pool of native threads shared by every kernel (no libgomp). The calling thread
// takes part in the work. Calls from inside a pool task, or while another thread holds the pool
// (a worker_thread running its own kernels), run inline rather than oversubscribing.
#pragma once
#include <cstdint>
#include <type_traits>
#include <utility>

namespace tensile {

// The threaded path, behind parallel_for: fn(ctx, begin, end) over chunks of [0, n).
void parallel_for_impl(int64_t n, int64_t grain, void (*fn)(void*, int64_t, int64_t), void* ctx);

// Calls fn(begin, end) on disjoint chunks covering [0, n). Chunks are at least `grain` long;
// with n <= grain (or one thread) everything runs inline on the caller. A template rather than a
// std::function: most calls come from small ops that run inline, where building a std::function
// (a heap allocation for any lambda capturing more than two references) cost more than the work.
template <typename F>
inline void parallel_for(int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  if (n <= grain) {
    fn(int64_t(0), n);
    return;
  }
  using Fn = std::remove_reference_t<F>;
  parallel_for_impl(
      n, grain, [](void* ctx, int64_t b, int64_t e) { (*static_cast<Fn*>(ctx))(b, e); },
      const_cast<void*>(static_cast<const void*>(&fn)));
}

int get_num_threads();
void set_num_threads(int n);  // n >= 1

}  // namespace tensile
