// The diagnostics channel: one handler for every misuse report of the core
// and of the containers built on it.
#include "rcu/diagnostics.h"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <utility>

#include "rcu/internal/checks.h"
#include "rcu/internal/report.h"
#include "rcu/internal/runtime.h"

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

}  // namespace

void Report(Diagnostic::Kind kind, bool fatal, std::string message) {
  Bump(GetCounters().diagnostics_reported);
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
  Report(Diagnostic::Kind::kCheckFailed, true,
         std::string("rcu: check failed: ") + message + " (" + file + ":" +
             std::to_string(line) + ")");
  std::abort();  // Report() has aborted already
}

void DiagnosticsBeforeFork() { GetDiagnosticState().mu.lock(); }

void DiagnosticsAfterForkParent() { GetDiagnosticState().mu.unlock(); }

// The forking thread locked it before the fork, so it may unlock it here.
void DiagnosticsAfterForkChild() { GetDiagnosticState().mu.unlock(); }

}  // namespace internal

DiagnosticHandler SetDiagnosticHandler(DiagnosticHandler handler) {
  internal::DiagnosticState& state = internal::GetDiagnosticState();
  std::lock_guard<std::mutex> lock(state.mu);
  std::swap(state.handler, handler);
  return handler;
}

}  // namespace rcu
