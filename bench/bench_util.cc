// bench/bench_util.cc: memory sampling, idle readers and percentiles for the
// RCU core's benchmarks. See bench_util.h; nothing here runs by itself.
#include "bench/bench_util.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "rcu/read_guard.h"

namespace rcu_bench {

std::int64_t ProcStatusKiB(const char* field) {
  std::FILE* file = std::fopen("/proc/self/status", "r");
  if (file == nullptr) return -1;
  const std::size_t length = std::strlen(field);
  char line[256];
  std::int64_t kib = -1;
  while (std::fgets(line, sizeof(line), file) != nullptr) {
    if (std::strncmp(line, field, length) == 0 && line[length] == ':') {
      kib = std::strtoll(line + length + 1, nullptr, 10);
      break;
    }
  }
  std::fclose(file);
  return kib;
}

bool ResetPeakRss() {
  std::FILE* file = std::fopen("/proc/self/clear_refs", "w");
  if (file == nullptr) return false;
  const bool written = std::fputs("5", file) >= 0;
  return std::fclose(file) == 0 && written;
}

MemorySampler::MemorySampler(std::function<std::uint64_t()> pending, int period_ms)
    : pending_(std::move(pending)) {
  hwm_reset_ = ResetPeakRss();
  baseline_rss_kib_ = ProcStatusKiB("VmRSS");
  max_rss_kib_ = baseline_rss_kib_;
  start_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this, period_ms] { Loop(period_ms); });
}

MemorySampler::~MemorySampler() { Stop(); }

void MemorySampler::Sample() {
  const std::int64_t rss = ProcStatusKiB("VmRSS");
  const std::uint64_t pending = pending_ ? pending_() : 0;
  max_rss_kib_ = std::max(max_rss_kib_, rss);
  max_pending_ = std::max(max_pending_, pending);
  const std::chrono::duration<double, std::milli> elapsed =
      std::chrono::steady_clock::now() - start_;
  series_.push_back({elapsed.count(), rss - baseline_rss_kib_, pending});
}

void MemorySampler::Loop(int period_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    Sample();
    lock.lock();
    wake_.wait_for(lock, std::chrono::milliseconds(period_ms), [this] { return stop_; });
  }
}

void MemorySampler::Stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
  Sample();
  final_hwm_kib_ = ProcStatusKiB("VmHWM");
}

std::int64_t MemorySampler::peak_growth_kib() const {
  std::int64_t peak = max_rss_kib_;
  if (hwm_reset_) peak = std::max(peak, final_hwm_kib_);
  return std::max<std::int64_t>(0, peak - baseline_rss_kib_);
}

IdleReaders::IdleReaders(int n) {
  for (int i = 0; i < n; ++i) {
    threads_.emplace_back([this] {
      { rcu::ReadGuard guard; }  // registers this thread with the RCU core
      std::unique_lock<std::mutex> lock(mu_);
      ++registered_;
      cv_.notify_all();
      cv_.wait(lock, [this] { return stop_; });
    });
  }
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this, n] { return registered_ == n; });
}

IdleReaders::~IdleReaders() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

SlowReader::SlowReader(int hold_ms) {
  thread_ = std::thread([this, hold_ms] {
    while (!stop_.load(std::memory_order_relaxed)) {
      {
        rcu::ReadGuard guard;
        std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  });
}

SlowReader::~SlowReader() {
  stop_.store(true, std::memory_order_relaxed);
  thread_.join();
}

double Quantile(std::vector<double>& values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = std::ceil(q * static_cast<double>(values.size()));
  const std::size_t index =
      std::min(values.size() - 1, static_cast<std::size_t>(std::max(rank, 1.0)) - 1);
  return values[index];
}

}  // namespace rcu_bench
