#include "rcu/internal/callback_worker.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "rcu/call_rcu.h"
#include "rcu/grace_period.h"
#include "rcu/internal/batching.h"
#include "rcu/internal/callbacks.h"
#include "rcu/internal/cond_var.h"
#include "rcu/internal/exit_drain.h"
#include "rcu/internal/fork_hooks.h"
#include "rcu/internal/fork_replaced.h"
#include "rcu/internal/rcu_head_access.h"
#include "rcu/internal/retire_buffer.h"
#include "rcu/internal/thread_registry.h"
#include "rcu/internal/counters.h"
#include "rcu/mutex.h"
#include "rcu/read_guard.h"

namespace rcu {
namespace internal {
namespace {

// What ends the worker's current sleep (besides its deadline, if any).
enum SleepKind : int {
  kAwake = 0,
  kUntilUrgent,        // work is queued but not yet due: only urgency
  kUntilWork,          // idle, with a flush deadline: also queued work
  kUntilWorkOrBlocks,  // idle, no deadline: also a retire block starting
};

struct Worker {
  // Queued callbacks, newest first, linked through RcuHead::next_.
  std::atomic<RcuHead*> pending{nullptr};
  // Held by the worker while it takes and runs a batch, and across fork().
  Mutex batch_mu;
  // For sleeping and waking. `sleeping` (a SleepKind) is set under
  // `sleep_mu` just before the worker waits; a producer whose event ends
  // that kind of sleep takes the lock and notifies (both sides use seq_cst,
  // so one of them sees the other's write). Events that would not end the
  // sleep wake nobody: a wake-up that only finds the worker must sleep on
  // costs two context switches, and on a 2-core machine it preempts a
  // reader (a writer starting 18,000 retire blocks a second once caused
  // 38,000 context switches a second that way).
  Mutex sleep_mu;
  CondVar wake;
  std::atomic<int> sleeping{kAwake};
  // Set by a thread that waits for the worker (Barrier(), backpressure, the
  // exit drain) or finds the backlog large: run the next batch without
  // waiting out kBatchInterval. Cleared when a batch starts.
  std::atomic<bool> urgent{false};
  std::atomic<bool> started{false};
  std::atomic<pid_t> tid{0};  // the worker thread's, once it runs

