// Internal: the read side (rcu/read_guard.h is its interface).
//
// ReadLock() and ReadUnlock() begin and end a read-side critical section.
// Inline mode (the default): liburcu's memb protocol on liburcu's own reader
// word, written for the fast path. Call mode (--define=rcu_lgpl_inline=false,
// and ThreadSanitizer builds): liburcu's own functions. Their slow paths are
// out of line: registering a thread (rcu/internal/thread_registry.h), waking
// a grace period that waits for readers (read_side.cc), and paying a
// callback-backlog debt (rcu/internal/callbacks.h).
#ifndef RCU_INTERNAL_READ_SIDE_H_
#define RCU_INTERNAL_READ_SIDE_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <atomic>
#include <cstdint>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "rcu/internal/callbacks.h"
#include "rcu/internal/sanitizer.h"
#include "rcu/internal/thread_registry.h"
#include "rcu/internal/read_side_mode.h"
#include "rcu/internal/urcu_abi.h"

namespace rcu {
namespace internal {

// True once the calling thread is registered with liburcu. Constant-
// initialized, so the fast path reads it with one TLS load and no guard.
inline thread_local bool thread_registered = false;

#if RCU_INTERNAL_INLINE_READ_SIDE
// The read side, inlined: liburcu's memb protocol on liburcu's own reader
// word, written for the fast path. liburcu's inline functions reach the word
// through a C++ thread_local that GCC checks for initialization on every
// access, test for membarrier support three times per section, and inline
// the futex wake-up; here the word's address is cached once per thread, and
// everything but the common case is out of line.
//
// This thread's reader word (nesting count and grace-period phase), or 0
// before registration; bit 0 set means membarrier is unavailable and the
// read side needs full fences (liburcu's smp_mb_slave()).
inline thread_local std::uintptr_t reader_word = 0;

// The reader word's address while the fast path applies: the thread is
// registered, membarrier is in use (no fences needed) and the thread owes no
// backlog debt (rcu/internal/callbacks.h). Otherwise null, and sections begin
// and end out of line (ReadLockSlow(), ReadUnlockSlow()), so that the fast
// path tests one word at each end. Kept by SetFastReaderWord().
inline thread_local unsigned long* fast_reader_word = nullptr;

// Recomputes fast_reader_word from reader_word and backlog_debt; call after
// changing either (SetBacklogDebt() does).
inline void SetFastReaderWord() {
  fast_reader_word = (reader_word & 1) != 0 || backlog_debt
                         ? nullptr
                         : reinterpret_cast<unsigned long*>(reader_word);
}

// Called when a section ends while a grace period sleeps waiting for
// readers (liburcu's wake_up_gp). `section` is the reader word the section
// ran under; the waiter is woken only if it may be waiting for this section.
void WakeGracePeriodWaiter(unsigned long section);

// The out-of-line paths (read_side.cc): registration, fences, backlog debt.
void ReadLockSlow();
void ReadUnlockSlow();

// The word an outermost section stores: the nesting count and phase of the
// global grace-period counter, and above them the next section number.
// liburcu never looks at the bits above its phase bit (it masks the nesting
// count and tests the phase); they count this thread's outermost sections,
// so that the stall watchdog can tell one section from the next
// (rcu/stall.cc), wrapping after 2^31 sections. `current`, the word between
// sections, has a nesting count of 0: setting its stale phase bit and adding
// the bit again clears it and carries one into the section number.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline unsigned long OutermostSectionWord(unsigned long current) {
  return ((current | kUrcuGpCtrPhase) + kUrcuGpCtrPhase) |
         __atomic_load_n(UrcuGpCtr(), __ATOMIC_RELAXED);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void ReadLock() {
  unsigned long* word = fast_reader_word;
  if (ABSL_PREDICT_FALSE(word == nullptr)) {
    ReadLockSlow();
    return;
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
  const unsigned long current = __atomic_load_n(word, __ATOMIC_RELAXED);
  if (ABSL_PREDICT_TRUE((current & kUrcuGpCtrNestMask) == 0)) {
    // Outermost: take the current grace-period phase and the next section
    // number; membarrier() orders the section's reads after them.
    __atomic_store_n(word, OutermostSectionWord(current), __ATOMIC_RELAXED);
  } else {
    __atomic_store_n(word, current + kUrcuGpCount, __ATOMIC_RELAXED);
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

// The fast path reads fast_reader_word once, before it lowers the nesting
// count: a debt set after that read (by a signal handler, which must not
// retire: rcu/call_rcu.h) is paid at the thread's next section end instead,
// since the debt keeps the fast path off until then. Testing the debt here
// again would cost every section a thread-local load and a branch.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void ReadUnlock() {
  TsanReaderExit();
  unsigned long* word = fast_reader_word;
  if (ABSL_PREDICT_FALSE(word == nullptr)) {
    ReadUnlockSlow();
    return;
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
  const unsigned long current = __atomic_load_n(word, __ATOMIC_RELAXED);
  __atomic_store_n(word, current - kUrcuGpCount, __ATOMIC_RELAXED);
  if (ABSL_PREDICT_TRUE((current & kUrcuGpCtrNestMask) == kUrcuGpCount)) {
    // Outermost: membarrier() orders the section before leaving it, and
    // leaving it before looking for a waiting grace period.
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (ABSL_PREDICT_FALSE(__atomic_load_n(UrcuGpFutex(), __ATOMIC_RELAXED) == -1)) {
      WakeGracePeriodWaiter(current);
    }
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
}
#else
// Call mode (--define=rcu_lgpl_inline=false, and ThreadSanitizer builds).
// liburcu's read lock rewrites the whole reader word, so this thread's
// outermost sections are counted here instead, for the stall watchdog.
inline thread_local int call_mode_nesting = 0;
inline thread_local std::atomic<std::uint64_t> sections_begun{0};

inline void ReadLock() {
  if (ABSL_PREDICT_FALSE(!thread_registered)) RegisterCurrentThread();
  if (call_mode_nesting++ == 0) {
    sections_begun.store(sections_begun.load(std::memory_order_relaxed) + 1,
                         std::memory_order_relaxed);
  }
  (urcu_memb_read_lock)();
}

inline void ReadUnlock() {
  TsanReaderExit();
  (urcu_memb_read_unlock)();
  if (--call_mode_nesting == 0 && ABSL_PREDICT_FALSE(backlog_debt)) PayBacklogDebt();
}
#endif

// Sets or clears this thread's backlog debt (rcu/internal/callbacks.h),
// which in inline mode sends its sections' ends out of line.
inline void SetBacklogDebt(bool debt) {
  backlog_debt = debt;
#if RCU_INTERNAL_INLINE_READ_SIDE
  SetFastReaderWord();
#endif
}

// rcu::InReadSection().
inline bool ReadSectionOngoing() {
#if RCU_INTERNAL_INLINE_READ_SIDE
  return thread_registered &&
         (__atomic_load_n(reinterpret_cast<unsigned long*>(reader_word & ~std::uintptr_t{1}),
                          __ATOMIC_RELAXED) &
          kUrcuGpCtrNestMask) != 0;
#else
  return thread_registered && (urcu_memb_read_ongoing)() != 0;
#endif
}

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_READ_SIDE_H_
