// The stall watchdog: reports readers that block a grace period too long.
//
// liburcu's memb flavor keeps, per reader thread, a word holding the nesting
// count and the grace-period phase the outermost lock observed. A grace
// period flips the global phase and waits for every reader whose word is
// active and carries the old phase. So a reader is blocking a grace period
// exactly when its word is active and its phase differs from the global one.
// The watchdog samples those words; a reader seen blocking with an unchanged
// word for longer than the stall timeout is reported.
#include "rcu/stall.h"

#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "rcu/internal/runtime.h"
#include "rcu/internal/thread_registry.h"
#include "rcu/internal/urcu.h"

// Layouts of liburcu's reader word and global grace-period state.
#include <urcu/static/urcu-memb.h>

namespace rcu {
namespace internal {
namespace {

constexpr absl::Duration kDefaultStallTimeout = absl::Seconds(10);

struct Watchdog {
  std::mutex mu;
  std::condition_variable wake;
  bool running = false;                        // guarded by mu
  std::atomic<int> grace_period_waits{0};      // Synchronize() calls in progress
  absl::Duration timeout = kDefaultStallTimeout;  // guarded by mu
  StallHandler handler;                        // guarded by mu
  std::atomic<bool> started{false};            // fast-path copy of `running`
};

// Replaced in a forked child: the parent's condition variable may count the
// parent's watchdog thread as a waiter, and that thread does not exist there.
std::atomic<Watchdog*> the_watchdog{nullptr};

Watchdog& GetWatchdog() {
  Watchdog* w = the_watchdog.load(std::memory_order_acquire);
  if (w != nullptr) return *w;
  auto* fresh = new Watchdog;
  if (the_watchdog.compare_exchange_strong(w, fresh, std::memory_order_acq_rel)) return *fresh;
  delete fresh;
  return *w;
}

bool BlockingGracePeriod(unsigned long reader_word, unsigned long global_word) {
  return (reader_word & URCU_GP_CTR_NEST_MASK) != 0 &&
         ((reader_word ^ global_word) & URCU_GP_CTR_PHASE) != 0;
}

std::string ThreadName(pthread_t handle) {
  char name[64] = {};
  if (pthread_getname_np(handle, name, sizeof(name)) != 0) return "";
  return name;
}

// Samples every registered reader once; returns the reports to deliver.
// Reports come at most a quarter of the timeout late (the sampling period).
std::vector<StallReport> Scan(absl::Duration timeout) {
  std::vector<StallReport> reports;
  const absl::Time now = absl::Now();
  const unsigned long global_word =
      __atomic_load_n(&urcu_memb_gp.ctr, __ATOMIC_RELAXED);
  ForEachReaderThread([&](ReaderThread& reader) {
    const unsigned long word = __atomic_load_n(reader.urcu_ctr, __ATOMIC_RELAXED);
    if (!BlockingGracePeriod(word, global_word)) {
      reader.stalled_since = absl::InfinitePast();
      return;
    }
    if (reader.stalled_since == absl::InfinitePast() || reader.stalled_ctr != word) {
      reader.stalled_since = now;
      reader.stalled_ctr = word;
      reader.last_report = absl::InfinitePast();
      return;
    }
    if (now - reader.stalled_since >= timeout && now - reader.last_report >= timeout) {
      reader.last_report = now;
      reports.push_back(StallReport{reader.tid, ThreadName(reader.handle),
                                    now - reader.stalled_since});
    }
  });
  return reports;
}

void DefaultStallHandler(const StallReport& report) {
  std::fprintf(stderr,
               "rcu: stall: thread %d (%s) has been inside a read-side critical "
               "section for at least %s, blocking grace periods and memory "
               "reclamation\n",
               static_cast<int>(report.thread_id),
               report.thread_name.empty() ? "unnamed" : report.thread_name.c_str(),
               absl::FormatDuration(report.blocked_for).c_str());
  std::fflush(stderr);
}

void WatchdogLoop() {
  pthread_setname_np(pthread_self(), "rcu-watchdog");
  Watchdog& w = GetWatchdog();
  std::unique_lock<std::mutex> lock(w.mu);
  while (true) {
    const absl::Duration timeout = w.timeout;
    if (timeout == absl::InfiniteDuration()) {
      w.wake.wait(lock);
      continue;
    }
    // Four samples per timeout, so a stall is reported at most a quarter of
    // the timeout late. Grace-period waits do not wake the watchdog: that
    // would put a futex call on every Synchronize().
    const absl::Duration period =
        std::clamp(timeout / 4, absl::Milliseconds(1), absl::Milliseconds(2500));
    w.wake.wait_for(lock, absl::ToChronoNanoseconds(period));
    if (w.grace_period_waits.load(std::memory_order_relaxed) == 0 && PendingCallbacks() == 0) {
      continue;  // no grace period is waiting: nothing can be stalled
    }
    StallHandler handler = w.handler;
    lock.unlock();
    std::vector<StallReport> reports = Scan(timeout);
    for (const StallReport& report : reports) {
      Bump(GetCounters().stalls_reported);
      if (handler) {
        handler(report);
      } else {
        DefaultStallHandler(report);
      }
    }
    lock.lock();
  }
}

}  // namespace

void EnsureWatchdog() {
  Watchdog& w = GetWatchdog();
  if (w.started.load(std::memory_order_acquire)) return;
  std::lock_guard<std::mutex> lock(w.mu);
  if (w.running) return;
  std::thread(&WatchdogLoop).detach();
  w.running = true;
  w.started.store(true, std::memory_order_release);
}

GracePeriodWaitScope::GracePeriodWaitScope() {
  EnsureWatchdog();
  GetWatchdog().grace_period_waits.fetch_add(1, std::memory_order_relaxed);
}

GracePeriodWaitScope::~GracePeriodWaitScope() {
  GetWatchdog().grace_period_waits.fetch_sub(1, std::memory_order_relaxed);
}

void WatchdogBeforeFork() { GetWatchdog().mu.lock(); }

void WatchdogAfterForkParent() { GetWatchdog().mu.unlock(); }

// The watchdog thread does not exist in the child: the child gets a fresh
// Watchdog with the same settings (the parent's is leaked, once per fork),
// and the next grace period starts a new thread.
void WatchdogAfterForkChild() {
  Watchdog& old = GetWatchdog();
  auto* fresh = new Watchdog;
  fresh->timeout = old.timeout;
  fresh->handler = old.handler;
  the_watchdog.store(fresh, std::memory_order_release);
}

}  // namespace internal

void SetStallTimeout(absl::Duration timeout) {
  internal::Watchdog& w = internal::GetWatchdog();
  std::lock_guard<std::mutex> lock(w.mu);
  w.timeout = timeout <= absl::ZeroDuration() ? absl::InfiniteDuration() : timeout;
  w.wake.notify_all();
}

absl::Duration StallTimeout() {
  internal::Watchdog& w = internal::GetWatchdog();
  std::lock_guard<std::mutex> lock(w.mu);
  return w.timeout;
}

StallHandler SetStallHandler(StallHandler handler) {
  internal::Watchdog& w = internal::GetWatchdog();
  std::lock_guard<std::mutex> lock(w.mu);
  std::swap(w.handler, handler);
  return handler;
}

}  // namespace rcu
