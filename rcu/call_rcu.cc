// CallRcu(), Retire(), Barrier(): deferred reclamation on the callback worker
// (rcu/internal/callback_worker.h), with backpressure, exception containment
// and an exit-time drain.
#include "rcu/call_rcu.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <string>

#include "rcu/diagnostics.h"
#include "rcu/grace_period.h"
#include "rcu/internal/callback_worker.h"
#include "rcu/internal/rcu_head_access.h"
#include "rcu/internal/retire_buffer.h"
#include "rcu/internal/runtime.h"
#include "rcu/internal/sanitizer.h"
#include "rcu/read_guard.h"

namespace rcu {
namespace internal {
namespace {

constexpr std::size_t kDefaultBacklogLimit = 100000;

std::atomic<std::size_t> backlog_limit{kDefaultBacklogLimit};
// Set once the exit-time drain has run; later callbacks run synchronously.
std::atomic<bool> exiting{false};

// Threads waiting for the worker to catch up. `waiters` is changed under
// `mu`; the worker reads it without the lock to skip notifying when nobody
// waits (see the comment in RunCallback()).
struct Backlog {
  std::mutex mu;
  std::condition_variable drained;
  std::atomic<int> waiters{0};
};

// Replaced in a forked child, whose copy of the condition variable may count
// waiters that do not exist there (see BacklogAfterForkChild).
std::atomic<Backlog*> the_backlog{nullptr};

Backlog& GetBacklog() {
  Backlog* b = the_backlog.load(std::memory_order_acquire);
  if (b != nullptr) return *b;
  auto* fresh = new Backlog;
  if (the_backlog.compare_exchange_strong(b, fresh, std::memory_order_acq_rel)) return *fresh;
  delete fresh;
  return *b;
}

bool BacklogDrained() {
  return PendingCallbacks() <= backlog_limit.load(std::memory_order_relaxed) / 2;
}

void WaitForBacklog() {
  if (InReadSection() || in_callback) return;  // waiting could deadlock
  Bump(GetCounters().backlog_waits);
  HurryCallbackWorker();
  Backlog& backlog = GetBacklog();
  std::unique_lock<std::mutex> lock(backlog.mu);
  backlog.waiters.fetch_add(1, std::memory_order_seq_cst);
  backlog.drained.wait(lock, BacklogDrained);
  backlog.waiters.fetch_sub(1, std::memory_order_relaxed);
}

void CheckMayWaitForCallbacks() {
  if (in_callback) {
    Report(Diagnostic::Kind::kBlockingInCallback, true,
           "rcu: rcu::Barrier() called from an RCU callback; it would wait for "
           "that callback forever");
  }
  if (InReadSection()) {
    Report(Diagnostic::Kind::kSynchronizeInReadSection, true,
           "rcu: rcu::Barrier() called inside a read-side critical section (a "
           "ReadGuard is alive on this thread); it would wait forever. End the "
           "ReadGuard first.");
  }
}

}  // namespace

void RunCallback(RcuHead* head) {
  const std::uint64_t items = ItemsIn(head);  // before the callback frees it
  RunCallbackUncounted(head);
  CountInvoked(items);
}

void RunCallbackUncounted(RcuHead* head) {
  in_callback = true;
  try {
    RcuHeadAccess::Invoke(head);
  } catch (...) {
    ReportThrownCallback();
  }
  in_callback = false;
}

void ReportThrownCallback() {
  Bump(GetCounters().callbacks_failed);
  try {
    throw;
  } catch (const std::exception& e) {
    Report(Diagnostic::Kind::kCallbackThrew, false,
           std::string("rcu: an RCU callback threw (") + e.what() +
               "); callbacks must not throw. It was dropped; later callbacks still run");
  } catch (...) {
    Report(Diagnostic::Kind::kCallbackThrew, false,
           "rcu: an RCU callback threw a non-std::exception; callbacks must not "
           "throw. It was dropped; later callbacks still run");
  }
}

void CountInvoked(std::uint64_t count) {
  // seq_cst pairs with the waiter's increment of `waiters` followed by its
  // read of the counters: either it sees these invocations, or we see it.
  GetCounters().callbacks_invoked.fetch_add(count, std::memory_order_seq_cst);
  Backlog& backlog = GetBacklog();
  if (backlog.waiters.load(std::memory_order_seq_cst) > 0 && BacklogDrained()) {
    std::lock_guard<std::mutex> lock(backlog.mu);
    backlog.drained.notify_all();
  }
}

void BacklogAfterForkChild() {
  the_backlog.store(new Backlog, std::memory_order_release);
}

std::uint64_t PendingCallbacks() {
  const Counters& c = GetCounters();
  // Read invoked first: both only grow, so the difference never underflows.
  const std::uint64_t invoked = c.callbacks_invoked.load(std::memory_order_seq_cst);
  const std::uint64_t queued = c.callbacks_queued.load(std::memory_order_seq_cst);
  return queued - invoked;
}

bool ReclaimInlineAfterGracePeriod() {
  if (InReadSection() || in_callback) return false;
  Synchronize();
  return true;
}

// Registered with atexit() on first use of the library (EnsureProcessHooks).
void DrainCallbacksAtExit() {
  if (!InReadSection() && !in_callback) {
    FlushAllRetireBlocks();
    if (PendingCallbacks() > 0) WaitForQueuedCallbacks();
  }
  exiting.store(true, std::memory_order_release);
}

bool CallbacksRunInline() { return exiting.load(std::memory_order_acquire); }

}  // namespace internal

namespace internal {

bool QueueCallback(RcuHead* head, void (*callback)(RcuHead*), std::uint64_t items) {
  EnsureProcessHooks();
  RcuHeadAccess::SetCallback(head, callback);
  GetCounters().callbacks_queued.fetch_add(items, std::memory_order_relaxed);
#ifdef RCU_INTERNAL_SKIP_GRACE_PERIODS_FOR_NEGATIVE_CONTROL
  TsanGracePeriodEnd();  // the annotation stays; the wait does not
  RunCallback(head);
  return false;
#endif
  if (exiting.load(std::memory_order_acquire) && !InReadSection() && !in_callback) {
    // The exit-time drain has run: nothing guarantees the worker runs again.
    Synchronize();
    RunCallback(head);
    return false;
  }
  EnqueueCallback(head);
  // A large backlog goes at once, so that backpressure rarely has to wait.
  if (PendingCallbacks() >= backlog_limit.load(std::memory_order_relaxed) / 4) {
    HurryCallbackWorker();
  }
  return true;
}

void ApplyBackpressure() {
  if (PendingCallbacks() > backlog_limit.load(std::memory_order_relaxed)) WaitForBacklog();
}

void CallRcuWithoutBackpressure(RcuHead* head, void (*callback)(RcuHead*)) {
  FlushOwnRetireBlock();  // keeps this thread's callbacks in order
  QueueCallback(head, callback, 1);
}

}  // namespace internal

void CallRcu(RcuHead* head, void (*callback)(RcuHead*)) {
  internal::FlushOwnRetireBlock();  // keeps this thread's callbacks in order
  if (internal::QueueCallback(head, callback, 1)) internal::ApplyBackpressure();
}

void Barrier() {
  internal::CheckMayWaitForCallbacks();
  internal::FlushAllRetireBlocks();
  internal::WaitForQueuedCallbacks();
}

void SetCallbackBacklogLimit(std::size_t limit) {
  internal::backlog_limit.store(limit < 2 ? 2 : limit, std::memory_order_relaxed);
}

std::size_t CallbackBacklogLimit() {
  return internal::backlog_limit.load(std::memory_order_relaxed);
}

}  // namespace rcu
