// Internal: the stall watchdog (rcu/stall.cc), as the rest of the core sees
// it.
#ifndef RCU_INTERNAL_WATCHDOG_H_
#define RCU_INTERNAL_WATCHDOG_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

namespace rcu {

struct StallReport;

namespace internal {

// Tracks a grace-period wait for the stall watchdog: it scans readers only
// while some thread waits for a grace period (or callbacks are pending).
class GracePeriodWaitScope {
 public:
  GracePeriodWaitScope();
  ~GracePeriodWaitScope();
  GracePeriodWaitScope(const GracePeriodWaitScope&) = delete;
  GracePeriodWaitScope& operator=(const GracePeriodWaitScope&) = delete;
};

// True while the watchdog sees the callback worker held up for longer than
// the stall timeout: stuck in one callback, or waiting for a grace period
// that a reader stalls. Backpressure does not wait then (it might wait
// forever).
bool WorkerHeldUp();

// Sends `report` to the installed stall handler (or the default one), and
// counts it, from the calling thread (rcu::Domain's grace periods report
// their own stalls).
void ReportStall(const StallReport& report);

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_WATCHDOG_H_
