#include "rcu/internal/exit_drain.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>

#include "rcu/grace_period.h"
#include "rcu/internal/callback_list.h"
#include "rcu/internal/callback_worker.h"
#include "rcu/internal/callbacks.h"
#include "rcu/internal/fork_replaced.h"
#include "rcu/internal/rcu_head_access.h"
#include "rcu/internal/retire_buffer.h"
#include "rcu/internal/runtime.h"
#include "rcu/read_guard.h"

namespace rcu {
namespace internal {
namespace {

// Rounds of "run everything, wait for the worker" at exit while callbacks
// keep queueing callbacks.
constexpr int kMaxDrainRounds = 16;

std::atomic<bool> drained{false};

// See NoteQueuedForWorker().
thread_local bool worker_may_hold_own_callbacks = true;

// After-drain runs in progress, by ticket, in the order they took their work.
struct Runs {
  std::mutex mu;
  std::condition_variable ended;
  std::uint64_t next_ticket = 0;     // guarded by mu
  std::set<std::uint64_t> active;    // guarded by mu: begun, not yet ended
};

// Replaced in a forked child, whose copy may list runs of threads that do
// not exist there.
ForkReplaced<Runs> the_runs;

Runs& GetRuns() { return the_runs.Get(); }

void WaitForRunsBefore(std::uint64_t ticket) {
  Runs& runs = GetRuns();
  std::unique_lock<std::mutex> lock(runs.mu);
  runs.ended.wait(lock, [&] { return runs.active.empty() || *runs.active.begin() >= ticket; });
}

void EndRun(std::uint64_t ticket) {
  Runs& runs = GetRuns();
  {
    std::lock_guard<std::mutex> lock(runs.mu);
    runs.active.erase(ticket);
  }
  runs.ended.notify_all();
}

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
  if (!MayWaitHere()) return;  // exit() inside a section or a callback
  for (int round = 0; round < kMaxDrainRounds; ++round) {
    BarrierAfterDrain();
    if (PendingCallbacks() == 0) break;  // nothing queued meanwhile
  }
}

AfterDrainRun::~AfterDrainRun() {
  if (begun_) EndRun(ticket_);
}

void AfterDrainRun::Begin() {
  Runs& runs = GetRuns();
  std::lock_guard<std::mutex> lock(runs.mu);
  ticket_ = runs.next_ticket++;
  runs.active.insert(ticket_);
  begun_ = true;
}

void AfterDrainRun::Run(CallbackList&& work) {
  if (!work.empty()) Synchronize();
  // Whatever took work before this run was queued earlier, as was what this
  // thread queued for the worker: it runs first.
  WaitForRunsBefore(ticket_);
  if (worker_may_hold_own_callbacks) {
    WaitForQueuedCallbacks();
    worker_may_hold_own_callbacks = false;
  }
  RcuHead* head = work.TakeAll();
  while (head != nullptr) {
    RcuHead* next = RcuHeadAccess::Next(head);
    RunCallback(head);
    head = next;
  }
  EndRun(ticket_);
  begun_ = false;
}

void BarrierAfterDrain() {
  AfterDrainRun run;
  CallbackList work = TakeAllQueuedAfterDrain(run);
  worker_may_hold_own_callbacks = true;  // any thread's, for a barrier
  run.Run(std::move(work));
}

void NoteQueuedForWorker() { worker_may_hold_own_callbacks = true; }

void ExitDrainAfterForkChild() { the_runs.ReplaceInForkChild(); }

}  // namespace internal
}  // namespace rcu
