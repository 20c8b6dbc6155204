// Internal: sanitizer detection and ThreadSanitizer grace-period annotations.
//
// TSan cannot see liburcu's grace periods (liburcu 0.13 is not built for it),
// so a free after Synchronize() would look like a race with the readers it
// waited for. We model the grace period as a synchronization object:
//
//   reader:  ... critical section ...; TsanReaderExit(); read_unlock()
//   writer:  synchronize(); TsanGracePeriodEnd(); ... free ...
//
// Every reader's exit is a release on `grace_period_token`, and the end of a
// grace period (after Synchronize() returns, before an RCU callback runs) is
// an acquire on it. That gives TSan exactly the happens-before edge that RCU
// guarantees, and nothing more: a free that skips the grace period is still
// reported (see tests/rcu/negative_control_test.cc).
#ifndef RCU_INTERNAL_SANITIZER_H_
#define RCU_INTERNAL_SANITIZER_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

// clang 14 does not define __SANITIZE_THREAD__, so ask __has_feature too;
// otherwise the annotations would silently compile out under clang.
#if defined(__SANITIZE_THREAD__)
#define RCU_INTERNAL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RCU_INTERNAL_TSAN 1
#endif
#endif
#ifndef RCU_INTERNAL_TSAN
#define RCU_INTERNAL_TSAN 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define RCU_INTERNAL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RCU_INTERNAL_ASAN 1
#endif
#endif
#ifndef RCU_INTERNAL_ASAN
#define RCU_INTERNAL_ASAN 0
#endif

#if RCU_INTERNAL_TSAN
extern "C" {
void __tsan_acquire(void* addr);
void __tsan_release(void* addr);
}
#endif

namespace rcu {
namespace internal {

// The synchronization object that stands for "all grace periods".
inline char grace_period_token;

inline void TsanReaderExit() {
#if RCU_INTERNAL_TSAN
  __tsan_release(&grace_period_token);
#endif
}

inline void TsanGracePeriodEnd() {
#if RCU_INTERNAL_TSAN
  __tsan_acquire(&grace_period_token);
#endif
}

// liburcu's callback queue hands a node from the thread that queues it to the
// worker through uninstrumented code; these mark that handoff, per node.
inline void TsanCallbackQueued(void* node) {
#if RCU_INTERNAL_TSAN
  __tsan_release(node);
#else
  (void)node;
#endif
}

inline void TsanCallbackDequeued(void* node) {
#if RCU_INTERNAL_TSAN
  __tsan_acquire(node);
#else
  (void)node;
#endif
}

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_SANITIZER_H_
