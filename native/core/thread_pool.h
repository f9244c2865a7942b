// One persistent pool of native threads shared by every kernel (no libgomp). The calling thread
// takes part in the work. Calls from inside a pool task, or while another thread holds the pool
// (a worker_thread running its own kernels), run inline rather than oversubscribing.
#pragma once
#include <cstdint>
#include <functional>

namespace tensile {

// Calls fn(begin, end) on disjoint chunks covering [0, n). Chunks are at least `grain` long;
// with n <= grain (or one thread) everything runs inline on the caller.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

int get_num_threads();
void set_num_threads(int n);  // n >= 1

}  // namespace tensile
