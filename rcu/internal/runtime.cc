// Counters, diagnostics, and the process-wide fork and exit hooks.
#include "rcu/internal/runtime.h"

#include <pthread.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <utility>

#include "rcu/call_rcu.h"
#include "rcu/diagnostics.h"
#include "rcu/internal/callback_worker.h"
#include "rcu/internal/checks.h"
#include "rcu/internal/retire_buffer.h"
#include "rcu/stats.h"

namespace rcu {
namespace internal {
namespace {

struct DiagnosticState {
  std::mutex mu;
  DiagnosticHandler handler;  // guarded by mu; empty means the default
};

DiagnosticState& GetDiagnosticState() {
  static DiagnosticState* state = new DiagnosticState;
  return *state;
}

void BeforeFork() {
  CallbackWorkerBeforeFork();
  RetireBuffersBeforeFork();  // after the worker: its callbacks may retire
  GracePeriodsBeforeFork();
  WatchdogBeforeFork();
  RegistryBeforeFork();
}

void AfterForkParent() {
  RegistryAfterForkParent();
  WatchdogAfterForkParent();
  GracePeriodsAfterForkParent();
  RetireBuffersAfterForkParent();
  CallbackWorkerAfterForkParent();
}

void AfterForkChild() {
  RegistryAfterForkChild();
  WatchdogAfterForkChild();
  BacklogAfterForkChild();
  GracePeriodsAfterForkChild();
  CallbackWorkerAfterForkChild();
  RetireBuffersAfterForkChild();  // queues onto the child's worker
}

}  // namespace

Counters& GetCounters() {
  static Counters* counters = new Counters;
  return *counters;
}

void Report(Diagnostic::Kind kind, bool fatal, std::string message) {
  DiagnosticHandler handler;
  {
    DiagnosticState& state = GetDiagnosticState();
    std::lock_guard<std::mutex> lock(state.mu);
    handler = state.handler;
  }
  Diagnostic diagnostic{kind, fatal, std::move(message)};
  if (handler) {
    handler(diagnostic);
  } else {
    std::fprintf(stderr, "%s\n", diagnostic.message.c_str());
    std::fflush(stderr);
  }
  if (fatal) std::abort();
}

void CheckFailed(const char* message, const char* file, int line) {
  std::fprintf(stderr, "rcu: check failed: %s (%s:%d)\n", message, file, line);
  std::fflush(stderr);
  std::abort();
}

void DrainCallbacksAtExit();  // call_rcu.cc

void EnsureProcessHooks() {
  static std::once_flag once;
  std::call_once(once, [] {
    pthread_atfork(&BeforeFork, &AfterForkParent, &AfterForkChild);
    std::atexit(&DrainCallbacksAtExit);
  });
}

}  // namespace internal

DiagnosticHandler SetDiagnosticHandler(DiagnosticHandler handler) {
  internal::DiagnosticState& state = internal::GetDiagnosticState();
  std::lock_guard<std::mutex> lock(state.mu);
  std::swap(state.handler, handler);
  return handler;
}

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
  return stats;
}

}  // namespace rcu
