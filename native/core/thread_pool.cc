// Static partition into at most num_threads chunks: on the 2-4 core machines this targets, work
// stealing buys nothing and costs latency on the small ops that dominate the classic model.
#include "thread_pool.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
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

  void run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    int64_t chunks = std::min<int64_t>(num_threads_, (n + grain - 1) / std::max<int64_t>(grain, 1));
    if (chunks <= 1 || t_in_pool_task) return fn(0, n);
    std::unique_lock<std::mutex> run(run_mu_, std::try_to_lock);
    if (!run.owns_lock()) return fn(0, n);
    chunks = std::min<int64_t>(chunks, int64_t(workers_.size()) + 1);
    {
      std::lock_guard<std::mutex> lock(mu_);
      fn_ = &fn;
      n_ = n;
      chunks_ = chunks;
      pending_ = int(chunks - 1);
      generation_++;
    }
    cv_.notify_all();
    run_chunk(0);
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return pending_ == 0; });
    fn_ = nullptr;
    if (error_) {
      std::exception_ptr e = error_;
      error_ = nullptr;
      std::rethrow_exception(e);
    }
  }

 private:
  void run_chunk(int64_t c) {
    int64_t begin = n_ * c / chunks_, end = n_ * (c + 1) / chunks_;
    bool was = t_in_pool_task;
    t_in_pool_task = true;
    try {
      if (begin < end) (*fn_)(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
    }
    t_in_pool_task = was;
  }

  // `seen` starts at the generation current when the worker was created, so that a worker added by
  // set_num_threads does not mistake the last finished job for a new one.
  void worker(int index, uint64_t seen) {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        if (index + 1 >= chunks_) continue;
      }
      run_chunk(index + 1);
      std::lock_guard<std::mutex> lock(mu_);
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }

  void resize(int n) {
    stop_ = false;
    uint64_t gen = generation_;
    for (int i = 0; i + 1 < n; i++) workers_.emplace_back([this, i, gen] { worker(i, gen); });
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
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
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0, chunks_ = 0;
  int pending_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  pool().run(n, grain, fn);
}

int get_num_threads() { return pool().num_threads(); }

void set_num_threads(int n) { pool().set_num_threads(std::max(1, n)); }

}  // namespace tensile
