// The lists' retire paths are noexcept (NodeRetireBatch::Flush,
// DisposalBatch::Submit), and the core's first use in a process may have to
// set up its callback machinery (issue 10's outside review, bug 8: that
// threw std::bad_alloc through them, and the process terminated). Each case
// runs in a fresh child process, the core's first use, with every
// allocation from the n-th on failing; the child must return or throw
// std::bad_alloc (from an allocation of its own), never die.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <new>
#include <string>

#include "containers/intrusive_rcu_list.h"
#include "containers/rcu_list.h"
#include "gtest/gtest.h"
#include "rcu/mutex.h"
#include "tests/util/allocation_counter.h"

namespace {

struct Obj {
  int v = 0;
  rcu::IntrusiveListHook hook;
};

// Returns "ok", "threw", or how the child died.
std::string InFreshProcess(const std::function<void()>& op, long n) {
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    rcu_test::FailNthAllocation(n, /*and_later=*/true);
    int code = 0;
    try {
      op();
    } catch (const std::bad_alloc&) {
      code = 3;
    }
    const bool injected = rcu_test::InjectedFailureHappened();
    rcu_test::FailNthAllocation(0);
    _exit(code + (injected ? 0 : 10));
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  const int code = WEXITSTATUS(status);
  return std::string(code % 10 == 3 ? "threw" : "returned") + (code >= 10 ? " (no fault)" : "");
}

void Sweep(const char* what, const std::function<void()>& op, int& crashes) {
  for (long n = 1; n <= 12; ++n) {
    const std::string result = InFreshProcess(op, n);
    std::printf("%-40s allocation #%ld+ fails: %s\n", what, n, result.c_str());
    if (result.rfind("killed", 0) == 0) ++crashes;
    if (result.find("no fault") != std::string::npos) break;
  }
}

// Built before any fault is armed (and before the core is used: building
// and linking touch no RCU machinery).
rcu::RcuList<int>* list_for_clear;
rcu::Mutex ext_mu;
rcu::ExternallyLockedRcuList<int>* ext_list;
rcu::IntrusiveRcuList<Obj, &Obj::hook>* intrusive_list;
Obj* objs = new Obj[3];  // leaked: the parent never unlinks them

TEST(ListFirstUseAllocationTest, RetiringNeverTerminates) {
  list_for_clear = new rcu::RcuList<int>{1, 2, 3};
  ext_list = new rcu::ExternallyLockedRcuList<int>;
  intrusive_list = new rcu::IntrusiveRcuList<Obj, &Obj::hook>;
  {
    rcu::MutexLock lock(ext_mu);
    ext_list->push_back(ext_mu, 1);
    for (int i = 0; i < 3; ++i) intrusive_list->push_back(ext_mu, objs[i]);
  }
  int crashes = 0;
  Sweep(
      "RcuList::clear()", [] { list_for_clear->clear(); }, crashes);
  Sweep(
      "ExternallyLockedRcuList::clear(mu)",
      [] {
        rcu::MutexLock lock(ext_mu);
        ext_list->clear(ext_mu);
      },
      crashes);
  Sweep(
      "IntrusiveRcuList::remove_if(mu, ...)",
      [] {
        rcu::MutexLock lock(ext_mu);
        intrusive_list->remove_if(
            ext_mu, [](const Obj&) { return true; }, [](Obj*) {});
      },
      crashes);
  EXPECT_EQ(crashes, 0);
}

}  // namespace
