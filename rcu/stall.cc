// The stall watchdog: reports readers that block a grace period too long, and
// callbacks that hold up the callback thread too long.
//
// liburcu's memb flavor keeps, per reader thread, a word holding the nesting
// count and the grace-period phase the outermost lock observed. A grace
// period flips the global phase and waits for every reader whose word is
// active and carries the old phase. So a reader is blocking a grace period
// exactly when its word is active and its phase differs from the global one.
//
// Phase and nesting alone repeat from one section to the next: a reader that
// runs short sections back to back while grace periods follow each other is
// found blocking at most samples, with the same word, although each section
// is short. So each section is identified exactly: the library numbers a
// thread's outermost sections (in the reader word's unused high bits, or in
// a separate counter in call mode, see rcu/read_guard.h). A reader seen
// blocking in the same numbered section for longer than the stall timeout is
// reported.
#include "rcu/stall.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/debugging/symbolize.h"
#include "absl/time/clock.h"
#include "rcu/internal/chrono.h"
#include "rcu/internal/callback_worker.h"
#include "rcu/internal/callbacks.h"
#include "rcu/internal/cond_var.h"
#include "rcu/internal/fork_hooks.h"
#include "rcu/internal/fork_replaced.h"
#include "rcu/internal/counters.h"
#include "rcu/internal/thread_registry.h"
#include "rcu/internal/urcu.h"
#include "rcu/internal/watchdog.h"
#include "rcu/mutex.h"

// Layouts of liburcu's reader word and global grace-period state.
#include <urcu/static/urcu-memb.h>

