#include "rcu/internal/exit_drain.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>

#include "absl/base/thread_annotations.h"
#include "rcu/diagnostics.h"
#include "rcu/grace_period.h"
#include "rcu/internal/callback_list.h"
#include "rcu/internal/callback_worker.h"
#include "rcu/internal/callbacks.h"
#include "rcu/internal/cond_var.h"
#include "rcu/internal/fork_hooks.h"
#include "rcu/internal/fork_replaced.h"
#include "rcu/internal/rcu_head_access.h"
#include "rcu/internal/report.h"
#include "rcu/internal/retire_buffer.h"
#include "rcu/internal/counters.h"
#include "rcu/mutex.h"
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

// After-drain runs in progress, in the order they took their work: each
// AfterDrainRun links itself in while it runs, so tracking allocates nothing.
struct Runs {
  Mutex mu;
  CondVar ended;
  std::uint64_t next_ticket ABSL_GUARDED_BY(mu) = 0;
  AfterDrainRun* active ABSL_GUARDED_BY(mu) = nullptr;  // begun, not yet ended
};

// Replaced in a forked child, whose copy may list runs of threads that do
// not exist there.
ForkReplaced<Runs> the_runs;

// Set once DrainCallbacksAtExit() is registered with atexit(); the slow path
// holds the lock.
std::atomic<bool> exit_hook_installed{false};
ABSL_CONST_INIT Mutex exit_hook_mu;

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

std::uint64_t AfterDrainRun::OldestTicket(const AfterDrainRun* active) {
  std::uint64_t oldest = ~std::uint64_t{0};
  for (const AfterDrainRun* r = active; r != nullptr; r = r->next_) {
    if (r->ticket_ < oldest) oldest = r->ticket_;
  }
  return oldest;
}

AfterDrainRun::~AfterDrainRun() {
  if (begun_) End();
}

void AfterDrainRun::Begin() {
  Runs& runs = GetRuns();
  MutexLock lock(runs.mu);
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
    MutexLock lock(runs.mu);
    if (prev_ != nullptr) prev_->next_ = next_;
    if (next_ != nullptr) next_->prev_ = prev_;
    if (runs.active == this) runs.active = next_;
  }
  runs.ended.SignalAll();
  begun_ = false;
}

void AfterDrainRun::Run(CallbackList&& work) {
  Runs& runs = GetRuns();
  {
    // Kept where a fork() child can find it until each callback runs.
    MutexLock lock(runs.mu);
    work_ = std::move(work);
  }
  if (!work_.empty()) Synchronize();
  // Whatever took work before this run was queued earlier, as was what this
  // thread queued for the worker: it runs first.
  {
    MutexLock lock(runs.mu);
    while (OldestTicket(runs.active) < ticket_) runs.ended.Wait(runs.mu);
  }
  if (worker_may_hold_own_callbacks) {
    WaitForQueuedCallbacks();
    worker_may_hold_own_callbacks = false;
  }
  while (true) {
    RcuHead* head;
    {
      MutexLock lock(runs.mu);
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

void EnsureExitDrainInstalled() {
  if (exit_hook_installed.load(std::memory_order_acquire)) return;
  MutexLock lock(exit_hook_mu);
  if (exit_hook_installed.load(std::memory_order_relaxed)) return;
  std::atexit(&DrainCallbacksAtExit);
  exit_hook_installed.store(true, std::memory_order_release);
}

// The runs in progress belong to threads that do not exist in the child:
// what they had not yet run goes to the child's worker, oldest run first.
void ExitDrainRunsAfterForkChild(ForkChildCallbacks& inherited) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Runs& old = the_runs.ReplaceInForkChild();
  old.mu.Unlock();  // the forking thread holds it (stage kExitDrainRuns)
  while (true) {
    AfterDrainRun* oldest = nullptr;
    for (AfterDrainRun* r = old.active; r != nullptr; r = r->next_) {
      if (!r->work_.empty() && (oldest == nullptr || r->ticket_ < oldest->ticket_)) oldest = r;
    }
    if (oldest == nullptr) break;
    inherited.orphaned.Append(std::move(oldest->work_));
  }
}

namespace {

// The exit hook's lock is held across fork(), so that no child inherits
// the hook half installed; the runs' lock, so that no child inherits a run
// mid-step.
void ExitHookBeforeFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { exit_hook_mu.Lock(); }
void ExitHookAfterFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { exit_hook_mu.Unlock(); }
void ExitHookAfterForkChild(ForkChildCallbacks&) { ExitHookAfterFork(); }
void RunsBeforeFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { GetRuns().mu.Lock(); }
void RunsAfterForkParent() ABSL_NO_THREAD_SAFETY_ANALYSIS { GetRuns().mu.Unlock(); }

[[maybe_unused]] const bool fork_hooks_registered =
    RegisterForkHandlers(ForkStage::kExitHook,
                         {&ExitHookBeforeFork, &ExitHookAfterFork, &ExitHookAfterForkChild}) &&
    RegisterForkHandlers(ForkStage::kExitDrainRuns,
                         {&RunsBeforeFork, &RunsAfterForkParent, &ExitDrainRunsAfterForkChild});

}  // namespace

}  // namespace internal
}  // namespace rcu
