// Static partition into at most num_threads chunks: on the 2-4 core machines this targets, finer
// work stealing buys nothing and costs latency on the small ops that dominate the classic model.
// Which thread runs a chunk is not fixed, though: the caller and the workers claim chunks, so a
// worker that is asleep or descheduled (another process on its core) delays nothing.
#include "thread_pool.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace tensile {
namespace {

thread_local bool t_in_pool_task = false;

int default_num_threads() {
  if (const char* env = std::getenv("TENSILE_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n >= 1) return n;
  }
  cpu_set_t set;
  int allowed = 0;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) allowed = CPU_COUNT(&set);
  if (allowed <= 0) allowed = int(std::max(1u, std::thread::hardware_concurrency()));
  // Physical cores: hyperthread siblings share FMA units, so they add nothing to GEMM.
  std::set<std::string> cores;
  for (int cpu = 0; cpu < allowed * 4 && cpu < 1024; cpu++) {
    if (!CPU_ISSET(cpu, &set)) continue;
    std::ifstream f("/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/thread_siblings_list");
    std::string s;
    if (f && std::getline(f, s)) cores.insert(s);
  }
  int physical = cores.empty() ? allowed : int(cores.size());
  return std::max(1, std::min(allowed, physical));
}

// Waiting: a worker that has just finished a job spins for a short while before it sleeps on the
// condition variable, and so does the caller waiting for the workers' chunks. A training step of
// a small model runs a parallel kernel every few tens of microseconds, while waking a sleeping
// thread costs about as much (futex wake-up and scheduling, more under a hypervisor), which used
// to eat the gain of the second thread. The spin is bounded so that an idle process sleeps.
// (A 1 ms worker spin, tried so that the worker stays awake between classic-CNN steps, measured
// worse in the benchmark's training child: 0.84 vs 0.77 ms per step over 8 alternating runs at
// 2 threads, with outliers of 1.0-1.1 ms, while V8 compiles on the second core in the first
// seconds.)
constexpr auto kWorkerSpin = std::chrono::microseconds(100);
constexpr auto kCallerSpin = std::chrono::microseconds(100);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Polls done() until it holds or `limit` has passed; true when done() was seen. Between polls the
// thread yields its CPU, so that on a machine with more runnable threads than cores the spinning
// thread does not hold a core that the thread it waits for (or the JS thread) needs.
template <typename Done>
bool spin_until(Done done, std::chrono::microseconds limit) {
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    for (int i = 0; i < 16; i++) {
      if (done()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() - start > limit) return done();
    sched_yield();
  }
}

class Pool {
 public:
  Pool() : num_threads_(default_num_threads()) { resize(num_threads_); }
  ~Pool() { stop_workers(); }

  int num_threads() const { return num_threads_; }

  void set_num_threads(int n) {
    std::lock_guard<std::mutex> run(run_mu_);
    stop_workers();
    num_threads_ = n;
    resize(n);
  }

  void run(int64_t n, int64_t grain, void (*fn)(void*, int64_t, int64_t), void* ctx) {
    if (n <= 0) return;
    int64_t chunks = std::min<int64_t>(num_threads_, (n + grain - 1) / std::max<int64_t>(grain, 1));
    if (chunks <= 1 || t_in_pool_task) return fn(ctx, 0, n);
    std::unique_lock<std::mutex> run(run_mu_, std::try_to_lock);
    if (!run.owns_lock()) return fn(ctx, 0, n);
    chunks = std::min<int64_t>(chunks, int64_t(workers_.size()) + 1);
    if (chunks <= 1) return fn(ctx, 0, n);
    fn_ = fn;
    ctx_ = ctx;
    n_ = n;
    chunks_ = chunks;
    remaining_.store(int(chunks), std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mu_);  // a worker about to sleep cannot miss the new job
      job_++;
      // chunk 0 is the caller's: the next chunk to claim is 1
      claim_.store(pack(job_, chunks, 1), std::memory_order_release);
    }
    cv_.notify_all();
    run_chunk(0);
    finish_chunk();
    // Chunks no worker has claimed yet (one asleep or descheduled) are the caller's too, so it
    // never waits for a thread that has not started.
    claim_chunks(job_);
    if (!spin_until([&] { return remaining_.load(std::memory_order_acquire) == 0; }, kCallerSpin)) {
      std::unique_lock<std::mutex> lock(mu_);
      done_cv_.wait(lock, [&] { return remaining_.load(std::memory_order_acquire) == 0; });
    }
    fn_ = nullptr;
    if (error_) {
      std::exception_ptr e = error_;
      error_ = nullptr;
      std::rethrow_exception(e);
    }
  }

