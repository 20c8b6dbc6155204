// Internal: the process-wide counters behind rcu::GetStats() (rcu/stats.h).
#ifndef RCU_INTERNAL_COUNTERS_H_
#define RCU_INTERNAL_COUNTERS_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <atomic>
#include <cstdint>

namespace rcu {
namespace internal {

// Relaxed increments; each field is the rcu::Stats field of the same name.
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
  std::atomic<std::uint64_t> diagnostics_reported{0};
};

// Constant-initialized and never destroyed (its members are atomics), so
// usable from any static initializer or destructor.
inline Counters counters;

inline Counters& GetCounters() { return counters; }

inline void Bump(std::atomic<std::uint64_t>& counter) {
  counter.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_COUNTERS_H_
