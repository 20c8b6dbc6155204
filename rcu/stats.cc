#include "rcu/stats.h"

#include <atomic>
#include <cstdint>

#include "rcu/internal/counters.h"
#include "rcu/internal/retire_buffer.h"

namespace rcu {

Stats GetStats() {
  const internal::Counters& c = internal::GetCounters();
  auto get = [](const std::atomic<std::uint64_t>& v) { return v.load(std::memory_order_relaxed); };
  Stats stats;
  stats.grace_periods = get(c.grace_periods);
  // Invoked before queued: both only grow, so invoked <= queued in the result.
  stats.callbacks_invoked = get(c.callbacks_invoked);
  stats.callbacks_queued = get(c.callbacks_queued);
  stats.callbacks_failed = get(c.callbacks_failed);
  stats.retirements_buffered = internal::BufferedRetirements();
  stats.backlog_waits = get(c.backlog_waits);
  stats.worker_wakeups = get(c.worker_wakeups);
  stats.stalls_reported = get(c.stalls_reported);
  stats.threads_registered = get(c.threads_registered);
  stats.threads_unregistered = get(c.threads_unregistered);
  stats.diagnostics_reported = get(c.diagnostics_reported);
  return stats;
}

}  // namespace rcu
