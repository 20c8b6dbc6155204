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
//   rcu::SetStallTimeout(absl::Seconds(2));   // or std::chrono::seconds(2)
//   rcu::SetStallHandler([](const rcu::StallReport& r) {
//     LOG(WARNING) << "RCU reader " << r.thread_name << " (tid " << r.thread_id
//                  << ") blocking grace periods for " << r.blocked_for;
//   });
//
// The watchdog reads liburcu's per-thread reader state, in which each thread's
// sections are numbered, so that a run of short sections is never mistaken
// for one long one; it adds nothing to the read fast path, nor to
// Synchronize(). It wakes four times per timeout and scans only while a grace
// period is waiting or callbacks are pending. `blocked_for` is a lower bound:
// the reader has been inside that one section at least that long.
//
// The callback thread is watched too. A callback that runs for longer than
// the stall timeout holds up every later callback, and every thread that
// waits for them (rcu::Barrier(), backpressure, fork()): typically it waits
// for a lock that one of those threads holds. It is reported, naming the
// callback (kind kCallback), and while it lasts backpressure stops waiting
// (see rcu/call_rcu.h), so that a retiring thread never deadlocks with it.
// With stall warnings off (an infinite timeout), nothing is watched and
// backpressure always waits.
#ifndef RCU_STALL_H_
#define RCU_STALL_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>

#include "absl/time/time.h"
#include "rcu/internal/chrono.h"

namespace rcu {

struct StallReport {
  enum class Kind {
    kReader,         // a read-side section blocks a grace period
    kCallback,       // an RCU callback holds up the callback thread
    kDomainReaders,  // sections of an rcu::Domain block its grace period
  };
  pid_t thread_id = 0;         // the kernel's thread id (gettid) of the reader,
                               // or of the callback thread
  std::string thread_name;     // pthread name, empty if unknown
  absl::Duration blocked_for;  // in that section, or in that callback
  Kind kind = Kind::kReader;
  // kCallback: the function the callback thread is running (symbolized
  // where possible: a lambda's CallRcu node, or a Retire() deleter), and
  // how many threads are waiting for it.
  std::string callback;
  int waiting_threads = 0;
  // kDomainReaders: the domain's name, and how many of its sections are
  // open (sections of a domain are not tied to threads: thread_id is 0).
  std::string domain;
  long long open_sections = 0;
};

using StallHandler = std::function<void(const StallReport&)>;

// Reports readers that block a grace period for longer than `timeout`
// (default 10 seconds). absl::InfiniteDuration() turns reports off.
void SetStallTimeout(absl::Duration timeout);
absl::Duration StallTimeout();

// The same with a std::chrono duration, for code that does not use Abseil's
// time types: `rcu::SetStallTimeout(std::chrono::seconds(2))`.
// `duration::max()` (say, std::chrono::seconds::max()) turns reports off.
template <typename Rep, typename Period>
void SetStallTimeout(std::chrono::duration<Rep, Period> timeout) {
  SetStallTimeout(internal::FromChrono(timeout));
}

// Installs `handler` (nullptr: the default, which writes one line to stderr)
// and returns the previous one. The handler runs on the watchdog thread and
// must not wait for grace periods or callbacks (Synchronize(), Barrier()).
// Reports already under way when this returns (on the watchdog thread, or a
// domain's grace period) may still call the previous handler: let a handler
// own what it uses (capture by value or by shared_ptr) rather than destroy
// that right after replacing it.
StallHandler SetStallHandler(StallHandler handler);

}  // namespace rcu

#endif  // RCU_STALL_H_