namespace rcu {
namespace internal {
namespace {

constexpr absl::Duration kDefaultStallTimeout = absl::Seconds(10);

// The callback thread, as the watchdog last saw it. Touched only by the
// watchdog thread.
struct CallbackWatch {
  std::uint64_t begun = 0;                  // the callback it was in
  absl::Time since = absl::InfinitePast();  // InfinitePast: not in one
  absl::Time last_report = absl::InfinitePast();
};

struct Watchdog {
  Mutex mu;
  CondVar wake;
  bool running ABSL_GUARDED_BY(mu) = false;
  std::atomic<int> grace_period_waits{0};  // Synchronize() calls in progress
  absl::Duration timeout ABSL_GUARDED_BY(mu) = kDefaultStallTimeout;
  StallHandler handler ABSL_GUARDED_BY(mu);
  std::atomic<bool> started{false};  // fast-path copy of `running`
  // Set while the last scan found the callback worker held up for longer
  // than the timeout (see WorkerHeldUp()).
  std::atomic<bool> worker_held_up{false};
  CallbackWatch callback_watch;  // the watchdog thread's own
};

// Replaced in a forked child: the parent's condition variable may count the
// parent's watchdog thread as a waiter, and that thread does not exist there.
ForkReplaced<Watchdog> the_watchdog;

Watchdog& GetWatchdog() { return the_watchdog.Get(); }

bool BlockingGracePeriod(unsigned long reader_word, unsigned long global_word) {
  return (reader_word & URCU_GP_CTR_NEST_MASK) != 0 &&
         ((reader_word ^ global_word) & URCU_GP_CTR_PHASE) != 0;
}

std::string ThreadName(pthread_t handle) {
  char name[64] = {};
  if (pthread_getname_np(handle, name, sizeof(name)) != 0) return "";
  return name;
}

// The name of the type in a PrettyName<T>() string: "... [with T = Foo]"
// (GCC) or "... [T = Foo]" (clang).
std::string TypeFromPrettyName(const std::string& pretty) {
  const std::size_t start = pretty.find("T = ");
  const std::size_t end = pretty.rfind(']');
  if (start == std::string::npos || end == std::string::npos || end < start + 4) return pretty;
  return pretty.substr(start + 4, end - start - 4);
}

// Names the callback the worker runs: by what the callback said it is, or
// else by its function's symbol (CallRcu(RcuHead*, fn) with a plain
// function), or else by its address.
std::string CallbackName(const WorkerProgress& progress) {
  if (progress.what != nullptr && progress.type != nullptr) {
    return std::string(progress.what) + " " + TypeFromPrettyName(progress.type);
  }
  char name[1024];
  if (progress.callback != nullptr && absl::Symbolize(progress.callback, name, sizeof(name))) {
    return name;
  }
  char address[32];
  std::snprintf(address, sizeof(address), "%p", progress.callback);
  return address;
}

// Samples every registered reader once. Returns the reports to deliver and
// sets `any_stalled` if some reader has blocked a grace period for longer
// than the timeout (reported now or earlier). Reports come at most a quarter
// of the timeout late (the sampling period).
std::vector<StallReport> ScanReaders(absl::Duration timeout, absl::Time now, bool& any_stalled) {
  std::vector<StallReport> reports;
  const unsigned long global_word = __atomic_load_n(&urcu_memb_gp.ctr, __ATOMIC_RELAXED);
  ForEachReaderThread([&](ReaderThread& reader) {
    const unsigned long word = __atomic_load_n(reader.urcu_ctr, __ATOMIC_RELAXED);
    const std::uint64_t sections =
        reader.sections != nullptr ? reader.sections->load(std::memory_order_relaxed) : 0;
    if (!BlockingGracePeriod(word, global_word)) {
      reader.stalled_since = absl::InfinitePast();
      return;
    }
    if (reader.stalled_since == absl::InfinitePast() || reader.stalled_ctr != word ||
        reader.stalled_sections != sections) {
      reader.stalled_since = now;  // a section seen blocking for the first time
      reader.stalled_ctr = word;
      reader.stalled_sections = sections;
      reader.last_report = absl::InfinitePast();
      return;
    }
    if (now - reader.stalled_since < timeout) return;
    any_stalled = true;
    if (now - reader.last_report >= timeout) {
      reader.last_report = now;
      StallReport report;
      report.thread_id = reader.tid;
      report.thread_name = ThreadName(reader.handle);
      report.blocked_for = now - reader.stalled_since;
      reports.push_back(std::move(report));
    }
  });
  return reports;
}

// Looks at the callback thread. Sets `stuck` if it has been inside one
// callback for longer than the timeout; returns a report when one is due.
std::vector<StallReport> ScanCallbackWorker(CallbackWatch& watch, absl::Duration timeout,
                                            absl::Time now, bool& stuck) {
  std::vector<StallReport> reports;
  const WorkerProgress progress = GetWorkerProgress();
  if (!progress.in_callback) {
    watch.since = absl::InfinitePast();
    return reports;
  }
  if (watch.since == absl::InfinitePast() || watch.begun != progress.begun) {
    watch.since = now;
    watch.begun = progress.begun;
    watch.last_report = absl::InfinitePast();
    return reports;
  }
  if (now - watch.since < timeout) return reports;
  stuck = true;
  if (now - watch.last_report >= timeout) {
    watch.last_report = now;
    StallReport report;
    report.thread_id = progress.tid;
    report.thread_name = "rcu-callbacks";
    report.blocked_for = now - watch.since;
    report.kind = StallReport::Kind::kCallback;
    report.callback = CallbackName(progress);
    report.waiting_threads = progress.waiters;
    reports.push_back(std::move(report));
  }
  return reports;
}

void DefaultStallHandler(const StallReport& report) {
  if (report.kind == StallReport::Kind::kDomainReaders) {
    std::fprintf(stderr,
                 "rcu: stall: a grace period of rcu::Domain '%s' has waited for at least %s "
                 "for its readers (%lld section(s) open), holding up its Synchronize() "
                 "callers and callbacks\n",
                 report.domain.c_str(), absl::FormatDuration(report.blocked_for).c_str(),
                 report.open_sections);
  } else if (report.kind == StallReport::Kind::kCallback) {
    std::fprintf(stderr,
                 "rcu: stall: the RCU callback thread (tid %d) has been running one callback "
                 "for at least %s, holding up every later callback and %d waiting thread(s) "
                 "(Barrier(), backpressure, fork()): %s. A callback that waits for a lock "
                 "held by a thread that waits for callbacks never returns; backpressure "
                 "stops waiting while this lasts\n",
                 static_cast<int>(report.thread_id),
                 absl::FormatDuration(report.blocked_for).c_str(), report.waiting_threads,
                 report.callback.c_str());
  } else {
    std::fprintf(stderr,
                 "rcu: stall: thread %d (%s) has been inside a read-side critical "
                 "section for at least %s, blocking grace periods and memory "
                 "reclamation\n",
                 static_cast<int>(report.thread_id),
                 report.thread_name.empty() ? "unnamed" : report.thread_name.c_str(),
                 absl::FormatDuration(report.blocked_for).c_str());
  }
  std::fflush(stderr);
}

// Publishes whether the worker is held up, waking backpressure waiters when
// that changes (they stop waiting while it is).
void SetWorkerHeldUp(Watchdog& w, bool held_up) {
  if (w.worker_held_up.exchange(held_up, std::memory_order_seq_cst) != held_up) {
    WakeBacklogWaiters();
  }
}

void WatchdogLoop() {
  pthread_setname_np(pthread_self(), "rcu-watchdog");
  Watchdog& w = GetWatchdog();
  w.mu.Lock();
  while (true) {
    const absl::Duration timeout = w.timeout;
    if (timeout == absl::InfiniteDuration()) {
      SetWorkerHeldUp(w, false);
      w.wake.Wait(w.mu);
      continue;
    }
    // Four samples per timeout, so a stall is reported at most a quarter of
    // the timeout late. Grace-period waits do not wake the watchdog: that
    // would put a futex call on every Synchronize().
    const absl::Duration period =
        std::clamp(timeout / 4, absl::Milliseconds(1), absl::Milliseconds(2500));
    w.wake.WaitFor(w.mu, absl::ToChronoNanoseconds(period));
    if (w.grace_period_waits.load(std::memory_order_relaxed) == 0 && PendingCallbacks() == 0) {
      SetWorkerHeldUp(w, false);
      continue;  // no grace period is waiting, no callback pending: no stall
    }
    StallHandler handler = w.handler;
    w.mu.Unlock();
    const absl::Time now = ForkSafeNow();
    bool reader_stalled = false;
    bool callback_stuck = false;
    std::vector<StallReport> reports = ScanReaders(timeout, now, reader_stalled);
    for (StallReport& r : ScanCallbackWorker(w.callback_watch, timeout, now, callback_stuck)) {
      reports.push_back(std::move(r));
    }
    // A stalled reader holds up the worker's grace period whenever
    // callbacks are pending, which they are if we got here without a
    // Synchronize() waiting.
    SetWorkerHeldUp(w, callback_stuck || (reader_stalled && PendingCallbacks() > 0));
    for (const StallReport& report : reports) {
      Bump(GetCounters().stalls_reported);
      if (handler) {
        handler(report);
      } else {
        DefaultStallHandler(report);
      }
    }
    w.mu.Lock();
  }
}

// Starts the watchdog thread if it is not running. Never throws: if no
// thread can be created, stall warnings wait for a later grace period to try
// again.
void EnsureWatchdog() noexcept {
  Watchdog& w = GetWatchdog();
  if (w.started.load(std::memory_order_acquire)) return;
  MutexLock lock(w.mu);
  if (w.running) return;
  try {
    std::thread(&WatchdogLoop).detach();
  } catch (...) {
    return;
  }
  w.running = true;
  w.started.store(true, std::memory_order_release);
}

}  // namespace

GracePeriodWaitScope::GracePeriodWaitScope() {
  EnsureWatchdog();
  GetWatchdog().grace_period_waits.fetch_add(1, std::memory_order_relaxed);
}

GracePeriodWaitScope::~GracePeriodWaitScope() {
  GetWatchdog().grace_period_waits.fetch_sub(1, std::memory_order_relaxed);
}

bool WorkerHeldUp() { return GetWatchdog().worker_held_up.load(std::memory_order_seq_cst); }

void ReportStall(const StallReport& report) {
  StallHandler handler;
  {
    Watchdog& w = GetWatchdog();
    MutexLock lock(w.mu);
    handler = w.handler;
  }
  Bump(GetCounters().stalls_reported);
  if (handler) {
    handler(report);
  } else {
    DefaultStallHandler(report);
  }
}

namespace {

// fork(): the child gets a new watchdog (started on demand).
void WatchdogBeforeFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { GetWatchdog().mu.Lock(); }

void WatchdogAfterForkParent() ABSL_NO_THREAD_SAFETY_ANALYSIS { GetWatchdog().mu.Unlock(); }

// The watchdog thread does not exist in the child: the child gets a fresh
// Watchdog with the same settings,
// and the next grace period starts a new thread.
void WatchdogAfterForkChild(ForkChildCallbacks&) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Watchdog& old = the_watchdog.ReplaceInForkChild();
  old.mu.Unlock();  // the forking thread holds it (WatchdogBeforeFork)
  Watchdog& fresh = GetWatchdog();
  fresh.timeout = old.timeout;
  fresh.handler = old.handler;
}

[[maybe_unused]] const bool fork_hooks_registered = RegisterForkHandlers(
    ForkStage::kWatchdog, {&WatchdogBeforeFork, &WatchdogAfterForkParent, &WatchdogAfterForkChild});

}  // namespace

}  // namespace internal

void SetStallTimeout(absl::Duration timeout) {
  internal::Watchdog& w = internal::GetWatchdog();
  MutexLock lock(w.mu);
  w.timeout = timeout <= absl::ZeroDuration() ? absl::InfiniteDuration() : timeout;
  w.wake.SignalAll();
}

absl::Duration StallTimeout() {
  internal::Watchdog& w = internal::GetWatchdog();
  MutexLock lock(w.mu);
  return w.timeout;
}

StallHandler SetStallHandler(StallHandler handler) {
  internal::Watchdog& w = internal::GetWatchdog();
  MutexLock lock(w.mu);
  std::swap(w.handler, handler);
  return handler;
}

}  // namespace rcu
