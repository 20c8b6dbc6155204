// Internal: counting, running and throttling callbacks (rcu/call_rcu.cc),
// shared by the callback worker, the retire buffers and the exit drain.
//
// Every callback is counted in rcu::Stats::callbacks_queued when it is
// queued (a retire block when it leaves its thread's buffer, counting its
// objects) and in callbacks_invoked once it has run; PendingCallbacks() is the
// difference, which backpressure keeps under CallbackBacklogLimit().
#ifndef RCU_INTERNAL_CALLBACKS_H_
#define RCU_INTERNAL_CALLBACKS_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <cstdint>

namespace rcu {

class RcuHead;

namespace internal {

// Counts `items` callbacks as queued.
void CountQueued(std::uint64_t items);

// Callbacks queued but not yet invoked.
std::uint64_t PendingCallbacks();

// Runs one callback with the library's bookkeeping: exceptions contained
// and reported, the callback counted as invoked.
void RunCallback(RcuHead* head);

// The same in two halves, for the worker: runs a callback, containing what
// it throws; then counts a whole batch as invoked at once.
void RunCallbackUncounted(RcuHead* head);
void CountInvoked(std::uint64_t items);

// Reports the exception being handled as a throwing callback and counts it.
// Call only from a catch block.
void ReportThrownCallback();

// Backpressure: if more than CallbackBacklogLimit() callbacks are pending,
// waits for the worker to run those queued before the call, down to half
// the limit. Inside a read-side section it records a debt instead
// (rcu::internal::backlog_debt, paid when the thread leaves its outermost
// section); in a callback, or while the stall watchdog sees the worker held
// up (rcu/stall.h), it does not wait at all.
void ApplyBackpressure();

// Wakes threads held by backpressure so that they look again (the stall
// watchdog calls it when it starts or stops seeing a stall).
void WakeBacklogWaiters();

// CallRcu() without the backlog wait, for the library's own callbacks that
// must never block (StartPoll()). Returns true if the callback went to the
// worker; false after the exit-time drain, when it stays with the calling
// thread (rcu/internal/exit_drain.h) and a backlog wait would wait for a
// worker that will never run it.
bool CallRcuWithoutBackpressure(RcuHead* head, void (*callback)(RcuHead*));

// True while the calling thread runs an RCU callback (on the worker, or
// after the exit-time drain in the thread that queued it).
inline thread_local bool in_callback = false;

// Set when the thread queued a callback inside a read-side section while
// the callback backlog was over its limit, where it could not wait
// (rcu/call_rcu.h, "Backpressure"); paid, by waiting as backpressure would
// have, when the thread leaves its outermost section
// (rcu/internal/read_side.h).
inline thread_local bool backlog_debt = false;
void PayBacklogDebt();

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_CALLBACKS_H_
