// bench/bench_util.h: measuring helpers shared by the RCU core's benchmarks.
//
// Process memory (VmRSS, and VmHWM reset through /proc/self/clear_refs),
// a background sampler that records peak RSS and peak pending callbacks
// while a retire storm runs, idle registered reader threads for grace-period
// latency, and percentiles. Used by bench/core_benchmarks.cc; nothing here
// runs by itself.
#ifndef BENCH_BENCH_UTIL_H_
#define BENCH_BENCH_UTIL_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace rcu_bench {

// A field of /proc/self/status in KiB ("VmRSS", "VmHWM"), or -1 if absent.
std::int64_t ProcStatusKiB(const char* field);

// Resets VmHWM to the current RSS (writes "5" to /proc/self/clear_refs).
// Returns false where the kernel does not allow it.
bool ResetPeakRss();

// One sample of a MemorySampler: milliseconds since its construction, RSS
// growth over the baseline in KiB, and pending callbacks.
struct MemorySample {
  double ms;
  std::int64_t rss_growth_kib;
  std::uint64_t pending;
};

// Samples VmRSS and a pending-callback count every `period_ms` on a
// background thread, from construction until Stop(). Together with VmHWM
// (reset at construction) this bounds the peak RSS of what ran meanwhile.
// Every sample is kept too (series()), for charts of memory over time.
class MemorySampler {
 public:
  MemorySampler(std::function<std::uint64_t()> pending, int period_ms);
  ~MemorySampler();
  MemorySampler(const MemorySampler&) = delete;
  MemorySampler& operator=(const MemorySampler&) = delete;

  // Stops sampling and takes a last sample. Idempotent.
  void Stop();

  std::int64_t baseline_rss_kib() const { return baseline_rss_kib_; }
  // Peak RSS growth over the baseline: the larger of the sampled maximum and
  // VmHWM (when it could be reset). Valid after Stop().
  std::int64_t peak_growth_kib() const;
  // Highest sampled pending-callback count. Valid after Stop().
  std::uint64_t max_pending() const { return max_pending_; }
  bool hwm_was_reset() const { return hwm_reset_; }
  // Every sample, in order. Valid after Stop().
  const std::vector<MemorySample>& series() const { return series_; }

 private:
  void Sample();
  void Loop(int period_ms);

  const std::function<std::uint64_t()> pending_;
  bool hwm_reset_ = false;
  std::int64_t baseline_rss_kib_ = 0;
  std::int64_t max_rss_kib_ = 0;   // written by the sampler thread, then Stop()
  std::uint64_t max_pending_ = 0;  // likewise
  std::int64_t final_hwm_kib_ = -1;
  std::chrono::steady_clock::time_point start_;
  std::vector<MemorySample> series_;  // likewise
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

// `n` threads that each register with the RCU core (one rcu::ReadGuard) and
// then block, outside any read-side section, until destruction: the readers a
// grace period has to check but never has to wait for.
class IdleReaders {
 public:
  explicit IdleReaders(int n);  // returns once all have registered
  ~IdleReaders();
  IdleReaders(const IdleReaders&) = delete;
  IdleReaders& operator=(const IdleReaders&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int registered_ = 0;  // guarded by mu_
  bool stop_ = false;   // guarded by mu_
  std::vector<std::thread> threads_;
};

// A thread that holds a read-side section (rcu::ReadGuard) for `hold_ms` at
// a time, with a short pause between sections, until destruction: a slow
// reader that makes every grace period, and so all reclamation, wait.
class SlowReader {
 public:
  explicit SlowReader(int hold_ms);
  ~SlowReader();
  SlowReader(const SlowReader&) = delete;
  SlowReader& operator=(const SlowReader&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The q-quantile (0 <= q <= 1, nearest rank) of `values`, which it sorts.
// 0 if empty.
double Quantile(std::vector<double>& values, double q);

// Bytes in KiB and MiB, for counters.
inline double KiBToMiB(std::int64_t kib) { return static_cast<double>(kib) / 1024.0; }

}  // namespace rcu_bench

#endif  // BENCH_BENCH_UTIL_H_
