// Internal: debug-build checks of the evidence that writer and reader
// methods take: the writers' lock a caller passes (rcu/rcu_ptr.h, the RCU
// lists) and the read guard.
#ifndef RCU_INTERNAL_LOCK_EVIDENCE_H_
#define RCU_INTERNAL_LOCK_EVIDENCE_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <type_traits>
#include <utility>

#include "rcu/internal/checks.h"
#include "rcu/read_guard.h"

namespace rcu {
namespace internal {

// True if Lock can say whether the calling thread holds it
// (HeldByCurrentThread(), as rcu::Mutex can).
template <typename Lock, typename = void>
struct CanTellHolder : std::false_type {};
template <typename Lock>
struct CanTellHolder<Lock, std::void_t<decltype(std::declval<const Lock&>().HeldByCurrentThread())>>
    : std::true_type {};

// In debug builds, fails with `message` unless the calling thread holds
// `lock`, when the lock can tell; otherwise does nothing.
template <typename Lock>
void DebugCheckHeld(const Lock& lock, const char* message) {
  if constexpr (CanTellHolder<Lock>::value) {
    RCU_INTERNAL_DCHECK(lock.HeldByCurrentThread(), message);
  }
  (void)lock;
  (void)message;
}

// In debug builds, fails unless the calling thread is inside a read-side
// critical section (the guard passed as evidence is alive on this thread).
inline void DebugCheckReader() {
  RCU_INTERNAL_DCHECK(InReadSection(),
                      "Dereference() outside a read-side critical section: the "
                      "guard passed in belongs to another thread or has ended");
}

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_LOCK_EVIDENCE_H_
