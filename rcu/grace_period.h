// rcu/grace_period.h: waiting for grace periods, blocking or polling.
//
// A grace period has elapsed once every read-side critical section that was
// running when it started has ended. After that, nothing readers could reach
// through an unpublished pointer is still in use.
//
// Blocking:
//
//   Node* old = head.Exchange(next, mu);
//   rcu::Synchronize();   // wait for pre-existing readers
//   delete old;
//
// Polling, after Linux's get_state_synchronize_rcu() family: take a cookie,
// do other work, and check later whether a full grace period has elapsed
// since the cookie was taken:
//
//   rcu::GracePeriodCookie cookie = rcu::StartPoll();  // a grace period starts
//   ...
//   if (rcu::PollState(cookie)) delete old;            // or, to wait if needed:
//   rcu::CondSynchronize(cookie);                      // returns at once if done
//
// A cookie never reports a grace period that did not fully happen. Cookies are
// 64-bit tickets compared with wrap-around arithmetic; the counter starts just
// below its wrap point, so wrap-around is exercised in every process. A cookie
// older than 2^63 grace periods could read as not completed (never the
// reverse).
#ifndef RCU_GRACE_PERIOD_H_
#define RCU_GRACE_PERIOD_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <cstdint>

namespace rcu {

// Waits until every read-side critical section that began before the call
// has ended. Must not be called inside a read-side section (that would wait
// forever: diagnosed and fatal, see rcu/diagnostics.h). Not from a signal
// handler either: besides taking locks, a handler that interrupted its
// thread just as a section ended, before that end woke a grace period that
// sleeps waiting for it, would wait for a wake-up only the interrupted code
// can give. With idle readers it takes about a microsecond, as liburcu's own
// (bench/rcu_core_bench.cc).
void Synchronize();

// synchronize_rcu_expedited(). In the default domain it is Synchronize(),
// and says so rather than pretend: Synchronize() already takes the fastest
// path there is. liburcu's memb flavor ends a grace period with
// membarrier()'s expedited IPIs (no waiting for a scheduler tick), shares
// one grace period among concurrent callers, and, while a reader is busy,
// spins briefly and then sleeps on a futex that the reader's unlock wakes,
// so the wait ends as the reader leaves. There is nothing left to trade CPU
// for. (rcu::Domain's SynchronizeExpedited() does trade: see rcu/domain.h.)
// Measured: bench/domain_bench.cc, README.md "Domains".
void SynchronizeExpedited();

// An opaque snapshot of grace-period state. Copyable, comparable.
class GracePeriodCookie {
 public:
  // The default cookie reads as completed, like CompletedState().
  GracePeriodCookie() = default;

  friend bool operator==(GracePeriodCookie a, GracePeriodCookie b) {
    return a.completed_ == b.completed_ && (a.completed_ || a.ticket_ == b.ticket_);
  }
  friend bool operator!=(GracePeriodCookie a, GracePeriodCookie b) { return !(a == b); }

 private:
  friend struct CookieAccess;
  std::uint64_t ticket_ = 0;  // first grace-period ticket that counts for it
  bool completed_ = true;     // CompletedState(): always reads as completed
};

// get_state_synchronize_rcu: a cookie for "now". It completes once a grace
// period that starts after this call has ended. Starts nothing by itself.
GracePeriodCookie GetState();

// start_poll_synchronize_rcu: like GetState(), and also makes sure such a
// grace period starts, even if no other thread ever waits for one. Never
// blocks (it queues one small callback, exempt from the backlog limit).
GracePeriodCookie StartPoll();

// poll_state_synchronize_rcu: true once a full grace period has elapsed since
// `cookie` was taken. When it returns true, memory unpublished before the
// cookie was taken may be freed (the same ordering as after Synchronize()).
bool PollState(GracePeriodCookie cookie);

// cond_synchronize_rcu: returns at once if PollState(cookie), otherwise
// waits for a grace period. Same rules as Synchronize().
void CondSynchronize(GracePeriodCookie cookie);

// get_completed_synchronize_rcu: a cookie that always reads as completed.
GracePeriodCookie CompletedState();

// same_state_synchronize_rcu: cookies compare equal when taken with no grace
// period started in between (or both are CompletedState()).
inline bool SameState(GracePeriodCookie a, GracePeriodCookie b) { return a == b; }

}  // namespace rcu

#endif  // RCU_GRACE_PERIOD_H_
