// Internal: the batching policy of deferred reclamation, in one place.
//
// A grace period is expensive for everyone, not for the thread that waits:
// each costs at least two membarrier() calls, which interrupt every CPU
// running one of this process's threads, and liburcu's wait loop repeats
// them while a reader it waits for is off its CPU. Measured on 2 cores with a
// read-mostly map taking 1% erases, one grace period per small batch kept
// the callback worker half busy (37,000 membarrier() calls a second) and
// cost the readers a quarter of their wall-clock rate. So reclamation is
// batched at two levels, each bounded in time:
//
//  1. Retired pointers. Retire(p) with a stateless deleter takes a slot in
//     its thread's block of kRetireBatchSize (rcu/internal/retire_buffer.h);
//     a full block goes to the worker as one callback. A partial block goes
//     before its thread queues any other callback (one thread's callbacks
//     run in order), on Barrier(), at exit, when its thread exits, and
//     otherwise when the worker collects partial blocks, at most once per
//     kRetireFlushDelay (at once after a quiet spell).
//  2. Callbacks. The worker (rcu/internal/callback_worker.h) takes
//     everything queued, waits for one grace period and runs the batch; it
//     starts at most one batch per kBatchInterval, but at once when a thread
//     waits for it (Barrier(), backpressure, exit) or a quarter of the
//     backlog limit is pending. liburcu's own call_rcu thread instead
//     sleeps kBatchInterval after every batch however much is pending, which
//     capped Retire() at a few million objects per second.
//
// So an object retired on a quiet system is reclaimed within about
// kRetireFlushDelay + kBatchInterval + one grace period, a storm is bounded
// by the callbacks themselves, and the backlog never exceeds its limit by
// more than one block per thread (blocks are counted when handed over).
#ifndef RCU_INTERNAL_BATCHING_H_
#define RCU_INTERNAL_BATCHING_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <chrono>

namespace rcu {
namespace internal {

// Retired pointers per block: 62 slots of pointer and reclaimer, a count and
// a queue link make a block just under 1 KiB.
inline constexpr int kRetireBatchSize = 62;

// The least time between two batches of the callback worker, unless a
// thread waits for it.
inline constexpr std::chrono::milliseconds kBatchInterval{10};

// How often the worker collects partial retire blocks (tests may change it:
// SetRetireFlushDelayForTesting() in rcu/internal/retire_buffer.h).
inline constexpr std::chrono::milliseconds kRetireFlushDelay{10};

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_BATCHING_H_
