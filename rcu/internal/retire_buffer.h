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
// A partial block is handed over, at the latest:
//  - before the same thread queues any other callback (CallRcu, RcuObjBase),
//    so one thread's callbacks still run in the order it queued them;
//  - by Barrier(), the exit-time drain and the backlog wait, which flush
//    every thread's block;
//  - when its thread exits;
//  - by the callback worker, which hands over every partial block at most
//    once per RetireFlushDelay() (10 ms), and at once when it finds blocks
//    after a quiet spell; so a thread that retires a few objects and goes
//    idle does not hold them indefinitely.
#ifndef RCU_INTERNAL_RETIRE_BUFFER_H_
#define RCU_INTERNAL_RETIRE_BUFFER_H_

#include <chrono>
#include <cstdint>

#include "rcu/call_rcu.h"

namespace rcu {
namespace internal {

// How often the worker hands over partial blocks: 10 ms unless a test
// changes it (a test that checks the other hand-over points sets it to hours).
std::chrono::nanoseconds RetireFlushDelay();
void SetRetireFlushDelayForTesting(std::chrono::nanoseconds delay);

// Hands the calling thread's partial block, if any, to the worker.
void FlushOwnRetireBlock();

// Hands every thread's partial block to the worker.
void FlushAllRetireBlocks();

// True if a block may have been started since the last FlushAllRetireBlocks()
// (the worker's cue to flush after RetireFlushDelay()).
bool RetireBlocksPending();

// The number of retired objects a queued callback stands for: a block's
// count, otherwise 1.
std::uint64_t ItemsIn(RcuHead* head);

// Objects waiting in partial blocks, for rcu::GetStats().
std::uint64_t BufferedRetirements();

// fork(): every buffer is locked across fork(); in the child the blocks of
// threads that do not exist there are queued for the child's worker.
void RetireBuffersBeforeFork();
void RetireBuffersAfterForkParent();
void RetireBuffersAfterForkChild();

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_RETIRE_BUFFER_H_
