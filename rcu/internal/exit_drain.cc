#include "rcu/internal/exit_drain.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "rcu/diagnostics.h"
#include "rcu/grace_period.h"
#include "rcu/internal/callback_list.h"
#include "rcu/internal/callback_worker.h"
#include "rcu/internal/callbacks.h"
#include "rcu/internal/fork_replaced.h"
#include "rcu/internal/rcu_head_access.h"
#include "rcu/internal/report.h"
#include "rcu/internal/retire_buffer.h"
#include "rcu/internal/runtime.h"
#include "rcu/read_guard.h"

namespace rcu {
namespace internal {
namespace {

// Rounds of "run everything, wait for the worker" at exit while callbacks
// keep queueing callbacks.
constexpr int kMaxDrainRounds = 64;

std::atomic<bool> drained{false};

// Callbacks queued by callbacks (NoteQueuedByCallback()), so that the drain
// knows when a round has started a chain.
std::atomic<std::uint64_t> queued_by_callbacks{0};

// See NoteQueuedForWorker().
thread_local bool worker_may_hold_own_callbacks = true;

// After-drain runs in progress, by ticket, in the order they took their work.
// After-drain runs in progress, in the order they took their work: each
// AfterDrainRun links itself in while it runs, so tracking allocates nothing.
struct Runs {
  std::mutex mu;
  std::condition_variable ended;
  std::uint64_t next_ticket = 0;     // guarded by mu
  AfterDrainRun* active = nullptr;   // guarded by mu: begun, not yet ended
};

// Replaced in a forked child, whose copy may list runs of threads that do
// not exist there.
ForkReplaced<Runs> the_runs;

Runs& GetRuns() { return the_runs.Get(); }

bool MayWaitHere() { return !InReadSection() && !in_callback; }

// What is left after static destructors: run it before the process is
// gone, so that nothing retired is leaked. Runs from the library's
// destructor function, after the C++ static destructors and atexit handlers
// of the program (glibc runs ELF destructors last, from _dl_fini).
__attribute__((destructor)) void RunWhatIsLeftAtExit() {
  if (!drained.load(std::memory_order_acquire) || !MayWaitHere()) return;
  if (PendingCallbacks() == 0 && BufferedRetirements() == 0) return;
  BarrierAfterDrain();
}

}  // namespace

bool DrainedAtExit() { return drained.load(std::memory_order_acquire); }

void DrainCallbacksAtExit() {
  drained.store(true, std::memory_order_seq_cst);
  if (InReadSection()) {
    Report(Diagnostic::Kind::kExitInReadSection, false,
           "rcu: exit() called inside a read-side critical section (a ReadGuard is alive "
           "on this thread); the callbacks pending at exit cannot wait for a grace period "
           "here, so they run at the very end of exit instead, after static destructors");
    return;
  }
  if (in_callback) return;  // exit() from a callback: the same, silently
  // Round after round while the callbacks run in a round queued more (a
  // chain); other threads' new work does not hold exit up.
  for (int round = 0; round < kMaxDrainRounds; ++round) {
    const std::uint64_t chained = queued_by_callbacks.load(std::memory_order_seq_cst);
    BarrierAfterDrain();
    if (queued_by_callbacks.load(std::memory_order_seq_cst) == chained) break;
  }
}

void NoteQueuedByCallback() {
  if (in_callback) queued_by_callbacks.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t AfterDrainRun::OldestActiveTicket() {
  std::uint64_t oldest = ~std::uint64_t{0};
  for (AfterDrainRun* r = GetRuns().active; r != nullptr; r = r->next_) {
    if (r->ticket_ < oldest) oldest = r->ticket_;
  }
  return oldest;
}

AfterDrainRun::~AfterDrainRun() {
  if (begun_) End();
}

void AfterDrainRun::Begin() {
  Runs& runs = GetRuns();
  std::lock_guard<std::mutex> lock(runs.mu);
  ticket_ = runs.next_ticket++;
  next_ = runs.active;
  prev_ = nullptr;
  if (next_ != nullptr) next_->prev_ = this;
  runs.active = this;
  begun_ = true;
}

void AfterDrainRun::End() {
  Runs& runs = GetRuns();
  {
    std::lock_guard<std::mutex> lock(runs.mu);
    if (prev_ != nullptr) prev_->next_ = next_;
    if (next_ != nullptr) next_->prev_ = prev_;
    if (runs.active == this) runs.active = next_;
  }
  runs.ended.notify_all();
  begun_ = false;
}

void AfterDrainRun::Run(CallbackList&& work) {
  Runs& runs = GetRuns();
  {
    // Kept where a fork() child can find it until each callback runs.
    std::lock_guard<std::mutex> lock(runs.mu);
    work_ = std::move(work);
  }
  if (!work_.empty()) Synchronize();
  // Whatever took work before this run was queued earlier, as was what this
  // thread queued for the worker: it runs first.
  {
    std::unique_lock<std::mutex> lock(runs.mu);
    runs.ended.wait(lock, [this] { return OldestActiveTicket() >= ticket_; });
  }
  if (worker_may_hold_own_callbacks) {
    WaitForQueuedCallbacks();
    worker_may_hold_own_callbacks = false;
  }
  while (true) {
    RcuHead* head;
    {
      std::lock_guard<std::mutex> lock(runs.mu);
      head = work_.PopFront(ItemsIn);
    }
    if (head == nullptr) break;
    RunCallback(head);
  }
  End();
}

void BarrierAfterDrain() {
  AfterDrainRun run;
  CallbackList work = TakeAllQueuedAfterDrain(run);
  worker_may_hold_own_callbacks = true;  // any thread's, for a barrier
  run.Run(std::move(work));
}

void NoteQueuedForWorker() { worker_may_hold_own_callbacks = true; }

void ExitDrainBeforeFork() { GetRuns().mu.lock(); }

void ExitDrainAfterForkParent() { GetRuns().mu.unlock(); }

// The runs in progress belong to threads that do not exist in the child:
// what they had not yet run goes to the child's worker, oldest run first.
std::uint64_t ExitDrainAfterForkChild() {
  Runs& old = the_runs.ReplaceInForkChild();
  old.mu.unlock();  // the forking thread holds it (ExitDrainBeforeFork)
  std::uint64_t items = 0;
  while (true) {
    AfterDrainRun* oldest = nullptr;
    for (AfterDrainRun* r = old.active; r != nullptr; r = r->next_) {
      if (!r->work_.empty() && (oldest == nullptr || r->ticket_ < oldest->ticket_)) oldest = r;
    }
    if (oldest == nullptr) break;
    items += oldest->work_.items();
    AdoptCallbacksInForkChild(std::move(oldest->work_));
  }
  return items;
}

}  // namespace internal
}  // namespace rcu
