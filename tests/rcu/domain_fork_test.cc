// fork() and rcu::Domain (rcu/domain.h, "Rules", fork): a domain is carried
// into the child as it is; grace periods and callbacks of a domain with no
// section open in the child work there (nothing waits for threads that do
// not exist); a domain whose sections were open in vanished threads reports
// its stalled grace periods rather than hang silently; callbacks pending at
// the fork run in the child too.
//
// Each child is bounded: a hang prints its stacks and fails the test.
// Default and clang configs only (see fork_test in BUILD).
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rcu/domain.h"
#include "rcu/stall.h"
#include "tests/util/notification.h"
#include "tests/util/test_util.h"

namespace {

using rcu_test::Notification;

// In a child: returns 0 if `domain`'s update side works (every call
// returns, callbacks run, cookies complete), else a check number.
int UpdateSideWorks(rcu::Domain& domain) {
  domain.Synchronize();
  domain.SynchronizeExpedited();
  rcu::Domain::Cookie cookie = domain.GetState();
  domain.CondSynchronize(cookie);
  if (!domain.PollState(cookie)) return 11;
  std::atomic<int> ran{0};
  for (int i = 0; i < 100; ++i) domain.CallRcu([&ran] { ran.fetch_add(1); });
  domain.Barrier();
  if (ran.load() != 100) return 12;
  rcu::Domain::Cookie polled = domain.StartPoll();
  if (!rcu_test::Eventually([&] { return domain.PollState(polled); })) return 13;
  {
    rcu::Domain::ReadGuard guard(domain);
    rcu::Domain::ReadToken token = domain.BeginRead();
  }
  domain.Synchronize();
  return 0;
}

// Other threads run grace periods, callbacks (slow ones, so that forks land
// inside batches), polls and barriers of `busy`; hold guards and tokens of
// `held`; and create and destroy domains. The child: `busy` and a new
// domain work; `held`, whose sections vanished with their threads, reports
// a stall instead of hanging silently.
TEST(DomainForkTest, ForkWhileOtherThreadsUseDomains) {
  rcu::Domain busy(rcu::Domain::Options{"busy"});
  rcu::Domain::Options held_options;
  held_options.name = "held";
  held_options.stall_timeout = absl::Milliseconds(100);
  rcu::Domain held(held_options);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    for (int i = 0; !stop.load(); ++i) {
      if (i % 3 == 0) busy.Synchronize();
      if (i % 3 == 1) busy.SynchronizeExpedited();
      if (i % 3 == 2) (void)busy.StartPoll();
    }
  });
  threads.emplace_back([&] {
    for (int i = 0; !stop.load(); ++i) {
      busy.CallRcu([] {
        for (volatile int spin = 0; spin < 20000; spin = spin + 1) {
        }
      });
      if (i % 16 == 0) busy.Barrier();
    }
  });
  threads.emplace_back([&] {  // always inside a section of `held`
    rcu::Domain::ReadToken relay = held.BeginRead();
    while (!stop.load()) {
      rcu::Domain::ReadGuard guard(held);
      relay = held.BeginRead();
    }
  });
  threads.emplace_back([&] {
    while (!stop.load()) {
      rcu::Domain transient(rcu::Domain::Options{"transient"});
      transient.CallRcu([] {});
      rcu::Domain::ReadGuard guard(transient);
    }
  });

  int forks = 0;
  for (; forks < 30; ++forks) {
    std::fflush(nullptr);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      std::atomic<int> held_stalls{0};
      rcu::SetStallHandler([&held_stalls](const rcu::StallReport& r) {
        if (r.kind == rcu::StallReport::Kind::kDomainReaders && r.domain == "held" &&
            r.open_sections > 0) {
          held_stalls.fetch_add(1);
        }
      });
      if (const int check = UpdateSideWorks(busy)) std::_Exit(check);
      rcu::Domain fresh(rcu::Domain::Options{"fresh"});
      if (const int check = UpdateSideWorks(fresh)) std::_Exit(20 + check);
      // `held`: its grace period completes (no section was open at the
      // fork) or reports a stall; it never hangs silently.
      rcu::Domain::Cookie cookie = held.StartPoll();
      if (!rcu_test::Eventually([&] { return held.PollState(cookie) || held_stalls.load() > 0; })) {
        std::_Exit(40);
      }
      std::_Exit(0);
    }
    int status = 0;
    ASSERT_TRUE(rcu_test::WaitForChild(pid, std::chrono::seconds(60), status)) << "fork " << forks;
    ASSERT_TRUE(WIFEXITED(status)) << "fork " << forks << ": signal " << WTERMSIG(status);
    ASSERT_EQ(WEXITSTATUS(status), 0) << "fork " << forks << ": check " << WEXITSTATUS(status);
  }
  stop.store(true);
  for (std::thread& t : threads) t.join();
  std::printf("%d children used the domains after forks amid their use\n", forks);
}

// The forking thread inside a guard of the domain: the child's copy of that
// section ends when the child's guard does, and then the domain works.
TEST(DomainForkTest, ForkInsideOwnGuard) {
  rcu::Domain domain;
  std::fflush(nullptr);
  pid_t pid;
  {
    rcu::Domain::ReadGuard guard(domain);
    pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0 && !domain.InReadSection()) std::_Exit(1);
  }
  if (pid == 0) std::_Exit(UpdateSideWorks(domain));
  int status = 0;
  ASSERT_TRUE(rcu_test::WaitForChild(pid, std::chrono::seconds(60), status));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(UpdateSideWorks(domain), 0);
}

// Callbacks that the worker has taken as its batch, waiting for a grace
// period that the forking thread's own token holds up: each process runs
// its own copy of them once the token ends there.
TEST(DomainForkTest, BatchWaitingAtForkRunsInBothProcesses) {
  rcu::Domain::Options options;
  options.name = "batch-at-fork";
  options.stall_timeout = absl::Milliseconds(50);
  rcu::Domain domain(options);
  std::atomic<int> stalls{0};
  rcu::StallHandler previous = rcu::SetStallHandler([&stalls](const rcu::StallReport& r) {
    if (r.domain == "batch-at-fork") stalls.fetch_add(1);
  });
  std::atomic<int> ran{0};
  rcu::Domain::ReadToken token = domain.BeginRead();
  for (int i = 0; i < 10; ++i) domain.CallRcu([&ran] { ran.fetch_add(1); });
  // The worker took them and waits: its grace period reports the stall.
  ASSERT_TRUE(rcu_test::Eventually([&] { return stalls.load() > 0; }));
  std::fflush(nullptr);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    token.End();
    domain.Barrier();
    std::_Exit(ran.load() == 10 ? 0 : 1);
  }
  int status = 0;
  ASSERT_TRUE(rcu_test::WaitForChild(pid, std::chrono::seconds(60), status));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child did not run the batch pending at the fork";
  token.End();
  domain.Barrier();
  EXPECT_EQ(ran.load(), 10);
  rcu::SetStallHandler(previous);
}

}  // namespace