 private:
  // claim_ holds the job number (high 32 bits), its chunk count and the next unclaimed chunk (16
  // bits each), so that claiming a chunk and checking that it belongs to the current job is one
  // compare-and-swap: a late worker can never claim a chunk of a job that has moved on.
  static uint64_t pack(uint64_t job, int64_t chunks, int64_t next) {
    return (job << 32) | (uint64_t(chunks) << 16) | uint64_t(next);
  }

  // Runs chunks of job `job` while any is left unclaimed.
  void claim_chunks(uint64_t job) {
    uint64_t c = claim_.load(std::memory_order_acquire);
    for (;;) {
      if ((c >> 32) != (job & 0xffffffffu)) return;
      const uint64_t next = c & 0xffff, chunks = (c >> 16) & 0xffff;
      if (next >= chunks) return;
      if (claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        run_chunk(int64_t(next));
        finish_chunk();
        c = claim_.load(std::memory_order_acquire);
      }
    }
  }

  void finish_chunk() {
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mu_);  // the caller may be between its check and its wait
      done_cv_.notify_one();
    }
  }

  void run_chunk(int64_t c) {
    int64_t begin = n_ * c / chunks_, end = n_ * (c + 1) / chunks_;
    bool was = t_in_pool_task;
    t_in_pool_task = true;
    try {
      if (begin < end) fn_(ctx_, begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
    }
    t_in_pool_task = was;
  }

  // `seen` starts at the job current when the worker was created, so that a worker added by
  // set_num_threads does not mistake the last finished job for a new one.
  void worker(uint64_t seen) {
    for (;;) {
      auto fresh = [&] {
        return stop_.load(std::memory_order_relaxed) || (claim_.load(std::memory_order_acquire) >> 32) != (seen & 0xffffffffu);
      };
      if (!spin_until(fresh, kWorkerSpin)) {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, fresh);
      }
      if (stop_.load(std::memory_order_relaxed)) return;
      seen = claim_.load(std::memory_order_acquire) >> 32;
      claim_chunks(seen);
    }
  }

  void resize(int n) {
    stop_.store(false);
    uint64_t job = job_;
    for (int i = 0; i + 1 < n; i++) workers_.emplace_back([this, job] { worker(job); });
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_.store(true);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex run_mu_;  // one parallel region at a time
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  // The job: written by the caller before it publishes claim_ (release), read by a worker only
  // after it has claimed a chunk of that job (acquire), while the caller waits for that chunk.
  void (*fn_)(void*, int64_t, int64_t) = nullptr;
  void* ctx_ = nullptr;
  int64_t n_ = 0, chunks_ = 0;
  uint64_t job_ = 0;  // the caller's count of jobs (under run_mu_)
  std::atomic<uint64_t> claim_{0};
  std::atomic<int> remaining_{0};  // chunks of the current job not finished yet
  std::atomic<bool> stop_{false};
  std::exception_ptr error_;
};

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

void parallel_for_impl(int64_t n, int64_t grain, void (*fn)(void*, int64_t, int64_t), void* ctx) { pool().run(n, grain, fn, ctx); }

int get_num_threads() { return pool().num_threads(); }

void set_num_threads(int n) { pool().set_num_threads(std::max(1, n)); }

}  // namespace tensile
