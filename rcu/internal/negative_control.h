// Internal: builds of the library with a known bug put back, so that each
// checker can be seen to catch the bug it was written for.
//
// A test-only BUILD target compiles the code with one bug named
// (local_defines = ["RCU_NEGATIVE_CONTROL=RCU_BUG_SKIP_GRACE_PERIODS"]), and
// the code puts it back where the bug lived:
//
//   #if RCU_BUG_PUT_BACK(SKIP_GRACE_PERIODS)
//     return false;  // the bug
//   #endif
//
// Ordinary builds name no bug, and every RCU_BUG_PUT_BACK() is false.
#ifndef RCU_INTERNAL_NEGATIVE_CONTROL_H_
#define RCU_INTERNAL_NEGATIVE_CONTROL_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

// The bugs, each with the targets that put it back.
//
// Grace periods skipped, callbacks run at once (//rcu:
// rcu_without_grace_periods_for_testing; the ThreadSanitizer annotations'
// negative control, tests/rcu/negative_control_test).
#define RCU_BUG_SKIP_GRACE_PERIODS 1
// A partial retire block found empty without its lock, and an exiting
// thread's block handed over after its buffer left the registry
// (//rcu:rcu_with_order_bugs_for_testing; stress/callback_torture_test).
#define RCU_BUG_CALLBACK_ORDER 2
// The RCU lists free removed nodes without waiting for a grace period
// (stress/rcu_list_stress_test, fuzz/).
#define RCU_BUG_LIST_SKIP_GRACE_PERIOD 3
// rcu::HashMap's get() sometimes returns the value its thread read before
// its own last write (stress/hash_map_linearizability_test).
#define RCU_BUG_STALE_READ 4
// rcu::HashMap frees erased and replaced entries at once, without waiting
// for a grace period (fuzz/hash_map_fuzzer's negative control).
#define RCU_BUG_MAP_SKIP_GRACE_PERIOD 5
// rcu::Domain's grace period does not wait for the sections of half the
// threads (//rcu:rcu_with_domain_bug_for_testing; stress/domain_torture_test).
#define RCU_BUG_DOMAIN_SKIPS_READER 6
// rcu::HashMap's node recycler reuses a retired entry without waiting for
// its grace period (tests/containers/hash_map_recycler_test's negative
// control; stress/hash_map_stress_test under it).
#define RCU_BUG_MAP_RECYCLE_EARLY 7

#ifndef RCU_NEGATIVE_CONTROL
#define RCU_NEGATIVE_CONTROL 0
#endif

#define RCU_BUG_PUT_BACK(bug) (RCU_NEGATIVE_CONTROL == RCU_BUG_##bug)

#endif  // RCU_INTERNAL_NEGATIVE_CONTROL_H_
