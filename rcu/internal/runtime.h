// Internal: state shared by the RCU core's translation units.
#ifndef RCU_INTERNAL_RUNTIME_H_
#define RCU_INTERNAL_RUNTIME_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "rcu/diagnostics.h"

namespace rcu {
namespace internal {

// Process-wide counters behind rcu::GetStats(). Relaxed increments.
struct Counters {
  std::atomic<std::uint64_t> grace_periods{0};
  std::atomic<std::uint64_t> callbacks_queued{0};
  std::atomic<std::uint64_t> callbacks_invoked{0};
  std::atomic<std::uint64_t> callbacks_failed{0};
  std::atomic<std::uint64_t> backlog_waits{0};
  std::atomic<std::uint64_t> worker_wakeups{0};
  std::atomic<std::uint64_t> stalls_reported{0};
  std::atomic<std::uint64_t> threads_registered{0};
  std::atomic<std::uint64_t> threads_unregistered{0};
};
Counters& GetCounters();

inline void Bump(std::atomic<std::uint64_t>& counter) {
  counter.fetch_add(1, std::memory_order_relaxed);
}

// Sends a diagnostic to the installed handler; aborts afterwards if fatal.
void Report(Diagnostic::Kind kind, bool fatal, std::string message);

// True on the callback worker while it runs an RCU callback.
inline thread_local bool in_callback = false;

// Installs the fork and exit hooks; cheap after the first call.
void EnsureProcessHooks();

// Callbacks queued but not yet invoked.
std::uint64_t PendingCallbacks();

// The calling thread's kernel thread id.
pid_t CurrentThreadId();

// Tracks a grace-period wait for the stall watchdog: it scans readers only
// while some thread waits for a grace period (or callbacks are pending).
class GracePeriodWaitScope {
 public:
  GracePeriodWaitScope();
  ~GracePeriodWaitScope();
  GracePeriodWaitScope(const GracePeriodWaitScope&) = delete;
  GracePeriodWaitScope& operator=(const GracePeriodWaitScope&) = delete;
};

// Starts the watchdog thread if it is not running (lazily, once per process
// and again in a forked child).
void EnsureWatchdog();

// Fork support for grace periods, the thread registry and the watchdog.
void GracePeriodsBeforeFork();
void GracePeriodsAfterForkParent();
void GracePeriodsAfterForkChild();
void RegistryBeforeFork();
void RegistryAfterForkParent();
void RegistryAfterForkChild();
void WatchdogBeforeFork();
void WatchdogAfterForkParent();
void WatchdogAfterForkChild();
void BacklogAfterForkChild();

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_RUNTIME_H_
