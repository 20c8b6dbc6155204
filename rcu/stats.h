// rcu/stats.h: process-wide counters, for tests, benchmarks and monitoring.
//
//   rcu::Stats before = rcu::GetStats();
//   rcu::Synchronize();
//   assert(rcu::GetStats().grace_periods > before.grace_periods);
//
// Counters only grow. Each is read with relaxed ordering; a snapshot is not
// atomic across counters, except that callbacks_invoked <= callbacks_queued
// always holds in one snapshot.
#ifndef RCU_STATS_H_
#define RCU_STATS_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <cstdint>

namespace rcu {

struct Stats {
  // Grace periods completed through the library: Synchronize() and
  // CondSynchronize() calls, StartPoll(), and the callback worker's (one per
  // batch of callbacks).
  std::uint64_t grace_periods = 0;
  std::uint64_t callbacks_queued = 0;
  std::uint64_t callbacks_invoked = 0;  // includes those that threw
  std::uint64_t callbacks_failed = 0;   // threw an exception
  // Retired objects waiting in their threads' partial blocks (rcu/call_rcu.h,
  // "Batching"); each is counted in callbacks_queued once its block goes to
  // the worker.
  std::uint64_t retirements_buffered = 0;
  std::uint64_t backlog_waits = 0;  // a retiring thread waited for the worker
  // Times a thread woke the sleeping callback thread: for work it had been
  // idle for, for urgency (Barrier(), backpressure), or for the first retire
  // block after a quiet spell. Events the worker would sleep through anyway
  // wake nobody.
  std::uint64_t worker_wakeups = 0;
  // Stall warnings delivered (rcu/stall.h): readers and callbacks.
  std::uint64_t stalls_reported = 0;
  std::uint64_t threads_registered = 0;
  std::uint64_t threads_unregistered = 0;
  // Reports sent through the diagnostics channel (rcu/diagnostics.h), fatal
  // or not, by the core and the containers.
  std::uint64_t diagnostics_reported = 0;
};

Stats GetStats();

}  // namespace rcu

#endif  // RCU_STATS_H_
