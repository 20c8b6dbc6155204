// CallRcu(), Retire(), Barrier(): deferred reclamation on the callback worker
// (rcu/internal/callback_worker.h), with counting, backpressure and exception
// containment (rcu/internal/callbacks.h).
#include "rcu/call_rcu.h"

#include <atomic>
#include <cstdint>
#include <exception>
#include <string>

#include "rcu/diagnostics.h"
#include "rcu/grace_period.h"
#include "rcu/internal/callback_worker.h"
#include "rcu/internal/callbacks.h"
#include "rcu/internal/cond_var.h"
#include "rcu/internal/exit_drain.h"
#include "rcu/internal/fork_hooks.h"
#include "rcu/internal/fork_replaced.h"
#include "rcu/internal/negative_control.h"
#include "rcu/internal/read_side.h"
#include "rcu/internal/rcu_head_access.h"
#include "rcu/internal/report.h"
#include "rcu/internal/retire_buffer.h"
#include "rcu/internal/counters.h"
#include "rcu/internal/sanitizer.h"
#include "rcu/internal/watchdog.h"
#include "rcu/mutex.h"
#include "rcu/read_guard.h"

namespace rcu {
namespace internal {
namespace {

constexpr std::size_t kDefaultBacklogLimit = 100000;

std::atomic<std::size_t> backlog_limit{kDefaultBacklogLimit};

// Threads waiting for the worker to catch up. `waiters` is changed under
// `mu`; the worker reads it without the lock to skip notifying when nobody
// waits (see CountInvoked()).
struct Backlog {
  Mutex mu;  // for `drained`; the state it waits on is atomic
  CondVar drained;
  std::atomic<int> waiters{0};
};

// Replaced in a forked child, whose copy of the condition variable may count
// waiters that do not exist there (see CallbacksAfterForkChild).
ForkReplaced<Backlog> the_backlog;

Backlog& GetBacklog() { return the_backlog.Get(); }

// Waits for the worker to bring the backlog down to half the limit, or
// until the stall watchdog sees the worker held up (a callback stuck, or a
// reader stalling its grace period) for longer than the stall timeout: then
// waiting could last forever (the callback may wait for a lock this thread
// holds), so it stops, and memory may grow until the stall ends.
//
// Fairness: the thread waits only for the callbacks queued before it, down
// to half the limit (the backlog may be pushed up meanwhile by threads that
// queue inside read-side sections, which never wait; they must not keep this
// one waiting forever).
void WaitForBacklog() {
  if (InReadSection() || in_callback) return;  // waiting could deadlock
  if (WorkerHeldUp()) return;
  if (!CallbackWorkerRunning()) {
    WaitForQueuedCallbacks();  // no worker thread: it runs them here
    return;
  }
  const std::uint64_t half = backlog_limit.load(std::memory_order_relaxed) / 2;
  const std::uint64_t queued = GetCounters().callbacks_queued.load(std::memory_order_seq_cst);
  const std::uint64_t target = queued > half ? queued - half : 0;  // invoked count to wait for
  Bump(GetCounters().backlog_waits);
  HurryCallbackWorker();
  Backlog& backlog = GetBacklog();
  WorkerWaitScope waiting;
  MutexLock lock(backlog.mu);
  backlog.waiters.fetch_add(1, std::memory_order_seq_cst);
  while (GetCounters().callbacks_invoked.load(std::memory_order_seq_cst) < target &&
         !WorkerHeldUp()) {
    backlog.drained.Wait(backlog.mu);
  }
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

// Queues `head` for the worker behind the caller's own pending work.
void QueueForWorker(RcuHead* head) {
  FlushOwnRetireBlock();  // keeps this thread's callbacks in order
  CountQueued(1);
  EnqueueCallback(head);
  // A large backlog goes at once, so that backpressure rarely has to wait.
  if (PendingCallbacks() >= backlog_limit.load(std::memory_order_relaxed) / 4) {
    HurryCallbackWorker();
  }
}

// Queues `head` with `callback`. Returns true if it went to the worker,
// false if it stays with this thread after the exit-time drain (where it may
// run at once, with the rest of the thread's queue, if `may_run_here`) or
// has already run.
bool Queue(RcuHead* head, void (*callback)(RcuHead*), bool may_run_here) {
  EnsureExitDrainInstalled();
  RcuHeadAccess::SetCallback(head, callback);
#if RCU_BUG_PUT_BACK(SKIP_GRACE_PERIODS)
  CountQueued(1);
  TsanGracePeriodEnd();  // the annotation stays; the wait does not
  RunCallback(head);
  return false;
#endif
  NoteQueuedByCallback();
  // After the exit-time drain every callback stays with its thread, in
  // order (rcu/internal/exit_drain.h); it runs here only where waiting is
  // allowed and wanted.
  if (DrainedAtExit() &&
      QueueAfterDrain(head, 1, may_run_here && !InReadSection() && !in_callback)) {
    return false;
  }
  QueueForWorker(head);
  return true;
}

}  // namespace

void CountQueued(std::uint64_t items) {
  GetCounters().callbacks_queued.fetch_add(items, std::memory_order_relaxed);
}

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

void CountInvoked(std::uint64_t items) {
  // seq_cst pairs with the waiter's increment of `waiters` followed by its
  // read of the counters: either it sees these invocations, or we see it.
  GetCounters().callbacks_invoked.fetch_add(items, std::memory_order_seq_cst);
  Backlog& backlog = GetBacklog();
  if (backlog.waiters.load(std::memory_order_seq_cst) > 0) {
    MutexLock lock(backlog.mu);
    backlog.drained.SignalAll();  // each checks its own target
  }
}

void WakeBacklogWaiters() {
  Backlog& backlog = GetBacklog();
  MutexLock lock(backlog.mu);
  backlog.drained.SignalAll();
}

std::uint64_t PendingCallbacks() {
  const Counters& c = GetCounters();
  // Read invoked first: both only grow, so the difference never underflows.
  const std::uint64_t invoked = c.callbacks_invoked.load(std::memory_order_seq_cst);
  const std::uint64_t queued = c.callbacks_queued.load(std::memory_order_seq_cst);
  return queued - invoked;
}

void ApplyBackpressure() {
  if (PendingCallbacks() <= backlog_limit.load(std::memory_order_relaxed)) return;
  if (InReadSection() && !in_callback) {
    SetBacklogDebt(true);  // waiting here could deadlock: wait on leaving
    return;
  }
  WaitForBacklog();
}

void PayBacklogDebt() {
  SetBacklogDebt(false);
  if (!InReadSection()) ApplyBackpressure();
}

bool CallRcuWithoutBackpressure(RcuHead* head, void (*callback)(RcuHead*)) {
  // Callers may hold locks that callbacks take: never run any here.
  return Queue(head, callback, /*may_run_here=*/false);
}

bool ReclaimInlineAfterGracePeriod() {
  if (InReadSection() || in_callback) return false;
  // This thread's earlier callbacks run first, as if this one had been
  // queued behind them (no allocation: Barrier() waits on a stack node).
  Barrier();
  Synchronize();
  return true;
}

namespace {

// fork() child, after every other stage: the counters are made to match
// what the child really has pending: callbacks that other threads were
// queuing at the fork never arrive there. The backlog's waiters are gone.
void CallbacksAfterForkChild(ForkChildCallbacks& inherited) {
  the_backlog.ReplaceInForkChild();
  Counters& c = GetCounters();
  c.callbacks_queued.store(c.callbacks_invoked.load(std::memory_order_relaxed) + inherited.pending,
                           std::memory_order_relaxed);
}

[[maybe_unused]] const bool fork_hooks_registered =
    RegisterForkHandlers(ForkStage::kCallbackCounts, {nullptr, nullptr, &CallbacksAfterForkChild});

}  // namespace

}  // namespace internal

void CallRcu(RcuHead* head, void (*callback)(RcuHead*)) {
  if (internal::Queue(head, callback, /*may_run_here=*/true)) internal::ApplyBackpressure();
}

void Barrier() {
  internal::CheckMayWaitForCallbacks();
  if (internal::DrainedAtExit()) {
    internal::BarrierAfterDrain();
    return;
  }
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
