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
// it creates a guard and unregistered when it exits.
//
// Rules:
//  - Do not block for long under a guard: every grace period, and with it all
//    memory reclamation, waits for the oldest reader. Readers held longer than
//    the stall timeout are reported (rcu/stall.h).
//  - Do not call Synchronize() or Barrier() under a guard (it would wait for
//    itself); that is diagnosed and aborts (rcu/diagnostics.h).
//  - A guard belongs to the thread that created it; it cannot be moved.
//  - A thread that exits while a guard is still open (leaked with `new`, say)
//    is diagnosed, and its read-side section is ended for it.
#ifndef RCU_READ_GUARD_H_
#define RCU_READ_GUARD_H_

#include "absl/base/optimization.h"
#include "rcu/internal/sanitizer.h"
#include "rcu/internal/urcu.h"

namespace rcu {
namespace internal {

// True once the calling thread is registered with liburcu. Constant-
// initialized, so the fast path reads it with one TLS load and no guard.
inline thread_local bool thread_registered = false;

// Registers the calling thread with liburcu and with the stall watchdog, and
// arranges for it to be unregistered when the thread exits.
void RegisterCurrentThread();

inline void ReadLock() {
  if (ABSL_PREDICT_FALSE(!thread_registered)) RegisterCurrentThread();
  urcu_memb_read_lock();
}

inline void ReadUnlock() {
  TsanReaderExit();
  urcu_memb_read_unlock();
}

}  // namespace internal

// RAII read-side critical section. See the file comment.
class ReadGuard {
 public:
  ReadGuard() { internal::ReadLock(); }
  ~ReadGuard() { internal::ReadUnlock(); }

  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;
};

// True if the calling thread is inside a read-side critical section.
inline bool InReadSection() {
  return internal::thread_registered && urcu_memb_read_ongoing() != 0;
}

}  // namespace rcu

#endif  // RCU_READ_GUARD_H_
