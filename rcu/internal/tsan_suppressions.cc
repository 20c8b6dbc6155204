// ThreadSanitizer's default suppressions for programs that link the RCU core.
//
// liburcu 0.13 is not built for TSan, and some of its internal
// synchronization (rcu_barrier() against its call_rcu worker) is invisible to
// it. Only reports whose stacks pass through liburcu itself are suppressed;
// everything in this library and in your code stays checked (the grace-period
// annotations in rcu/internal/sanitizer.h make that possible, and
// tests/rcu/negative_control_test proves they hide no real bug).
//
// This is linked statically into the executable, where TSan looks for it. A
// program with its own __tsan_default_suppressions() builds with
// --define=rcu_tsan_default_suppressions=false and adds "race:liburcu" itself.
#include "rcu/internal/sanitizer.h"

#if RCU_INTERNAL_TSAN
extern "C" const char* __tsan_default_suppressions() {
  return "race:liburcu-memb.so\n"
         "race:liburcu-common.so\n";
}
#endif