  // Progress, for the stall watchdog (GetWorkerProgress). Written only by
  // the worker thread; `ended` trails `begun` while a callback runs.
  std::atomic<std::uint64_t> begun{0};
  std::atomic<std::uint64_t> ended{0};
  std::atomic<const void*> callback{nullptr};
  // What the callback said it is (NoteCallbackType), or null.
  std::atomic<const char*> what{nullptr};
  std::atomic<const char*> type{nullptr};
  // Threads inside a WorkerWaitScope.
  std::atomic<int> waiters{0};
};

using Clock = std::chrono::steady_clock;

// True on the worker thread: BeginCallback() and EndCallback() track it only.
thread_local bool on_worker = false;

// Replaced in a forked child (see CallbackWorkerAfterForkChild).
ForkReplaced<Worker> the_worker;

Worker& GetWorker() { return the_worker.Get(); }

// Barrier() queues one of these and waits for it to run.
struct BarrierNode : RcuHead {
  Mutex mu;
  CondVar cv;
  bool done ABSL_GUARDED_BY(mu) = false;
};

void ReleaseBarrier(RcuHead* head) {
  auto* node = static_cast<BarrierNode*>(head);
  MutexLock lock(node->mu);
  node->done = true;
  node->cv.SignalAll();
}

// Takes the queued callbacks, if any, waits for a grace period and runs
// them.
void RunOneBatch(Worker* w) {
  MutexLock batch_lock(w->batch_mu);
  RcuHead* batch = w->pending.exchange(nullptr, std::memory_order_acq_rel);
  if (batch == nullptr) return;
  RcuHead* fifo = nullptr;  // reverse into queueing order
  bool only_barriers = true;
  while (batch != nullptr) {
    RcuHead* next = RcuHeadAccess::Next(batch);
    RcuHeadAccess::Next(batch) = fifo;
    if (RcuHeadAccess::Callback(batch) != &ReleaseBarrier) only_barriers = false;
    fifo = batch;
    batch = next;
  }
  // Barrier() waits need no grace period: what was queued before them ran
  // in earlier batches.
  if (!only_barriers) {
    // Readers this thread preempted may be inside read-side sections that
    // the grace period must wait for: let them run first rather than spin
    // on them.
    std::this_thread::yield();
    Synchronize();
  }
  std::uint64_t invoked = 0;
  while (fifo != nullptr) {
    RcuHead* next = RcuHeadAccess::Next(fifo);
    if (RcuHeadAccess::Callback(fifo) == &ReleaseBarrier) {
      CountInvoked(invoked);  // everything before the barrier has run
      invoked = 0;
      ReleaseBarrier(fifo);  // not a user callback: not counted
    } else {
      invoked += ItemsIn(fifo);  // read before the callback frees it
      BeginCallback(reinterpret_cast<const void*>(RcuHeadAccess::Callback(fifo)));
      RunCallbackUncounted(fifo);
      EndCallback();
    }
    fifo = next;
  }
  CountInvoked(invoked);
}

// Sleeps until `deadline` (none: indefinitely), or until woken: by
// HurryCallbackWorker(), or, if the queue was empty (`idle`), by the first
// callback queued or (with no deadline) the first retire block started.
// While it sleeps, `sleeping` tells producers to wake it.
void Sleep(Worker* w, bool idle, const Clock::time_point* deadline) {
  const int kind = !idle ? kUntilUrgent : deadline != nullptr ? kUntilWork : kUntilWorkOrBlocks;
  MutexLock lock(w->sleep_mu);
  // Evaluated under the lock before each wait: (re)announces the sleep,
  // which a waker may have cleared, then looks for the events that end it.
  auto woken = [w, kind] {
    w->sleeping.store(kind, std::memory_order_seq_cst);
    // Urgency ends only a sleep with work queued: it stays set until a
    // batch starts, so an idle sleep that ended on it would spin.
    if (kind == kUntilUrgent) return w->urgent.load(std::memory_order_seq_cst);
    return w->pending.load(std::memory_order_seq_cst) != nullptr ||
           (kind == kUntilWorkOrBlocks && RetireBlocksPending());
  };
  while (!woken()) {
    if (deadline == nullptr) {
      w->wake.Wait(w->sleep_mu);
    } else if (!w->wake.WaitUntil(w->sleep_mu, *deadline)) {
      break;  // the deadline passed
    }
  }
  w->sleeping.store(kAwake, std::memory_order_relaxed);
}

// Wakes the worker if it sleeps a kind of sleep in [least, most] (the kinds
// that the caller's event ends). The caller has already published the
// event with a seq_cst store.
//
// Only the first waker of a sleep notifies: it swaps `sleeping` to kAwake,
// and later ones find nothing to do. Until the woken worker gets a CPU,
// which on a loaded machine can take milliseconds, every producer would
// otherwise see it still asleep and notify again (200 notifications for
// 200 retire blocks were measured). If the worker misses a later event, it
// sees it when it next announces a sleep (`woken` above).
void WakeFor(Worker& w, SleepKind least, SleepKind most = kUntilWorkOrBlocks) {
  int kind = w.sleeping.load(std::memory_order_seq_cst);
  do {
    if (kind < least || kind > most) return;
  } while (!w.sleeping.compare_exchange_weak(kind, kAwake, std::memory_order_seq_cst));
  // Taking the lock orders this after the worker's check of `woken` or
  // before it; notifying after unlocking lets the worker run at once
  // instead of blocking on the lock still held here.
  { MutexLock lock(w.sleep_mu); }
  w.wake.Signal();
  Bump(GetCounters().worker_wakeups);
}

// The pace of batches and of collecting partial retire blocks is the
// batching policy (rcu/internal/batching.h).
void WorkerLoop(Worker* w) {
  pthread_setname_np(pthread_self(), "rcu-callbacks");
  on_worker = true;
  w->tid.store(CurrentThreadId(), std::memory_order_relaxed);
  RegisterCurrentThread();  // visible to the stall watchdog
  Clock::time_point last_flush = Clock::now();
  Clock::time_point last_batch = last_flush - kBatchInterval;
  while (true) {
    const Clock::time_point now = Clock::now();
    // After the exit-time drain, partial blocks stay with their threads
    // (rcu/internal/exit_drain.h).
    const bool blocks = RetireBlocksPending() && !DrainedAtExit();
    const Clock::time_point flush_due = last_flush + RetireFlushDelay();
    if (blocks && now >= flush_due) {
      FlushAllRetireBlocks();
      last_flush = now;
      continue;
    }
    const bool work = w->pending.load(std::memory_order_acquire) != nullptr;
    const Clock::time_point batch_due = last_batch + kBatchInterval;
    if (work && (now >= batch_due || w->urgent.load(std::memory_order_seq_cst))) {
      w->urgent.store(false, std::memory_order_seq_cst);
      last_batch = now;
      RunOneBatch(w);
      continue;
    }
    if (work) {
      const Clock::time_point due = blocks ? std::min(batch_due, flush_due) : batch_due;
      Sleep(w, /*idle=*/false, &due);
    } else if (blocks) {
      Sleep(w, /*idle=*/true, &flush_due);
    } else {
      Sleep(w, /*idle=*/true, nullptr);
    }
  }
}

// Starts the worker thread if it is not running, and says whether it runs.
// Never throws: if no thread can be created (no memory, no threads left),
// the next call tries again, and meanwhile whoever waits for callbacks runs
// them itself (see WaitForQueuedCallbacks()).
bool StartWorkerThread(Worker& w) noexcept {
  if (w.started.load(std::memory_order_acquire)) return true;
  MutexLock lock(w.sleep_mu);
  if (w.started.load(std::memory_order_relaxed)) return true;
  try {
    std::thread(&WorkerLoop, &w).detach();
  } catch (...) {
    return false;
  }
  w.started.store(true, std::memory_order_release);
  return true;
}

}  // namespace

void EnqueueCallbacks(CallbackList&& list) {
  RcuHead* head = list.TakeAll();
  while (head != nullptr) {
    RcuHead* next = RcuHeadAccess::Next(head);
    EnqueueCallback(head);
    head = next;
  }
}

bool CallbacksQueuedForWorker() {
  return GetWorker().pending.load(std::memory_order_acquire) != nullptr;
}

void BeginCallback(const void* fn) {
  if (!on_worker) return;
  Worker& w = GetWorker();
  w.callback.store(fn, std::memory_order_relaxed);
  w.what.store(nullptr, std::memory_order_relaxed);
  w.begun.store(w.begun.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void EndCallback() {
  if (!on_worker) return;
  Worker& w = GetWorker();
  w.ended.store(w.ended.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void NoteCallbackType(const char* what, const char* pretty) {
  if (!on_worker) return;
  Worker& w = GetWorker();
  w.type.store(pretty, std::memory_order_relaxed);
  w.what.store(what, std::memory_order_release);  // after `type`: read first
}

WorkerProgress GetWorkerProgress() {
  Worker& w = GetWorker();
  WorkerProgress progress;
  progress.tid = w.tid.load(std::memory_order_relaxed);
  progress.begun = w.begun.load(std::memory_order_relaxed);
  progress.in_callback = w.ended.load(std::memory_order_relaxed) != progress.begun;
  progress.callback = w.callback.load(std::memory_order_relaxed);
  progress.what = w.what.load(std::memory_order_acquire);
  progress.type = w.type.load(std::memory_order_relaxed);
  progress.waiters = w.waiters.load(std::memory_order_relaxed);
  return progress;
}

WorkerWaitScope::WorkerWaitScope() { GetWorker().waiters.fetch_add(1, std::memory_order_relaxed); }

WorkerWaitScope::~WorkerWaitScope() { GetWorker().waiters.fetch_sub(1, std::memory_order_relaxed); }

void EnqueueCallback(RcuHead* head) {
  NoteQueuedForWorker();  // for the exit-time drain's ordering
  Worker& w = GetWorker();
  StartWorkerThread(w);
  RcuHead* top = w.pending.load(std::memory_order_relaxed);
  do {
    RcuHeadAccess::Next(head) = top;
  } while (!w.pending.compare_exchange_weak(top, head, std::memory_order_seq_cst,
                                            std::memory_order_relaxed));
  if (top == nullptr) WakeFor(w, kUntilWork);
}

void HurryCallbackWorker() {
  Worker& w = GetWorker();
  StartWorkerThread(w);
  if (w.urgent.load(std::memory_order_relaxed)) return;  // already hurried
  // seq_cst: pairs with the worker's store to `sleeping` and its check of
  // `urgent` (see Worker::sleeping).
  w.urgent.store(true, std::memory_order_seq_cst);
  // Urgency ends only the sleep with work queued; an idle worker has
  // nothing to hurry (whoever queued the work woke it).
  WakeFor(w, kUntilUrgent, kUntilUrgent);
}

void WakeIdleCallbackWorker() {
  Worker& w = GetWorker();
  StartWorkerThread(w);
  // Pairs with the worker's store to `sleeping` and its check of
  // RetireBlocksPending() (see Worker::sleeping). A worker that sleeps
  // with a deadline flushes the block by then anyway.
  WakeFor(w, kUntilWorkOrBlocks);
}

namespace {

// Queues `list` for the child's worker without starting or waking it (it
// starts on demand).
void AdoptInForkChild(CallbackList&& list) {
  Worker& w = GetWorker();  // the child has one thread: plain stores suffice
  RcuHead* head = list.TakeAll();
  while (head != nullptr) {
    RcuHead* next = RcuHeadAccess::Next(head);
    RcuHeadAccess::Next(head) = w.pending.load(std::memory_order_relaxed);
    w.pending.store(head, std::memory_order_relaxed);
    head = next;
  }
}

}  // namespace

void WaitForQueuedCallbacks() {
  BarrierNode node;
  RcuHeadAccess::Next(&node) = nullptr;
  RcuHeadAccess::SetCallback(&node, &ReleaseBarrier);
  EnqueueCallback(&node);
  HurryCallbackWorker();
  Worker& w = GetWorker();
  auto done = [&node] {
    MutexLock lock(node.mu);
    return node.done;
  };
  // No worker thread could be started: run the batches here.
  while (!w.started.load(std::memory_order_acquire) && !done()) RunOneBatch(&w);
  WorkerWaitScope waiting;
  MutexLock lock(node.mu);
  while (!node.done) node.cv.Wait(node.mu);
}

bool CallbackWorkerRunning() { return GetWorker().started.load(std::memory_order_acquire); }

namespace {

// fork(). Before: waits for the batch in progress, which waits for a grace period: the
// caller must hold nothing that a reader or a callback may wait for.
void CallbackWorkerBeforeFork() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Worker& w = GetWorker();
  WorkerWaitScope waiting;  // a callback that never returns is reported
  w.batch_mu.Lock();
}

void CallbackWorkerAfterForkParent() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  GetWorker().batch_mu.Unlock();
}

// The worker thread does not exist in the child. The child gets a fresh
// worker state (the parent's, whose mutexes and condition variable may be
// mid-use, is leaked once per fork) holding the same queued callbacks; the
// thread starts on the next CallRcu(), Barrier() or exit.
//
// Queued Barrier() waits are dropped: each lives on the stack of a thread
// that does not exist in the child (the forking thread is in fork(), not in
// Barrier()), and that stack's memory may be reused there.
//
// Runs after the other stages' child handlers: what they found orphaned
// joins the queue behind what the worker had.
void CallbackWorkerAfterForkChild(ForkChildCallbacks& inherited) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Worker& old = the_worker.ReplaceInForkChild();
  old.batch_mu.Unlock();  // the forking thread holds it (CallbackWorkerBeforeFork)
  Worker* fresh = &GetWorker();
  RcuHead* kept = nullptr;  // newest first, like the stack
  RcuHead** tail = &kept;
  std::uint64_t items = 0;
  for (RcuHead* h = old.pending.load(std::memory_order_relaxed); h != nullptr;) {
    RcuHead* next = RcuHeadAccess::Next(h);
    if (RcuHeadAccess::Callback(h) != &ReleaseBarrier) {
      items += ItemsIn(h);
      *tail = h;
      tail = &RcuHeadAccess::Next(h);
    }
    h = next;
  }
  *tail = nullptr;
  fresh->pending.store(kept, std::memory_order_relaxed);
  inherited.pending += items + inherited.orphaned.items();
  AdoptInForkChild(std::move(inherited.orphaned));
}

[[maybe_unused]] const bool fork_hooks_registered = RegisterForkHandlers(
    ForkStage::kCallbackWorker,
    {&CallbackWorkerBeforeFork, &CallbackWorkerAfterForkParent, &CallbackWorkerAfterForkChild});

}  // namespace

}  // namespace internal
}  // namespace rcu
