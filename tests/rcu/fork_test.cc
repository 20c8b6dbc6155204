// fork(): the parent is unaffected and the child can read, retire,
// synchronize and poll, with the callback worker recreated for it.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/internal/retire_buffer.h"
#include "rcu/rcu.h"
#include "tests/util/test_util.h"

namespace {

std::atomic<int> destroyed{0};
struct Tracked {
  ~Tracked() { destroyed.fetch_add(1); }
};
// Objects retired by the child only (the parent's pending callbacks also run
// in the child, on the child's copy of the memory).
std::atomic<int> child_destroyed{0};
struct ChildTracked {
  ~ChildTracked() { child_destroyed.fetch_add(1); }
};

// Runs in the child; returns its exit status (0 on success).
int ChildWork(rcu::OwnedRcuPtr<int>& value, rcu::Mutex& mu) {
  {
    rcu::ReadGuard guard;
    if (*value.Dereference(guard) != 1) return 2;
  }
  for (int i = 0; i < 100; ++i) rcu::Retire(new ChildTracked);
  rcu::Barrier();
  if (child_destroyed.load() != 100) return 3;
  if (destroyed.load() != 100) return 6;  // the parent's, run in the child too
  {
    rcu::MutexLock lock(mu);
    value.Replace(std::make_unique<int>(2), mu);
  }
  rcu::Synchronize();
  const rcu::GracePeriodCookie cookie = rcu::StartPoll();
  rcu::CondSynchronize(cookie);
  if (!rcu::PollState(cookie)) return 4;
  std::thread reader([&] {  // new threads register in the child too
    rcu::ReadGuard guard;
    if (*value.Dereference(guard) != 2) std::_Exit(5);
  });
  reader.join();
  rcu::Synchronize();
  return 0;
}

TEST(ForkTest, ChildCanUseRcuAndParentIsUnaffected) {
  rcu::Mutex mu;
  rcu::OwnedRcuPtr<int> value(std::make_unique<int>(1));
  // Get the callback worker and a second registered thread going first.
  std::atomic<bool> stop{false};
  std::thread busy_reader([&] {
    while (!stop.load()) {
      rcu::ReadGuard guard;
    }
  });
  for (int i = 0; i < 100; ++i) rcu::Retire(new Tracked);

  for (int round = 0; round < 3; ++round) {
    fflush(nullptr);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) std::_Exit(ChildWork(value, mu));
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "child failed at step " << WEXITSTATUS(status);
  }

  stop.store(true);
  busy_reader.join();
  rcu::Barrier();
  EXPECT_EQ(destroyed.load(), 100);
  EXPECT_EQ(child_destroyed.load(), 0);
  {
    rcu::ReadGuard guard;
    EXPECT_EQ(*value.Dereference(guard), 1);  // the child's update stayed there
  }
  rcu::Synchronize();
}

// A thread other than the forking one has objects in its partial retire
// block at the fork. That thread does not exist in the child, so the child
// must adopt the block: its Barrier() reclaims them (in the child's copy of
// the memory), and the parent's copy is untouched.
TEST(ForkTest, ChildAdoptsOtherThreadsPartialRetireBlocks) {
  rcu::internal::SetRetireFlushDelayForTesting(std::chrono::hours(1));
  rcu::Barrier();  // restarts the worker's flush clock
  destroyed.store(0);
  std::atomic<bool> retired{false}, release{false};
  std::thread other([&] {
    for (int i = 0; i < 7; ++i) rcu::Retire(new Tracked);
    retired.store(true);
    while (!release.load()) std::this_thread::yield();
  });
  while (!retired.load()) std::this_thread::yield();
  ASSERT_EQ(rcu::GetStats().retirements_buffered, 7u);

  fflush(nullptr);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (rcu::GetStats().retirements_buffered != 0) std::_Exit(2);  // adopted
    rcu::Barrier();
    std::_Exit(destroyed.load() == 7 ? 0 : 3);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "child failed at step " << WEXITSTATUS(status);

  EXPECT_EQ(destroyed.load(), 0);  // the child's reclamation stayed there
  release.store(true);
  other.join();
  rcu::Barrier();
  EXPECT_EQ(destroyed.load(), 7);
  rcu::internal::SetRetireFlushDelayForTesting(std::chrono::milliseconds(10));
}

// Forks `count` times while `background` threads run; each child runs
// `child` and exits with its result. Fails if a fork hangs or a child fails.
template <typename Child>
void ForkRepeatedly(int count, Child child) {
  rcu_test::HangGuard hang(std::chrono::seconds(120), "forking");
  for (int i = 0; i < count; ++i) {
    fflush(nullptr);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) std::_Exit(child());
    int status = 0;
    ASSERT_TRUE(rcu_test::WaitForChild(pid, std::chrono::seconds(60), status))
        << "child " << i << " hung (its stacks are above)";
    ASSERT_TRUE(WIFEXITED(status)) << "child " << i << " died of signal " << WTERMSIG(status);
    ASSERT_EQ(WEXITSTATUS(status), 0) << "child " << i << " failed at step " << WEXITSTATUS(status);
  }
}

// What a child does to show it is healthy: new threads, every update path,
// a barrier that sees all of it, and a grace period.
int ChildUsesEveryUpdatePath() {
  child_destroyed.store(0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([] {
      rcu::ReadGuard guard;
      for (int i = 0; i < 10; ++i) rcu::Retire(new ChildTracked);
      rcu::CallRcu([] { child_destroyed.fetch_add(1); });
    });
  }
  for (std::thread& t : threads) t.join();
  rcu::Barrier();
  if (child_destroyed.load() != 33) return 2;
  rcu::Synchronize();
  const rcu::GracePeriodCookie cookie = rcu::StartPoll();
  rcu::CondSynchronize(cookie);
  if (!rcu::PollState(cookie)) return 3;
  return 0;
}

// Readers retire, queue callbacks, read the counters and start their first
// retire block inside their read-side sections while other threads wait for
// grace periods. fork() must neither deadlock against them nor leave the
// child unable to reclaim.
TEST(ForkTest, ForkWhileReadersRetireInsideSectionsAndGracePeriodsRun) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&] {
      for (int i = 0; !stop.load(); ++i) {
        {
          rcu::ReadGuard guard;
          rcu::Retire(new Tracked);
          rcu::CallRcu([] {});
          (void)rcu::GetStats();
        }
        // Threads inside sections are never held by backpressure; this
        // one, outside, keeps the backlog (which each child inherits) bounded.
        if (i % 16 == 0) rcu::CallRcu([] {});
      }
    });
  }
  threads.emplace_back([&] {  // short-lived threads: first Retire() in a section
    while (!stop.load()) {
      std::thread([] {
        rcu::ReadGuard guard;
        rcu::Retire(new Tracked);
      }).join();
    }
  });
  threads.emplace_back([&] {
    while (!stop.load()) rcu::Synchronize();
  });
  ForkRepeatedly(40, &ChildUsesEveryUpdatePath);
  stop.store(true);
  for (std::thread& t : threads) t.join();
  rcu::Barrier();
}

// Barrier() queues a node on its caller's stack; a child must not inherit
// it, since the waiting thread does not exist there.
TEST(ForkTest, ForkWhileAnotherThreadIsInBarrier) {
  std::atomic<bool> stop{false};
  std::thread barrier_loop([&] {
    while (!stop.load()) {
      rcu::Retire(new Tracked);
      rcu::Barrier();
    }
  });
  ForkRepeatedly(80, &ChildUsesEveryUpdatePath);
  stop.store(true);
  barrier_loop.join();
  rcu::Barrier();
}

}  // namespace
