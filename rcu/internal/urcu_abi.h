// Internal: the few parts of liburcu's memb flavor that the read side
// (rcu/internal/read_side.h) uses, declared here instead of included, so
// that `#include "rcu/rcu.h"` does not bring liburcu's macros
// (rcu_dereference, cds_list_*, URCU_TLS, about 1,400 of them) into users'
// code. rcu/internal/urcu.h, which the core's .cc files include along with
// liburcu's own headers, checks every value and offset here against them.
//
// The declarations match liburcu's own, so a user who includes liburcu's
// headers too gets compatible redeclarations; the function names are
// parenthesized, so that liburcu's _LGPL_SOURCE macros of the same names do
// not rewrite them.
#ifndef RCU_INTERNAL_URCU_ABI_H_
#define RCU_INTERNAL_URCU_ABI_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <cstdint>

extern "C" {
struct urcu_gp;                      // { unsigned long ctr; int32_t futex; }
extern struct urcu_gp urcu_memb_gp;  // liburcu's grace-period state
void(urcu_memb_read_lock)(void);
void(urcu_memb_read_unlock)(void);
int(urcu_memb_read_ongoing)(void);
}

namespace rcu {
namespace internal {

// liburcu's URCU_GP_COUNT, URCU_GP_CTR_PHASE and URCU_GP_CTR_NEST_MASK: the
// reader word holds a nesting count below the phase bit.
inline constexpr unsigned long kUrcuGpCount = 1UL;
inline constexpr unsigned long kUrcuGpCtrPhase = 1UL << (sizeof(unsigned long) << 2);
inline constexpr unsigned long kUrcuGpCtrNestMask = kUrcuGpCtrPhase - 1;

// urcu_memb_gp.ctr and urcu_memb_gp.futex.
inline constexpr std::size_t kUrcuGpFutexOffset = sizeof(unsigned long);
inline unsigned long* UrcuGpCtr() { return reinterpret_cast<unsigned long*>(&urcu_memb_gp); }
inline std::int32_t* UrcuGpFutex() {
  return reinterpret_cast<std::int32_t*>(reinterpret_cast<char*>(&urcu_memb_gp) +
                                         kUrcuGpFutexOffset);
}

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_URCU_ABI_H_
