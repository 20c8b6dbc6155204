// Counters, and the process-wide fork and exit hooks.
#include "rcu/internal/runtime.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <mutex>

#include "rcu/diagnostics.h"
#include "rcu/internal/callback_worker.h"
#include "rcu/internal/callbacks.h"
#include "rcu/internal/checks.h"
#include "rcu/internal/exit_drain.h"
#include "rcu/internal/grace_periods.h"
#include "rcu/internal/report.h"
#include "rcu/internal/retire_buffer.h"
#include "rcu/internal/thread_registry.h"
#include "rcu/internal/watchdog.h"
#include "rcu/read_guard.h"
#include "rcu/stats.h"

namespace rcu {
namespace internal {
namespace {

// fork(). The child is a copy of the process with only the forking thread
// in it, so the prepare handler brings every piece of shared state to a
// point where that copy is consistent, and the child handlers rebuild what
// belonged to the other threads.
//
// Lock order. The first two steps wait: for the callback batch in progress
// and for the grace periods in progress, both of which wait for readers. A
// reader may take the library's locks inside its section (Retire() takes its
// retire buffer's lock, GetStats() the buffer registry's, a first Retire()
// both), so the forking thread takes no lock that a reader may want until
// nothing it waits for can be waiting for a reader. From the third step on,
// nothing waits for a reader or a callback, only for other threads' short
// critical sections.
// Set once the exit hook is installed; the slow path holds the mutex, which
// fork() also holds, so that no child inherits it half installed.
std::atomic<bool> exit_hook_installed{false};
std::mutex exit_hook_mu;

// The containers' fork hooks (RegisterContainerForkHooks). A slot is
// claimed, filled, then marked ready; fork() runs the ready ones. Constant-
// initialized, never destroyed.
ContainerForkHooks container_hooks[kMaxContainerForkHooks];
std::atomic<bool> container_hook_ready[kMaxContainerForkHooks];
std::atomic<int> container_hook_slots{0};

template <typename F>
void ForEachContainerHook(F f) {
  const int n = std::min(container_hook_slots.load(std::memory_order_acquire),
                         kMaxContainerForkHooks);
  for (int i = 0; i < n; ++i) {
    if (container_hook_ready[i].load(std::memory_order_acquire)) f(container_hooks[i]);
  }
}

void BeforeFork() {
  if (InReadSection()) {
    Report(Diagnostic::Kind::kForkInReadSection, true,
           "rcu: fork() called inside a read-side critical section (a ReadGuard is alive "
           "on this thread); fork() waits for grace periods in progress, which wait for "
           "that section. End the ReadGuard first.");
  }
  if (in_callback) {
    Report(Diagnostic::Kind::kBlockingInCallback, true,
           "rcu: fork() called from an RCU callback; fork() waits for the callback "
           "batch in progress, which is this one");
  }
  CallbackWorkerBeforeFork();  // 1. no callback batch in progress
  GracePeriodsBeforeFork();    // 2. no grace period in progress or starting
  // The containers' writers' locks: their holders wait for nothing the
  // steps above hold up, and none takes a lock of the steps below.
  ForEachContainerHook([](const ContainerForkHooks& h) { h.prepare(); });
  // 3. Locks, and the guards of lazily made statics: a thread may be
  // making one (its first use of the library) as the process forks, and a
  // child that inherits the guard taken would wait for it forever. Each
  // step below waits for those it uses.
  exit_hook_mu.lock();
  RetireBuffersBeforeFork();   // no retire buffer mid-change
  ExitDrainBeforeFork();       // no after-drain run mid-step (taken under buffers)
  WatchdogBeforeFork();
  RegistryBeforeFork();        // no reader registering or leaving
  DiagnosticsBeforeFork();
}

void AfterForkParent() {
  exit_hook_mu.unlock();
  ExitDrainAfterForkParent();
  DiagnosticsAfterForkParent();
  RegistryAfterForkParent();
  WatchdogAfterForkParent();
  RetireBuffersAfterForkParent();
  GracePeriodsAfterForkParent();
  CallbackWorkerAfterForkParent();
  ForEachContainerHook([](const ContainerForkHooks& h) { h.parent(); });
}

void AfterForkChild() {
  exit_hook_mu.unlock();  // the forking thread locked it
  DiagnosticsAfterForkChild();
  RegistryAfterForkChild();
  WatchdogAfterForkChild();
  GracePeriodsAfterForkChild();
  // The child's callbacks: what was queued for the worker (less the
  // Barrier() waits of other threads), plus the other threads' retire
  // buffers, adopted by the child's worker. Callbacks that other threads
  // had counted but not yet queued at the fork never arrive here, so the
  // counters are set to what really is pending.
  std::uint64_t queued = CallbackWorkerAfterForkChild();
  queued += ExitDrainAfterForkChild();
  queued += RetireBuffersAfterForkChild();
  CallbacksAfterForkChild();
  RecountCallbacksInForkChild(queued);
  ForEachContainerHook([](const ContainerForkHooks& h) { h.child(); });
}

// The fork hooks are installed when the library is loaded, not on its
// first use: a fork() that raced with the first use (from another thread)
// would otherwise run no hook, and the child could inherit that first use
// half done. Until the library is used they only take a few locks.
[[maybe_unused]] const bool fork_hooks_installed = [] {
  if (pthread_atfork(&BeforeFork, &AfterForkParent, &AfterForkChild) != 0) {
    CheckFailed("pthread_atfork failed; fork() would not be safe", __FILE__, __LINE__);
  }
  return true;
}();

// Constant-initialized and never destroyed (its members are atomics), so
// usable from any static initializer or destructor, and never half made.
Counters counters;

}  // namespace

void RegisterContainerForkHooks(const ContainerForkHooks& hooks) {
  const int slot = container_hook_slots.fetch_add(1, std::memory_order_acq_rel);
  if (slot >= kMaxContainerForkHooks) {
    CheckFailed("too many containers' fork hooks (kMaxContainerForkHooks)", __FILE__, __LINE__);
  }
  container_hooks[slot] = hooks;
  container_hook_ready[slot].store(true, std::memory_order_release);
}

Counters& GetCounters() { return counters; }

// On first use, not at load: the drain must run before the destructors of
// static objects constructed before that use (atexit handlers and those
// destructors run in reverse order of registration).
void EnsureProcessHooks() {
  if (exit_hook_installed.load(std::memory_order_acquire)) return;
  std::lock_guard<std::mutex> lock(exit_hook_mu);
  if (exit_hook_installed.load(std::memory_order_relaxed)) return;
  std::atexit(&DrainCallbacksAtExit);
  exit_hook_installed.store(true, std::memory_order_release);
}

}  // namespace internal

Stats GetStats() {
  const internal::Counters& c = internal::GetCounters();
  auto get = [](const std::atomic<std::uint64_t>& v) {
    return v.load(std::memory_order_relaxed);
  };
  Stats stats;
  stats.grace_periods = get(c.grace_periods);
  // Invoked before queued: both only grow, so invoked <= queued in the result.
  stats.callbacks_invoked = get(c.callbacks_invoked);
  stats.callbacks_queued = get(c.callbacks_queued);
  stats.callbacks_failed = get(c.callbacks_failed);
  stats.retirements_buffered = internal::BufferedRetirements();
  stats.backlog_waits = get(c.backlog_waits);
  stats.worker_wakeups = get(c.worker_wakeups);
  stats.stalls_reported = get(c.stalls_reported);
  stats.threads_registered = get(c.threads_registered);
  stats.threads_unregistered = get(c.threads_unregistered);
  stats.diagnostics_reported = get(c.diagnostics_reported);
  return stats;
}

}  // namespace rcu
