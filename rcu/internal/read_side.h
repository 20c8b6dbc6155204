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
inline constexpr unsigned long kSectionUnit = kUrcuGpCtrPhase << 1;

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
  if (ABSL_PREDICT_TRUE((current & kUrcuGpCtrNestMask) == 0)) {
    // Outermost: take the current grace-period phase and the next section
    // number, then order the section's reads after them.
    const unsigned long section = (current & ~(kSectionUnit - 1)) + kSectionUnit;
    __atomic_store_n(word, section | __atomic_load_n(UrcuGpCtr(), __ATOMIC_RELAXED),
                     __ATOMIC_RELAXED);
    ReaderFence(tagged);
  } else {
    __atomic_store_n(word, current + kUrcuGpCount, __ATOMIC_RELAXED);
  }
  return tagged;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void ReadUnlock(std::uintptr_t tagged) {
  TsanReaderExit();
  unsigned long* word = ReaderWord(tagged);
  const unsigned long current = __atomic_load_n(word, __ATOMIC_RELAXED);
  if (ABSL_PREDICT_TRUE((current & kUrcuGpCtrNestMask) == kUrcuGpCount)) {
    // Outermost: order the section before leaving it, and leaving it before
    // looking for a waiting grace period.
    ReaderFence(tagged);
    __atomic_store_n(word, current - kUrcuGpCount, __ATOMIC_RELAXED);
    ReaderFence(tagged);
    if (ABSL_PREDICT_FALSE(__atomic_load_n(UrcuGpFutex(), __ATOMIC_RELAXED) == -1)) {
      WakeGracePeriodWaiter(current);
    }
    if (ABSL_PREDICT_FALSE(backlog_debt)) PayBacklogDebt();
  } else {
    __atomic_store_n(word, current - kUrcuGpCount, __ATOMIC_RELAXED);
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
  (urcu_memb_read_lock)();
  return 0;
}

inline void ReadUnlock(std::uintptr_t /*unused*/ = 0) {
  TsanReaderExit();
  (urcu_memb_read_unlock)();
  if (--call_mode_nesting == 0 && ABSL_PREDICT_FALSE(backlog_debt)) PayBacklogDebt();
}
#endif

// rcu::InReadSection().
inline bool ReadSectionOngoing() {
#if RCU_INTERNAL_INLINE_READ_SIDE
  return thread_registered &&
         (__atomic_load_n(ReaderWord(reader_word), __ATOMIC_RELAXED) & kUrcuGpCtrNestMask) != 0;
#else
  return thread_registered && (urcu_memb_read_ongoing)() != 0;
#endif
}

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_READ_SIDE_H_
