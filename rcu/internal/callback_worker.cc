#include "rcu/internal/callback_worker.h"

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "rcu/call_rcu.h"
#include "rcu/grace_period.h"
#include "rcu/internal/rcu_head_access.h"
#include "rcu/internal/retire_buffer.h"
#include "rcu/internal/runtime.h"
#include "rcu/read_guard.h"

namespace rcu {
namespace internal {
namespace {

struct Worker {
  // Queued callbacks, newest first, linked through RcuHead::next_.
  std::atomic<RcuHead*> pending{nullptr};
  // Held by the worker while it takes and runs a batch, and across fork().
  std::mutex batch_mu;
  // For sleeping and waking. `sleeping` is set under `sleep_mu` just before
  // the worker waits; a producer that pushes onto an empty stack and sees it
  // set takes the lock and notifies (both sides use seq_cst, so one of them
  // sees the other's write).
  std::mutex sleep_mu;
  std::condition_variable wake;
  std::atomic<bool> sleeping{false};
  std::atomic<bool> started{false};
};

// Replaced in a forked child (see CallbackWorkerAfterForkChild).
std::atomic<Worker*> the_worker{nullptr};

Worker& GetWorker() {
  Worker* w = the_worker.load(std::memory_order_acquire);
  if (w != nullptr) return *w;
  auto* fresh = new Worker;
  if (the_worker.compare_exchange_strong(w, fresh, std::memory_order_acq_rel)) return *fresh;
  delete fresh;
  return *w;
}

// Barrier() queues one of these and waits for it to run.
struct BarrierNode : RcuHead {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;  // guarded by mu
};

void ReleaseBarrier(RcuHead* head) {
  auto* node = static_cast<BarrierNode*>(head);
  std::lock_guard<std::mutex> lock(node->mu);
  node->done = true;
  node->cv.notify_all();
}

// Takes the queued callbacks, waits for a grace period and runs them.
// Returns false if nothing was queued.
bool RunOneBatch(Worker* w) {
  std::lock_guard<std::mutex> batch_lock(w->batch_mu);
  RcuHead* batch = w->pending.exchange(nullptr, std::memory_order_acq_rel);
  if (batch == nullptr) return false;
  RcuHead* fifo = nullptr;  // reverse into queueing order
  while (batch != nullptr) {
    RcuHead* next = RcuHeadAccess::Next(batch);
    RcuHeadAccess::Next(batch) = fifo;
    fifo = batch;
    batch = next;
  }
  Synchronize();
  std::uint64_t invoked = 0;
  while (fifo != nullptr) {
    RcuHead* next = RcuHeadAccess::Next(fifo);
    if (RcuHeadAccess::Callback(fifo) == &ReleaseBarrier) {
      CountInvoked(invoked);  // everything before the barrier has run
      invoked = 0;
      ReleaseBarrier(fifo);  // not a user callback: not counted
    } else {
      invoked += ItemsIn(fifo);  // read before the callback frees it
      RunCallbackUncounted(fifo);
    }
    fifo = next;
  }
  CountInvoked(invoked);
  return true;
}

// Sleeps until a callback is queued, or until `deadline` if given. While it
// sleeps, `sleeping` tells producers to wake it.
void Sleep(Worker* w, const std::chrono::steady_clock::time_point* deadline) {
  std::unique_lock<std::mutex> lock(w->sleep_mu);
  w->sleeping.store(true, std::memory_order_seq_cst);
  if (deadline != nullptr) {
    w->wake.wait_until(lock, *deadline, [w] {
      return w->pending.load(std::memory_order_seq_cst) != nullptr;
    });
  } else {
    // A started retire block also ends the sleep: it must be flushed in time.
    w->wake.wait(lock, [w] {
      return w->pending.load(std::memory_order_seq_cst) != nullptr || RetireBlocksPending();
    });
  }
  w->sleeping.store(false, std::memory_order_relaxed);
}

void WorkerLoop(Worker* w) {
  pthread_setname_np(pthread_self(), "rcu-callbacks");
  RegisterCurrentThread();  // visible to the stall watchdog
  auto last_flush = std::chrono::steady_clock::now();
  while (true) {
    const bool ran = RunOneBatch(w);
    if (RetireBlocksPending()) {
      // Some thread holds a partial retire block. Hand every such block over
      // at most once per RetireFlushDelay(): a lone Retire() after a quiet
      // spell goes at once, and a storm's blocks fill up in between.
      const auto due = last_flush + RetireFlushDelay();
      if (std::chrono::steady_clock::now() >= due) {
        FlushAllRetireBlocks();
        last_flush = std::chrono::steady_clock::now();
      } else if (!ran) {
        Sleep(w, &due);
      }
    } else if (!ran) {
      Sleep(w, nullptr);
    }
  }
}

Worker& StartedWorker() {
  Worker& w = GetWorker();
  if (!w.started.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(w.sleep_mu);
    if (!w.started.load(std::memory_order_relaxed)) {
      std::thread(&WorkerLoop, &w).detach();
      w.started.store(true, std::memory_order_release);
    }
  }
  return w;
}

}  // namespace

void EnqueueCallback(RcuHead* head) {
  Worker& w = StartedWorker();
  RcuHead* top = w.pending.load(std::memory_order_relaxed);
  do {
    RcuHeadAccess::Next(head) = top;
  } while (!w.pending.compare_exchange_weak(top, head, std::memory_order_seq_cst,
                                            std::memory_order_relaxed));
  if (top == nullptr && w.sleeping.load(std::memory_order_seq_cst)) {
    std::lock_guard<std::mutex> lock(w.sleep_mu);
    w.wake.notify_one();
  }
}

void WakeIdleCallbackWorker() {
  Worker& w = StartedWorker();
  // seq_cst: pairs with the worker's store to `sleeping` and its check of
  // RetireBlocksPending() (see Worker::sleeping).
  if (w.sleeping.load(std::memory_order_seq_cst)) {
    std::lock_guard<std::mutex> lock(w.sleep_mu);
    w.wake.notify_one();
  }
}

void AdoptCallbackInForkChild(RcuHead* head, void (*callback)(RcuHead*), std::uint64_t items) {
  RcuHeadAccess::SetCallback(head, callback);
  GetCounters().callbacks_queued.fetch_add(items, std::memory_order_relaxed);
  Worker& w = GetWorker();  // the child has one thread: plain stores suffice
  RcuHeadAccess::Next(head) = w.pending.load(std::memory_order_relaxed);
  w.pending.store(head, std::memory_order_relaxed);
}

void WaitForQueuedCallbacks() {
  BarrierNode node;
  RcuHeadAccess::Next(&node) = nullptr;
  RcuHeadAccess::SetCallback(&node, &ReleaseBarrier);
  EnqueueCallback(&node);
  std::unique_lock<std::mutex> lock(node.mu);
  node.cv.wait(lock, [&node] { return node.done; });
}

void CallbackWorkerBeforeFork() { GetWorker().batch_mu.lock(); }

void CallbackWorkerAfterForkParent() { GetWorker().batch_mu.unlock(); }

// The worker thread does not exist in the child. The child gets a fresh
// worker state (the parent's, whose mutexes and condition variable may be
// mid-use, is leaked once per fork) holding the same queued callbacks; the
// thread starts on the next CallRcu(), Barrier() or exit.
void CallbackWorkerAfterForkChild() {
  Worker& old = GetWorker();
  auto* fresh = new Worker;
  fresh->pending.store(old.pending.load(std::memory_order_relaxed), std::memory_order_relaxed);
  the_worker.store(fresh, std::memory_order_release);
}

}  // namespace internal
}  // namespace rcu
