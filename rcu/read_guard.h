// rcu/read_guard.h: RCU read-side critical sections.
//
// A `ReadGuard` marks a read-side critical section: while it lives, nothing
// that a reader can reach through an RCU-protected pointer is freed. Entering
// and leaving cost about as much as two ordinary memory accesses; readers never
// block and never wait for writers.
//
//   rcu::RcuPtr<Config> config;  // published by a writer
//
//   int Port() {
//     rcu::ReadGuard guard;
//     const Config* c = config.Dereference(guard);  // valid until guard dies
//     return c->port;
//   }
//
// Guards nest: an inner guard in the same thread is cheap and harmless.
// Threads need no setup: a thread is registered with liburcu the first time
// it creates a guard and unregistered when it exits. Registering allocates
// nothing; the first guard throws std::bad_alloc only if the system cannot
// store the thread's exit hook (pthread_setspecific), and the next one
// tries again.
//
// Rules:
//  - Do not block for long under a guard: every grace period, and with it all
//    memory reclamation, waits for the oldest reader. Readers held longer than
//    the stall timeout are reported (rcu/stall.h).
//  - Do not call Synchronize(), Barrier() or fork() under a guard (it would
//    wait for itself); that is diagnosed and aborts (rcu/diagnostics.h).
//  - A guard belongs to the thread that created it; it cannot be moved.
//  - Leaving a thread's outermost section may wait for the callback backlog,
//    if the thread retired inside it while the backlog was over its limit
//    (rcu/call_rcu.h, "Backpressure"); entering never waits.
//  - A thread must not begin its first read-side section in a pthread key
//    destructor on glibc's last round of them (PTHREAD_DESTRUCTOR_ITERATIONS):
//    the hook that unregisters it would never run.
//  - A thread that exits while a guard is still open (leaked with `new`, say)
//    is diagnosed, and its read-side section is ended for it.
#ifndef RCU_READ_GUARD_H_
#define RCU_READ_GUARD_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include "absl/base/attributes.h"
#include "rcu/internal/read_side.h"

namespace rcu {

// RAII read-side critical section. See the file comment.
class ReadGuard {
 public:
  // Always inlined: a call costs a reader more than the section itself.
  ABSL_ATTRIBUTE_ALWAYS_INLINE ReadGuard() { internal::ReadLock(); }
  ABSL_ATTRIBUTE_ALWAYS_INLINE ~ReadGuard() { internal::ReadUnlock(); }

  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;
};

// True if the calling thread is inside a read-side critical section.
inline bool InReadSection() { return internal::ReadSectionOngoing(); }

}  // namespace rcu

#endif  // RCU_READ_GUARD_H_
