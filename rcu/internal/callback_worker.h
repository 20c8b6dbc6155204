// Internal: the one thread that runs RCU callbacks.
//
// Callbacks are pushed onto a lock-free stack. The worker takes the whole
// stack at once, waits for one grace period (rcu::Synchronize(), so it is
// counted, feeds the polling cookies and is seen by the stall watchdog), and
// runs the batch in the order it was queued. It sleeps only while the stack
// is empty, so throughput is bounded by the callbacks themselves and one grace
// period per batch, not by a timer. (liburcu's own call_rcu worker sleeps 10
// ms after every batch, which capped Retire() at a few million per second.)
#ifndef RCU_INTERNAL_CALLBACK_WORKER_H_
#define RCU_INTERNAL_CALLBACK_WORKER_H_

#include <cstdint>

namespace rcu {

class RcuHead;

namespace internal {

// Queues `head`, whose callback is already set. Never blocks.
void EnqueueCallback(RcuHead* head);

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
