// fork() while other threads use the library for the first time: the first
// use makes the library's lazily built state (thread registries, the
// callback worker, the exit hook), and a child must never inherit any of it
// half made. Each trial is a fresh process that has not used the library:
// its threads make their first calls while its main thread forks at once.
//
// The test process itself never uses the library outside its trials.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/rcu.h"
#include "tests/util/test_util.h"

namespace {

struct Tracked {
  ~Tracked() { destroyed.fetch_add(1); }
  static std::atomic<int> destroyed;
};
std::atomic<int> Tracked::destroyed{0};

// What each of a trial's threads does first: every kind of first call.
void FirstUse(int kind) {
  switch (kind % 5) {
    case 0: {
      rcu::ReadGuard guard;
      break;
    }
    case 1:
      rcu::Retire(new Tracked);
      break;
    case 2:
      rcu::CallRcu([] {});
      break;
    case 3:
      rcu::Synchronize();
      break;
    default:
      (void)rcu::GetStats();
      break;
  }
}

// The grandchild: uses the library fully, from new threads too.
int Grandchild() {
  Tracked::destroyed.store(0);
  std::thread t([] {
    rcu::ReadGuard guard;
    for (int i = 0; i < 10; ++i) rcu::Retire(new Tracked);
  });
  t.join();
  rcu::Synchronize();
  rcu::Barrier();
  return Tracked::destroyed.load() >= 10 ? 0 : 2;
}

// One trial, in a fresh process: returns its exit status.
int Trial(int seed) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, seed, &ready, &go] {
      ready.fetch_add(1);
      while (!go.load()) {
      }
      FirstUse(t + seed);
    });
  }
  while (ready.load() < 4) std::this_thread::yield();
  go.store(true);
  const pid_t pid = fork();  // while the threads make their first calls
  if (pid == 0) std::_Exit(Grandchild());
  int status = 0;
  const bool ended = rcu_test::WaitForChild(pid, std::chrono::seconds(30), status);
  for (std::thread& t : threads) t.join();
  if (!ended) return 3;
  if (!WIFEXITED(status)) return 4;
  return WEXITSTATUS(status);
}

TEST(ForkFirstUseTest, ForkRacingTheFirstUseLeavesAUsableChild) {
  constexpr int kTrials = 300;
  int failed = 0;
  for (int i = 0; i < kTrials; ++i) {
    std::fflush(nullptr);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) std::_Exit(Trial(i));
    int status = 0;
    ASSERT_TRUE(rcu_test::WaitForChild(pid, std::chrono::seconds(60), status));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      ++failed;
      std::printf("trial %d: %s %d\n", i, WIFEXITED(status) ? "status" : "signal",
                  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    }
  }
  std::printf("%d trials, %d failed\n", kTrials, failed);
  EXPECT_EQ(failed, 0);
}

}  // namespace
