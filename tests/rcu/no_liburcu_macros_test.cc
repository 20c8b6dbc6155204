// The public headers do not bring liburcu's macros into users' code
// (rcu/internal/urcu_abi.h): a user's own `rcu_dereference`, `list_add` or
// `likely` must not be rewritten by including this library. What remains
// are the library's own RCU_* macros (include guards, RCU_LGPL_INLINE,
// RCU_LIBURCU_VERSION_*, RCU_CONTAINERS_VERSION*, RCU_INTERNAL_*).
//
// Negative control: compiling this file with `-include urcu/urcu-memb.h`
// (or with rcu/internal/read_side.h including rcu/internal/urcu.h again)
// stops at the #error below.
#include "containers/hash_map.h"
#include "containers/intrusive_rcu_list.h"
#include "containers/rcu_list.h"
#include "containers/snapshot.h"
#include "rcu/rcu.h"

// A sample from each of liburcu's header families: the flavor mapping
// (urcu/map), the static inline read side, arch and compiler helpers, the
// lists and the atomics.
#if defined(rcu_dereference) || defined(rcu_read_lock) || defined(rcu_assign_pointer) ||   \
    defined(synchronize_rcu) || defined(call_rcu) || defined(URCU_TLS) ||                  \
    defined(URCU_GP_COUNT) || defined(cds_list_add) || defined(cds_list_for_each_entry) || \
    defined(caa_likely) || defined(caa_container_of) || defined(cmm_smp_mb) ||             \
    defined(cmm_barrier) || defined(uatomic_read) || defined(CMM_LOAD_SHARED) ||           \
    defined(_LGPL_SOURCE) || defined(likely) || defined(unlikely) ||                       \
    defined(urcu_memb_read_lock) || defined(rcu_flavor)
#error "a public header of the library brings liburcu's macros into users' code"
#endif

#include "gtest/gtest.h"

namespace {

// Names liburcu defines as macros are free for users again.
int rcu_dereference(int x) { return x + 1; }
int likely(int x) { return x * 2; }

TEST(NoLiburcuMacrosTest, UsersMayUseTheNames) {
  EXPECT_EQ(rcu_dereference(1), 2);
  EXPECT_EQ(likely(2), 4);
  rcu::ReadGuard guard;  // and the inline read side still works
  EXPECT_TRUE(rcu::InReadSection());
}

}  // namespace
