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
#include <string>

#include "absl/base/thread_annotations.h"
#include "rcu/call_rcu.h"
#include "rcu/diagnostics.h"
#include "rcu/internal/callback_worker.h"
#include "rcu/internal/callbacks.h"
#include "rcu/internal/cond_var.h"
#include "rcu/internal/fork_replaced.h"
#include "rcu/internal/exit_drain.h"
#include "rcu/internal/fork_hooks.h"
#include "rcu/internal/negative_control.h"
#include "rcu/internal/report.h"
#include "rcu/internal/counters.h"
#include "rcu/internal/sanitizer.h"
#include "rcu/internal/urcu.h"
#include "rcu/internal/watchdog.h"
#include "rcu/mutex.h"
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
bool After(std::uint64_t a, std::uint64_t b) { return static_cast<std::int64_t>(a - b) > 0; }

// Lets grace periods run, any number at once, or one fork() through, so that
// no thread is inside liburcu's synchronize_rcu() (holding its internal
// locks, or queued as one of its waiters) when the process forks. A fork
// waits for the grace periods in progress and holds new ones back
// meanwhile, so that a steady stream of them cannot starve it.
class ForkGate {
 public:
  // Holds the gate open for one grace period while it lives.
  class GracePeriod {
   public:
    explicit GracePeriod(ForkGate& gate) : gate_(gate) { gate_.EnterGracePeriod(); }
    ~GracePeriod() { gate_.ExitGracePeriod(); }
    GracePeriod(const GracePeriod&) = delete;
    GracePeriod& operator=(const GracePeriod&) = delete;

   private:
    ForkGate& gate_;
  };

  void EnterGracePeriod() {
    MutexLock lock(mu_);
    while (forks_waiting_ != 0) changed_.Wait(mu_);
    ++grace_periods_;
  }
  void ExitGracePeriod() {
    MutexLock lock(mu_);
    if (--grace_periods_ == 0 && forks_waiting_ > 0) changed_.SignalAll();
  }
  // Returns once no grace period runs; none starts until AllowGracePeriods().
  void HoldForFork() {
    MutexLock lock(mu_);
    ++forks_waiting_;
    while (grace_periods_ != 0) changed_.Wait(mu_);
  }
  void AllowGracePeriods() {
    MutexLock lock(mu_);
    --forks_waiting_;
    changed_.SignalAll();
  }

 private:
  Mutex mu_;
  CondVar changed_;
  int grace_periods_ ABSL_GUARDED_BY(mu_) = 0;  // running now
  int forks_waiting_ ABSL_GUARDED_BY(mu_) = 0;  // forks holding new ones back
};

// Replaced in a forked child, whose copy may count the parent's threads.
ForkReplaced<ForkGate> fork_gate;

ForkGate& GetForkGate() { return fork_gate.Get(); }

std::uint64_t TakeTicket() { return next_ticket.fetch_add(1, std::memory_order_seq_cst); }

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

// fork(): waits for the grace periods in progress (which wait for readers)
// and holds new ones back until after the fork, so that no thread is inside
// liburcu's synchronize_rcu() when the process forks. The child has no grace
// period in progress: it starts with a new gate.
void GracePeriodsBeforeFork() { GetForkGate().HoldForFork(); }
void GracePeriodsAfterForkParent() { GetForkGate().AllowGracePeriods(); }
void GracePeriodsAfterForkChild(ForkChildCallbacks&) { fork_gate.ReplaceInForkChild(); }

[[maybe_unused]] const bool fork_hooks_registered = RegisterForkHandlers(
    ForkStage::kGracePeriods,
    {&GracePeriodsBeforeFork, &GracePeriodsAfterForkParent, &GracePeriodsAfterForkChild});

}  // namespace

}  // namespace internal

void Synchronize() {
  internal::CheckMayBlock("rcu::Synchronize()");
  internal::EnsureExitDrainInstalled();
  const std::uint64_t ticket = internal::TakeTicket();
  {
    internal::ForkGate::GracePeriod through_gate(internal::GetForkGate());
    internal::GracePeriodWaitScope wait;
#if !RCU_BUG_PUT_BACK(SKIP_GRACE_PERIODS)
    urcu_memb_synchronize_rcu();
#endif
  }
  internal::CompleteTicket(ticket);
  internal::TsanGracePeriodEnd();
}

void SynchronizeExpedited() {
  internal::CheckMayBlock("rcu::SynchronizeExpedited()");
  // The plain grace period is already expedited (see the header).
  Synchronize();
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
  auto completion = std::make_unique<Completion>();
  completion->ticket = ticket;
  // Owned here until queued: if queueing throws (the core's first use could
  // not start its worker), the caller gets the exception and nothing leaks.
  internal::CallRcuWithoutBackpressure(completion.get(), [](RcuHead* head) {
    std::unique_ptr<Completion> done(static_cast<Completion*>(head));
    internal::CompleteTicket(done->ticket);
  });
  completion.release();
  return CookieAccess::Make(ticket);
}

bool PollState(GracePeriodCookie cookie) {
  if (CookieAccess::Completed(cookie)) return true;
  const std::uint64_t mark = internal::completed_mark.load(std::memory_order_acquire);
  if (!internal::After(mark, CookieAccess::Ticket(cookie))) {
    // A fork() child starts its callback worker on demand; StartPoll()'s
    // completion, inherited from the parent, waits for it.
    if (!internal::CallbackWorkerRunning()) internal::WakeIdleCallbackWorker();
    return false;
  }
  internal::TsanGracePeriodEnd();
  return true;
}

void CondSynchronize(GracePeriodCookie cookie) {
  if (!PollState(cookie)) Synchronize();
}

GracePeriodCookie CompletedState() { return GracePeriodCookie(); }

}  // namespace rcu
