// The read side's out-of-line paths (rcu/internal/read_side.h).
#include "rcu/internal/read_side.h"

#include <atomic>
#include <cstdint>

#include "absl/base/attributes.h"
#include "liburcu_config/version.h"
#include "rcu/internal/callbacks.h"
#include "rcu/internal/checks.h"
#include "rcu/internal/urcu.h"

// The global grace-period state's layout (data layout only; none of
// liburcu's inline functions are used from here).
#include <urcu/static/urcu-memb.h>

namespace rcu {
namespace internal {

#if RCU_INTERNAL_INLINE_READ_SIDE
// A grace period waits only for sections that began in the other phase than
// the current one (liburcu's RCU_READER_ACTIVE_OLD). liburcu's read side wakes
// the waiter whenever any section ends while it sleeps; on a machine with
// fewer cores than threads that turned one grace period into hundreds of
// membarrier() calls: the waiter sleeps because a preempted reader holds it
// up, a running reader ends a section of the current phase and wakes it, it
// checks again (membarrier()), sleeps again, and so on until the preempted
// reader gets a CPU, which the spinning waiter keeps from it. Sections of
// the current phase therefore leave it asleep.
//
// Why no wake-up a waiter needs is lost: the waiter flips the phase and then
// (after a full barrier) sets the futex to -1, then sends membarrier() and
// reads the reader words. If it read this section as still active, this
// thread's loads after ending the section follow that membarrier(), so they
// see the futex at -1 (acquire, below) and, written before it, the flipped
// phase: an old section sees the phase differ and wakes the waiter. At most
// one flip can happen during a section (the grace period after it waits for
// the section), so "same phase" means no flip, and then the waiter is not
// waiting for this section.
//
// This rests on how liburcu's synchronize_rcu() waits, which its inline
// read side does not pin down (that side wakes unconditionally). It was
// checked against liburcu 0.13's urcu.c; with any other version the filter
// is off and every section wakes the waiter, as liburcu's own does.
#if RCU_LIBURCU_VERSION_MAJOR == 0 && RCU_LIBURCU_VERSION_MINOR == 13
inline constexpr bool kWakeOnlyForOldSections = true;
#else
inline constexpr bool kWakeOnlyForOldSections = false;
#endif

namespace {

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void ReaderFence(std::uintptr_t tagged) {
  if (tagged & 1) {
    std::atomic_thread_fence(std::memory_order_seq_cst);  // liburcu's smp_mb_slave()
  } else {
    std::atomic_signal_fence(std::memory_order_seq_cst);  // membarrier does the rest
  }
}

}  // namespace

// The fast path's protocol, with the fences that a thread without
// membarrier() needs, for a thread that may not be registered yet.
void ReadLockSlow() {
  if (reader_word == 0) RegisterCurrentThread();
  const std::uintptr_t tagged = reader_word;
  unsigned long* word = reinterpret_cast<unsigned long*>(tagged & ~std::uintptr_t{1});
  std::atomic_signal_fence(std::memory_order_seq_cst);
  const unsigned long current = __atomic_load_n(word, __ATOMIC_RELAXED);
  if ((current & kUrcuGpCtrNestMask) == 0) {
    __atomic_store_n(word, OutermostSectionWord(current), __ATOMIC_RELAXED);
    ReaderFence(tagged);  // the section's reads after taking the phase
  } else {
    __atomic_store_n(word, current + kUrcuGpCount, __ATOMIC_RELAXED);
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

// As ReadUnlock(), with fences where membarrier() is missing, and the
// backlog debt paid when the outermost section ends.
void ReadUnlockSlow() {
  const std::uintptr_t tagged = reader_word;
  if (tagged == 0) {
    CheckFailed("a read-side section ended on a thread that never began one", __FILE__, __LINE__);
  }
  unsigned long* word = reinterpret_cast<unsigned long*>(tagged & ~std::uintptr_t{1});
  std::atomic_signal_fence(std::memory_order_seq_cst);
  const unsigned long current = __atomic_load_n(word, __ATOMIC_RELAXED);
  if ((current & kUrcuGpCtrNestMask) == kUrcuGpCount) {
    ReaderFence(tagged);  // the section before leaving it
    __atomic_store_n(word, current - kUrcuGpCount, __ATOMIC_RELAXED);
    ReaderFence(tagged);  // leaving before looking for a waiting grace period
    if (__atomic_load_n(UrcuGpFutex(), __ATOMIC_RELAXED) == -1) WakeGracePeriodWaiter(current);
    if (backlog_debt) PayBacklogDebt();
  } else {
    __atomic_store_n(word, current - kUrcuGpCount, __ATOMIC_RELAXED);
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

void WakeGracePeriodWaiter(unsigned long section) {
  if (__atomic_load_n(&urcu_memb_gp.futex, __ATOMIC_ACQUIRE) != -1) return;
  const unsigned long phase = __atomic_load_n(&urcu_memb_gp.ctr, __ATOMIC_RELAXED);
  if (kWakeOnlyForOldSections && ((section ^ phase) & URCU_GP_CTR_PHASE) == 0) return;
  urcu_common_wake_up_gp(&urcu_memb_gp);
}
#endif

}  // namespace internal
}  // namespace rcu
