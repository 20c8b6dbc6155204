// Internal: the one thread that runs RCU callbacks.
//
// Callbacks are pushed onto a lock-free stack. The worker takes the whole
// stack at once, waits for one grace period (rcu::Synchronize(), so it is
// counted, feeds the polling cookies and is seen by the stall watchdog), and
// runs the batch in the order it was queued, at the pace of the batching
// policy (rcu/internal/batching.h). It also collects the threads' partial
// retire blocks (rcu/internal/retire_buffer.h).
//
// This file only moves callbacks; counting them (rcu::Stats) and
// backpressure belong to the callers (rcu/call_rcu.cc).
#ifndef RCU_INTERNAL_CALLBACK_WORKER_H_
#define RCU_INTERNAL_CALLBACK_WORKER_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <sys/types.h>

#include <cstdint>

#include "rcu/internal/callback_list.h"

namespace rcu {

class RcuHead;

namespace internal {

// Queues `head`, whose callback is already set, for the worker (starting its
// thread if need be). Never blocks, never allocates, never throws. If no
// thread can be started, the callbacks wait, and WaitForQueuedCallbacks()
// runs them in its caller.
void EnqueueCallback(RcuHead* head);

// Queues every entry of `list`, in order.
void EnqueueCallbacks(CallbackList&& list);

// Makes the worker start its next batch now rather than at its usual pace
// (kBatchInterval); for threads that wait for it.
void HurryCallbackWorker();

// Wakes the worker if it sleeps with nothing to do, so that it notices a
// started retire block (rcu/internal/retire_buffer.h) and flushes it in time.
void WakeIdleCallbackWorker();

// Waits until every callback queued for the worker before the call has run
// (running them in the caller if the worker thread cannot be started).
void WaitForQueuedCallbacks();

// True once the worker thread runs.
bool CallbackWorkerRunning();

// True if callbacks are queued for the worker and not yet taken by it.
bool CallbacksQueuedForWorker();

// Progress of the callback now running on the worker, for the stall
// watchdog: BeginCallback()/EndCallback() bracket each callback the worker
// runs (and each object of a retire block), and are no-ops on other threads.
void BeginCallback(const void* fn);
void EndCallback();

struct WorkerProgress {
  pid_t tid = 0;                   // the worker's thread id; 0 if not started
  bool in_callback = false;        // inside a callback now
  std::uint64_t begun = 0;         // callbacks begun so far (changes when it moves on)
  const void* callback = nullptr;  // the one begun last
  // What it said it is (rcu::internal::NoteCallbackType()), if it did:
  // `what` and a string holding its type's name. Both static strings.
  const char* what = nullptr;
  const char* type = nullptr;
  int waiters = 0;  // threads waiting for the worker right now
};
WorkerProgress GetWorkerProgress();

// Marks the calling thread as waiting for the worker (Barrier(), the
// backlog, fork()) while it lives, for stall reports.
class WorkerWaitScope {
 public:
  WorkerWaitScope();
  ~WorkerWaitScope();
  WorkerWaitScope(const WorkerWaitScope&) = delete;
  WorkerWaitScope& operator=(const WorkerWaitScope&) = delete;
};

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_CALLBACK_WORKER_H_
