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

#include <atomic>
#include <cstdint>

#include "absl/base/attributes.h"
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

// Set when the thread queued a callback inside a read-side section while
// the callback backlog was over its limit, where it could not wait
// (rcu/call_rcu.h, "Backpressure"); paid, by waiting as backpressure would
// have, when the thread leaves its outermost section.
inline thread_local bool backlog_debt = false;
void PayBacklogDebt();

#if RCU_INTERNAL_INLINE_READ_SIDE
// The read side, inlined: liburcu's memb protocol on liburcu's own reader
// word, written for the fast path. liburcu's inline functions reach the word
// through a C++ thread_local that GCC checks for initialization on every
// access, test for membarrier support three times per section, and inline
// the futex wake-up; here the word's address is cached once per thread, the
// fence choice rides in its low bit, and the wake-up is out of line.
//
// This thread's reader word (nesting count and grace-period phase), or 0
// before registration; bit 0 set means membarrier is unavailable and the
// read side needs full fences (liburcu's smp_mb_slave()).
inline thread_local std::uintptr_t reader_word = 0;

// Called when a section ends while a grace period sleeps waiting for
// readers (liburcu's wake_up_gp). `section` is the reader word the section
// ran under; the waiter is woken only if it may be waiting for this section.
void WakeGracePeriodWaiter(unsigned long section);

// The reader word's bits above liburcu's phase bit, which liburcu never looks
// at (it masks the nesting count and tests the phase), count this thread's
// outermost sections: each takes the next value, so that the stall watchdog
// can tell one section from the next (rcu/stall.cc). It wraps after 2^31
// sections.
inline constexpr unsigned long kSectionUnit = URCU_GP_CTR_PHASE << 1;

ABSL_ATTRIBUTE_ALWAYS_INLINE inline unsigned long* ReaderWord(std::uintptr_t tagged) {
  return reinterpret_cast<unsigned long*>(tagged & ~std::uintptr_t{1});
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void ReaderFence(std::uintptr_t tagged) {
  if (ABSL_PREDICT_FALSE(tagged & 1)) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  } else {
    std::atomic_signal_fence(std::memory_order_seq_cst);  // membarrier does the rest
  }
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline std::uintptr_t ReadLock() {
  if (ABSL_PREDICT_FALSE(reader_word == 0)) RegisterCurrentThread();
  const std::uintptr_t tagged = reader_word;
  unsigned long* word = ReaderWord(tagged);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  const unsigned long current = __atomic_load_n(word, __ATOMIC_RELAXED);
  if (ABSL_PREDICT_TRUE((current & URCU_GP_CTR_NEST_MASK) == 0)) {
    // Outermost: take the current grace-period phase and the next section
    // number, then order the section's reads after them.
    const unsigned long section = (current & ~(kSectionUnit - 1)) + kSectionUnit;
    __atomic_store_n(word, section | __atomic_load_n(&urcu_memb_gp.ctr, __ATOMIC_RELAXED),
                     __ATOMIC_RELAXED);
    ReaderFence(tagged);
  } else {
    __atomic_store_n(word, current + URCU_GP_COUNT, __ATOMIC_RELAXED);
  }
  return tagged;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void ReadUnlock(std::uintptr_t tagged) {
  TsanReaderExit();
  unsigned long* word = ReaderWord(tagged);
  const unsigned long current = __atomic_load_n(word, __ATOMIC_RELAXED);
  if (ABSL_PREDICT_TRUE((current & URCU_GP_CTR_NEST_MASK) == URCU_GP_COUNT)) {
    // Outermost: order the section before leaving it, and leaving it before
    // looking for a waiting grace period.
    ReaderFence(tagged);
    __atomic_store_n(word, current - URCU_GP_COUNT, __ATOMIC_RELAXED);
    ReaderFence(tagged);
    if (ABSL_PREDICT_FALSE(__atomic_load_n(&urcu_memb_gp.futex, __ATOMIC_RELAXED) == -1)) {
      WakeGracePeriodWaiter(current);
    }
    if (ABSL_PREDICT_FALSE(backlog_debt)) PayBacklogDebt();
  } else {
    __atomic_store_n(word, current - URCU_GP_COUNT, __ATOMIC_RELAXED);
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

inline void ReadUnlock() { ReadUnlock(reader_word); }
#else
// Call mode (--define=rcu_lgpl_inline=false, and ThreadSanitizer builds).
// liburcu's read lock rewrites the whole reader word, so this thread's
// outermost sections are counted here instead, for the stall watchdog.
inline thread_local int call_mode_nesting = 0;
inline thread_local std::atomic<std::uint64_t> sections_begun{0};

inline std::uintptr_t ReadLock() {
  if (ABSL_PREDICT_FALSE(!thread_registered)) RegisterCurrentThread();
  if (call_mode_nesting++ == 0) {
    sections_begun.store(sections_begun.load(std::memory_order_relaxed) + 1,
                         std::memory_order_relaxed);
  }
  urcu_memb_read_lock();
  return 0;
}

inline void ReadUnlock(std::uintptr_t /*unused*/ = 0) {
  TsanReaderExit();
  urcu_memb_read_unlock();
  if (--call_mode_nesting == 0 && ABSL_PREDICT_FALSE(backlog_debt)) PayBacklogDebt();
}
#endif

}  // namespace internal

// RAII read-side critical section. See the file comment.
class ReadGuard {
 public:
  // Always inlined: a call costs a reader more than the section itself.
  ABSL_ATTRIBUTE_ALWAYS_INLINE ReadGuard() : reader_(internal::ReadLock()) {}
  ABSL_ATTRIBUTE_ALWAYS_INLINE ~ReadGuard() { internal::ReadUnlock(reader_); }

  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;

 private:
  // This thread's tagged reader word (see internal::reader_word), kept so
  // that leaving the section needs no second thread-local lookup.
  std::uintptr_t reader_;
};

// True if the calling thread is inside a read-side critical section.
inline bool InReadSection() {
  return internal::thread_registered && urcu_memb_read_ongoing() != 0;
}

}  // namespace rcu

#endif  // RCU_READ_GUARD_H_
