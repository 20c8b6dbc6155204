// A probe for the callback backlog limit (rcu/call_rcu.h, "Backpressure"):
// runs a write pattern while a parked reader holds up every grace period, and
// reports the peak of what the limit should bound.
//
//   const std::uint64_t peak = rcu_test::PeakUnderStalledReader(
//       1000, 20000, [&](int i) { rcu::ReadGuard g; map.erase(i); });
//   EXPECT_LE(peak, 1000 + rcu::internal::kRetireBatchSize + 2);
#ifndef TESTS_UTIL_BACKLOG_PROBE_H_
#define TESTS_UTIL_BACKLOG_PROBE_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <thread>

#include "rcu/call_rcu.h"
#include "rcu/internal/batching.h"
#include "rcu/stats.h"
#include "tests/util/test_util.h"

namespace rcu_test {

// The usual settings: a limit of 1000 and twenty times as many writes. The
// bound allows one retire block per thread beyond the limit, and the
// writer's last call before it waits.
inline constexpr std::size_t kProbeLimit = 1000;
inline constexpr int kProbeOps = 20000;
inline constexpr std::uint64_t kProbeBound = kProbeLimit + rcu::internal::kRetireBatchSize + 2;

// A value that counts its live instances: what a storm leaves unfreed.
struct LiveCounted {
  static inline std::atomic<long> count{0};
  LiveCounted() { count.fetch_add(1, std::memory_order_relaxed); }
  LiveCounted(const LiveCounted&) { count.fetch_add(1, std::memory_order_relaxed); }
  ~LiveCounted() { count.fetch_sub(1, std::memory_order_relaxed); }
  static std::uint64_t Live() { return static_cast<std::uint64_t>(count.load()); }
};

// Callbacks queued and not yet invoked.
inline std::uint64_t PendingCallbacks() {
  const rcu::Stats s = rcu::GetStats();
  return s.callbacks_queued - s.callbacks_invoked;
}

// With the backlog limit at `limit`, runs op(i) for i in [0, ops) on a
// writer thread while a parked reader holds up every grace period. The
// reader is released once the writer waits for the backlog (or is done), so
// the writer never waits for long. Returns the largest value measure() had
// after a call (by default the backlog itself). Restores the limit and
// drains the backlog before it returns.
inline std::uint64_t PeakUnderStalledReader(
    std::size_t limit, int ops, const std::function<void(int)>& op,
    const std::function<std::uint64_t()>& measure = PendingCallbacks) {
  const std::size_t old_limit = rcu::CallbackBacklogLimit();
  rcu::Barrier();
  rcu::SetCallbackBacklogLimit(limit);
  std::atomic<std::uint64_t> peak{0};
  std::atomic<bool> done{false};
  const std::uint64_t waits_before = rcu::GetStats().backlog_waits;
  {
    ParkedReader reader;
    std::thread writer([&] {
      for (int i = 0; i < ops; ++i) {
        op(i);
        const std::uint64_t now = measure();
        if (now > peak.load()) peak.store(now);
      }
      done.store(true);
    });
    // Released once the writer waits (well within the stall timeout, after
    // which backpressure would stop waiting).
    Eventually([&] { return done.load() || rcu::GetStats().backlog_waits > waits_before; });
    reader.Release();
    writer.join();
  }
  rcu::SetCallbackBacklogLimit(old_limit);
  rcu::Barrier();
  return peak.load();
}

}  // namespace rcu_test

#endif  // TESTS_UTIL_BACKLOG_PROBE_H_
