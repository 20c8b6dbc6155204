// Internal: the one thread that runs RCU callbacks.
//
// Callbacks are pushed onto a lock-free stack. The worker takes the whole
// stack at once, waits for one grace period (rcu::Synchronize(), so it is
// counted, feeds the polling cookies and is seen by the stall watchdog), and
// runs the batch in the order it was queued. It starts at most one batch
// every 10 ms, since a grace period interrupts every CPU running the process,
// but at once when a thread waits for it (Barrier(), backpressure, exit) or
// the backlog passes a quarter of its limit; so a storm is bounded by the
// callbacks themselves, not by the pace. (liburcu's own call_rcu worker
// sleeps 10 ms after every batch however much is pending, which capped
// Retire() at a few million per second.)
#ifndef RCU_INTERNAL_CALLBACK_WORKER_H_
#define RCU_INTERNAL_CALLBACK_WORKER_H_

#include <cstdint>

namespace rcu {

class RcuHead;

namespace internal {

// Queues `head`, whose callback is already set. Never blocks.
void EnqueueCallback(RcuHead* head);

// Queues a callback that stands for `items` callbacks (a retire block counts
// its objects), or, after the exit-time drain, runs it in the caller. Returns
// false if it ran at once. Applies no backpressure.
bool QueueCallback(RcuHead* head, void (*callback)(RcuHead*), std::uint64_t items);

// CallRcu()'s backpressure: waits while the backlog is over the limit.
void ApplyBackpressure();

// True once the exit-time drain has run: callbacks then run in the caller.
bool CallbacksRunInline();

// Reports the exception being handled as a throwing callback and counts it.
// Call only from a catch block.
void ReportThrownCallback();

// Makes the worker start its next batch now rather than at its usual pace
// (see kBatchInterval in callback_worker.cc); for threads that wait for it.
void HurryCallbackWorker();

// Wakes the worker if it sleeps with nothing to do, so that it notices a
// started retire block (rcu/internal/retire_buffer.h) and flushes it in time.
void WakeIdleCallbackWorker();

// For a fork() child handler: queues like QueueCallback() but neither starts
// nor wakes the worker (it starts on demand).
void AdoptCallbackInForkChild(RcuHead* head, void (*callback)(RcuHead*), std::uint64_t items);

// CallRcu() without the backlog wait, for the library's own callbacks that
// must never block (StartPoll()).
void CallRcuWithoutBackpressure(RcuHead* head, void (*callback)(RcuHead*));

// Waits until every callback queued before the call has run.
void WaitForQueuedCallbacks();

// Runs one callback with the library's bookkeeping (exceptions, counters,
// backlog wake-ups); used for inline reclamation.
void RunCallback(RcuHead* head);

// The same in two halves, for the worker: runs a callback, containing what it
// throws; then counts a whole batch as invoked at once.
void RunCallbackUncounted(RcuHead* head);
void CountInvoked(std::uint64_t count);

// fork() support: no batch is in progress across fork(); the child gets a new
// worker (started on demand) that inherits the queued callbacks.
void CallbackWorkerBeforeFork();
void CallbackWorkerAfterForkParent();
void CallbackWorkerAfterForkChild();

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_CALLBACK_WORKER_H_
