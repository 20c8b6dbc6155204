// Internal: fatal errors and debug-build checks with clear messages.
#ifndef RCU_INTERNAL_CHECKS_H_
#define RCU_INTERNAL_CHECKS_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

namespace rcu {
namespace internal {

// Reports "rcu: check failed: <message> (<file>:<line>)" through the
// diagnostics channel (rcu/diagnostics.h, kCheckFailed) and aborts.
[[noreturn]] void CheckFailed(const char* message, const char* file, int line);

}  // namespace internal
}  // namespace rcu

#ifdef NDEBUG
#define RCU_INTERNAL_DCHECK(condition, message) \
  do {                                          \
  } while (false)
#else
#define RCU_INTERNAL_DCHECK(condition, message)                    \
  do {                                                             \
    if (!(condition)) {                                            \
      ::rcu::internal::CheckFailed((message), __FILE__, __LINE__); \
    }                                                              \
  } while (false)
#endif

#endif  // RCU_INTERNAL_CHECKS_H_
