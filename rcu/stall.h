// rcu/stall.h: warnings about read-side critical sections that stall grace
// periods, like the Linux kernel's RCU CPU stall warnings.
//
// One reader that never leaves its critical section stops every grace period
// and so all memory reclamation: memory grows without bound and Synchronize()
// never returns. While a grace period is waiting, a watchdog thread looks at
// the registered reader threads; a reader that has blocked it for longer than
// the stall timeout is reported, once per timeout period, through a handler
// you can replace:
//
//   rcu::SetStallTimeout(absl::Seconds(2));
//   rcu::SetStallHandler([](const rcu::StallReport& r) {
//     LOG(WARNING) << "RCU reader " << r.thread_name << " (tid " << r.thread_id
//                  << ") blocking grace periods for " << r.blocked_for;
//   });
//
// The watchdog reads liburcu's per-thread reader state; it adds nothing to the
// read fast path, nor to Synchronize(). It wakes four times per timeout and
// scans only while a grace period is waiting. `blocked_for` is
// a lower bound: the reader has been inside its section at least that long.
#ifndef RCU_STALL_H_
#define RCU_STALL_H_

#include <sys/types.h>

#include <functional>
#include <string>

#include "absl/time/time.h"

namespace rcu {

struct StallReport {
  pid_t thread_id;          // the kernel's thread id (gettid)
  std::string thread_name;  // pthread name, empty if unknown
  absl::Duration blocked_for;
};

using StallHandler = std::function<void(const StallReport&)>;

// Reports readers that block a grace period for longer than `timeout`
// (default 10 seconds). absl::InfiniteDuration() turns reports off.
void SetStallTimeout(absl::Duration timeout);
absl::Duration StallTimeout();

// Installs `handler` (nullptr: the default, which writes one line to stderr)
// and returns the previous one. The handler runs on the watchdog thread and
// must not use RCU itself.
StallHandler SetStallHandler(StallHandler handler);

}  // namespace rcu

#endif  // RCU_STALL_H_
