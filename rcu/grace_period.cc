// Synchronize() and polling grace-period cookies.
//
// liburcu 0.13 has no grace-period sequence numbers, so we keep our own
// tickets. Every grace period we start takes a ticket before it begins; when it
// ends it advances `completed_mark` past its ticket. A cookie holds the next
// ticket at the time it was taken, so it completes exactly when some grace
// period that took a ticket at or after it, and so began after it, has ended.
#include "rcu/grace_period.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <shared_mutex>

#include "rcu/call_rcu.h"
#include "rcu/diagnostics.h"
#include "rcu/internal/callback_worker.h"
#include "rcu/internal/runtime.h"
#include "rcu/internal/sanitizer.h"
#include "rcu/internal/urcu.h"
#include "rcu/read_guard.h"

namespace rcu {

struct CookieAccess {
  static GracePeriodCookie Make(std::uint64_t ticket) {
    GracePeriodCookie cookie;
    cookie.ticket_ = ticket;
    cookie.completed_ = false;
    return cookie;
  }
  static std::uint64_t Ticket(GracePeriodCookie c) { return c.ticket_; }
  static bool Completed(GracePeriodCookie c) { return c.completed_; }
};

namespace internal {
namespace {

// Tickets start 1000 short of wrapping around, so every process exercises
// the wrap-around arithmetic early on.
constexpr std::uint64_t kFirstTicket = ~std::uint64_t{0} - 1000;

// The next ticket to hand out.
std::atomic<std::uint64_t> next_ticket{kFirstTicket};
// One past the highest ticket whose grace period has ended (initially: none).
std::atomic<std::uint64_t> completed_mark{kFirstTicket};

// a > b, modulo 2^64 (valid while they are within 2^63 of each other).
bool After(std::uint64_t a, std::uint64_t b) {
  return static_cast<std::int64_t>(a - b) > 0;
}

// Held shared by every grace period we run, and exclusively across fork(), so
// that no thread is inside liburcu's synchronize_rcu() (and holding its
// internal lock) when the process forks.
std::atomic<std::shared_mutex*> fork_lock{nullptr};

std::shared_mutex& ForkLock() {
  std::shared_mutex* lock = fork_lock.load(std::memory_order_acquire);
  if (lock != nullptr) return *lock;
  auto* fresh = new std::shared_mutex;
  if (fork_lock.compare_exchange_strong(lock, fresh, std::memory_order_acq_rel)) return *fresh;
  delete fresh;
  return *lock;
}

std::uint64_t TakeTicket() {
  return next_ticket.fetch_add(1, std::memory_order_seq_cst);
}

void CompleteTicket(std::uint64_t ticket) {
  // Counted before the mark moves (and published by its release), so that
  // whoever sees a cookie complete also sees the grace period counted.
  Bump(GetCounters().grace_periods);
  const std::uint64_t mark = ticket + 1;
  std::uint64_t current = completed_mark.load(std::memory_order_relaxed);
  while (After(mark, current) &&
         !completed_mark.compare_exchange_weak(current, mark, std::memory_order_release,
                                               std::memory_order_relaxed)) {
  }
}

void CheckMayBlock(const char* what) {
  if (InReadSection()) {
    Report(Diagnostic::Kind::kSynchronizeInReadSection, true,
           std::string("rcu: ") + what +
               " called inside a read-side critical section (a ReadGuard is "
               "alive on this thread); it would wait for that guard forever. "
               "End the ReadGuard first, or use rcu::Retire()/rcu::CallRcu().");
  }
}

}  // namespace

void GracePeriodsBeforeFork() { ForkLock().lock(); }
void GracePeriodsAfterForkParent() { ForkLock().unlock(); }
// glibc's rwlock remembers its writer by thread id, which changed in the
// child, so it cannot be unlocked there: the child starts with a new one
// (the old one is leaked, once per fork).
void GracePeriodsAfterForkChild() {
  fork_lock.store(new std::shared_mutex, std::memory_order_release);
}

}  // namespace internal

void Synchronize() {
  internal::CheckMayBlock("rcu::Synchronize()");
  internal::EnsureProcessHooks();
  const std::uint64_t ticket = internal::TakeTicket();
  {
    std::shared_lock<std::shared_mutex> no_fork(internal::ForkLock());
    internal::GracePeriodWaitScope wait;
#ifndef RCU_INTERNAL_SKIP_GRACE_PERIODS_FOR_NEGATIVE_CONTROL
    urcu_memb_synchronize_rcu();
#endif
  }
  internal::CompleteTicket(ticket);
  internal::TsanGracePeriodEnd();
}

GracePeriodCookie GetState() {
  // A read-modify-write rather than a load, so that the caller's earlier
  // stores (typically the unpublishing of an object) are ordered before it.
  return CookieAccess::Make(internal::next_ticket.fetch_add(0, std::memory_order_seq_cst));
}

GracePeriodCookie StartPoll() {
  const std::uint64_t ticket = internal::TakeTicket();
  // A callback runs after a grace period that began after it was queued,
  // which is after the ticket was taken. Like Linux's, this never blocks: the
  // callback is exempt from the backlog limit.
  struct Completion : RcuHead {
    std::uint64_t ticket;
  };
  auto* completion = new Completion;
  completion->ticket = ticket;
  internal::CallRcuWithoutBackpressure(completion, [](RcuHead* head) {
    std::unique_ptr<Completion> done(static_cast<Completion*>(head));
    internal::CompleteTicket(done->ticket);
  });
  return CookieAccess::Make(ticket);
}

bool PollState(GracePeriodCookie cookie) {
  if (CookieAccess::Completed(cookie)) return true;
  const std::uint64_t mark = internal::completed_mark.load(std::memory_order_acquire);
  if (!internal::After(mark, CookieAccess::Ticket(cookie))) return false;
  internal::TsanGracePeriodEnd();
  return true;
}

void CondSynchronize(GracePeriodCookie cookie) {
  if (!PollState(cookie)) Synchronize();
}

GracePeriodCookie CompletedState() { return GracePeriodCookie(); }

}  // namespace rcu
