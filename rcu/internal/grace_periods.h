// Internal: fork() support for grace periods (rcu/grace_period.cc).
#ifndef RCU_INTERNAL_GRACE_PERIODS_H_
#define RCU_INTERNAL_GRACE_PERIODS_H_

namespace rcu {
namespace internal {

// Before: waits for the grace periods in progress (which wait for readers)
// and holds new ones back until after the fork, so that no thread is inside
// liburcu's synchronize_rcu() when the process forks.
void GracePeriodsBeforeFork();
void GracePeriodsAfterForkParent();
void GracePeriodsAfterForkChild();

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_GRACE_PERIODS_H_
