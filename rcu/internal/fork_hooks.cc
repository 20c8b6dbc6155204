// fork(): runs the stages' handlers (rcu/internal/fork_hooks.h) in order,
// and refuses the forks that could never complete.
#include "rcu/internal/fork_hooks.h"

#include <pthread.h>

#include "rcu/diagnostics.h"
#include "rcu/internal/callbacks.h"
#include "rcu/internal/checks.h"
#include "rcu/internal/report.h"
#include "rcu/read_guard.h"

namespace rcu {
namespace internal {
namespace {

constexpr int kStages = static_cast<int>(ForkStage::kCount);

// Written by static initializers (RegisterForkHandlers()), read by fork().
// Constant-initialized, so that a stage registered before this file's own
// initializers ran is not lost.
ForkHandlers stages[kStages];

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
  for (int i = 0; i < kStages; ++i) {
    if (stages[i].prepare != nullptr) stages[i].prepare();
  }
}

void AfterForkParent() {
  for (int i = kStages - 1; i >= 0; --i) {
    if (stages[i].parent != nullptr) stages[i].parent();
  }
}

void AfterForkChild() {
  ForkChildCallbacks inherited;
  for (int i = kStages - 1; i >= 0; --i) {
    if (stages[i].child != nullptr) stages[i].child(inherited);
  }
}

[[maybe_unused]] const bool fork_hooks_installed = [] {
  if (pthread_atfork(&BeforeFork, &AfterForkParent, &AfterForkChild) != 0) {
    CheckFailed("pthread_atfork failed; fork() would not be safe", __FILE__, __LINE__);
  }
  return true;
}();

}  // namespace

bool RegisterForkHandlers(ForkStage stage, ForkHandlers handlers) {
  const int i = static_cast<int>(stage);
  if (i < 0 || i >= kStages || stages[i].prepare != nullptr || stages[i].child != nullptr) {
    CheckFailed("RegisterForkHandlers: bad or repeated stage", __FILE__, __LINE__);
  }
  stages[i] = handlers;
  return true;
}

}  // namespace internal
}  // namespace rcu
