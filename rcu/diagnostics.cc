// The diagnostics channel: one handler for every misuse report of the core
// and of the containers built on it.
#include "rcu/diagnostics.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "rcu/internal/checks.h"
#include "rcu/internal/report.h"
#include "rcu/internal/counters.h"
#include "rcu/internal/fork_hooks.h"
#include "rcu/mutex.h"

namespace rcu {
namespace internal {
namespace {

struct DiagnosticState {
  Mutex mu;
  DiagnosticHandler handler ABSL_GUARDED_BY(mu);  // empty means the default
};

DiagnosticState& GetDiagnosticState() {
  static DiagnosticState* state = new DiagnosticState;
  return *state;
}

}  // namespace

void Report(Diagnostic::Kind kind, bool fatal, std::string message) {
  Bump(GetCounters().diagnostics_reported);
  DiagnosticHandler handler;
  {
    DiagnosticState& state = GetDiagnosticState();
    MutexLock lock(state.mu);
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
  Report(Diagnostic::Kind::kCheckFailed, true,
         std::string("rcu: check failed: ") + message + " (" + file + ":" + std::to_string(line) +
             ")");
  std::abort();  // Report() has aborted already
}

namespace {

// fork(): the channel's lock is held across it, so that the child never
// inherits it locked by a thread that does not exist there.
void DiagnosticsBeforeFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { GetDiagnosticState().mu.Lock(); }

void DiagnosticsAfterForkParent() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  GetDiagnosticState().mu.Unlock();
}

// The forking thread locked it before the fork, so it may unlock it here.
void DiagnosticsAfterForkChild(ForkChildCallbacks&) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  GetDiagnosticState().mu.Unlock();
}

[[maybe_unused]] const bool fork_hooks_registered = RegisterForkHandlers(
    ForkStage::kDiagnostics,
    {&DiagnosticsBeforeFork, &DiagnosticsAfterForkParent, &DiagnosticsAfterForkChild});

}  // namespace

}  // namespace internal

DiagnosticHandler SetDiagnosticHandler(DiagnosticHandler handler) {
  internal::DiagnosticState& state = internal::GetDiagnosticState();
  MutexLock lock(state.mu);
  std::swap(state.handler, handler);
  return handler;
}

}  // namespace rcu
