// Internal: per-thread batching of retired pointers, the counterpart of the
// kernel's kfree_rcu() batching.
//
// Retire(p) with a stateless deleter does not allocate a callback node per
// object. It appends (p, reclaimer) to the calling thread's block of
// kRetireBatchSize slots; a full block goes to the callback worker as one
// callback. That takes the producer's per-object malloc/free of a node and
// the per-object push onto the worker's queue off the retire path, and it
// keeps cross-thread frees (the worker freeing what the producer allocated) to
// the retired objects themselves.
//
// When a partial block is handed over is the batching policy
// (rcu/internal/batching.h). Backpressure (rcu/internal/callbacks.h) counts only handed-over blocks
// and flushes none: a thread's partial block is at most kRetireBatchSize - 1 objects.
//
// Whoever hands a block over queues it while holding its buffer's lock, and
// a thread exiting hands its block over before its buffer leaves the list
// that Barrier() walks. So whoever finds a buffer empty afterwards (the
// owner's next CallRcu(), a Barrier()) queues behind the block, never ahead
// of it.
//
// After the exit-time drain (rcu/internal/exit_drain.h) the worker no longer
// collects blocks: each thread keeps its full blocks and other callbacks, in
// order, in an after-drain queue that it runs itself, one grace period per
// kRetireBatchSize callbacks (QueueAfterDrain).
#ifndef RCU_INTERNAL_RETIRE_BUFFER_H_
#define RCU_INTERNAL_RETIRE_BUFFER_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <chrono>
#include <cstdint>

#include "rcu/call_rcu.h"
#include "rcu/internal/batching.h"
#include "rcu/internal/callback_list.h"
#include "rcu/internal/exit_drain.h"

namespace rcu {
namespace internal {

// How often the worker hands over partial blocks: kRetireFlushDelay unless a
// test changes it (a test that checks the other hand-over points sets it to
// hours).
std::chrono::nanoseconds RetireFlushDelay();
void SetRetireFlushDelayForTesting(std::chrono::nanoseconds delay);

// Hands the calling thread's pending work (its after-drain queue, then its
// partial block) to the worker, in order. Call it before queueing any other
// callback for the worker from this thread.
void FlushOwnRetireBlock();

// Hands every thread's partial block to the worker (before the exit-time
// drain; afterwards, see TakeAllQueuedAfterDrain()).
void FlushAllRetireBlocks();

// True if a block may have been started since the last FlushAllRetireBlocks()
// (the worker's cue to flush after RetireFlushDelay()).
bool RetireBlocksPending();

// After the exit-time drain, outside read-side sections and callbacks:
// queues `head` (standing for `items`) in the calling thread's after-drain
// queue, behind its partial block, and, if `may_run_here`, runs the queue
// after one grace period once it holds kRetireBatchSize callbacks (callers
// that may hold locks a callback takes pass false; their queue runs at the
// thread's next such call, at Barrier() or at the end of exit). Returns
// false, doing nothing, if the thread has no buffer (it is exiting, or one
// cannot be allocated).
bool QueueAfterDrain(RcuHead* head, std::uint64_t items, bool may_run_here);

// After the exit-time drain: takes every thread's after-drain queue and
// partial block, each thread's in its order, for `run` (begun here, while
// they are locked).
CallbackList TakeAllQueuedAfterDrain(AfterDrainRun& run);

// The number of retired objects a queued callback stands for: a block's
// count, otherwise 1.
std::uint64_t ItemsIn(RcuHead* head);

// Objects waiting in partial blocks, for rcu::GetStats().
std::uint64_t BufferedRetirements();

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_RETIRE_BUFFER_H_
