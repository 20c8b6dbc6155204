// Allocation failure at every point of the RCU core's update paths, from its
// very first use in a process: each call either does its job or throws
// std::bad_alloc having done nothing (the caller keeps what it passed), and
// afterwards everything handed over is reclaimed exactly once and the
// library still works.
//
// Each n of the sweep runs in a fresh child process that has never used the
// library, so that the first use (the thread's registration, the callback
// worker's state and thread, the retire buffer) is swept too; the n-th
// allocation of the child's main thread fails. The test process itself never
// uses the library.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <new>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/rcu.h"
#include "tests/util/allocation_counter.h"
#include "tests/util/test_util.h"

namespace {

std::atomic<int> destroyed[3][100];  // [kind][index]: times reclaimed

struct Plain {
  Plain(int k, int i) : kind(k), index(i) {}
  ~Plain() { destroyed[kind][index].fetch_add(1); }
  int kind, index;
};

struct Intrusive : rcu::RcuObjBase<Intrusive> {
  explicit Intrusive(int i) : index(i) {}
  ~Intrusive() { destroyed[1][index].fetch_add(1); }
  int index;
};

struct CStyle {
  rcu::RcuHead head;  // first member: the callback casts back
  int index;
  static void Run(rcu::RcuHead* h) { destroyed[2][reinterpret_cast<CStyle*>(h)->index]++; }
};

// The child's work. Exit statuses: 0 passed, 100 the n-th allocation never
// came (the sweep is complete), others name the check that failed.
int Child(long n, bool and_later) {
  // Everything the test itself needs, allocated before the failure is armed.
  std::vector<Plain*> plain;
  std::vector<Intrusive*> intrusive;
  std::vector<CStyle> heads(100);
  for (int i = 0; i < 100; ++i) {
    plain.push_back(new Plain(0, i));
    intrusive.push_back(new Intrusive(i));
    heads[i].index = i;
  }
  std::vector<bool> handed[3];
  for (auto& h : handed) h.assign(100, false);
  int threw = 0;
  auto attempt = [&threw](auto fn) {
    try {
      fn();
      return true;
    } catch (const std::bad_alloc&) {
      ++threw;
      return false;
    }
  };

  rcu_test::FailNthAllocation(n, and_later);
  attempt([] { rcu::ReadGuard guard; });
  for (int i = 0; i < 70; ++i) {  // across a retire block's end
    handed[0][i] = attempt([&] { rcu::Retire(plain[i]); });
  }
  for (int i = 0; i < 10; ++i) {
    handed[1][i] = attempt([&] { rcu::Retire(intrusive[i]); });
    handed[2][i] = attempt([&] { rcu::CallRcu(&heads[i].head, &CStyle::Run); });
  }
  {
    std::atomic<int> lambdas{0};
    bool lambda_handed = attempt([&] { rcu::CallRcu([&lambdas] { lambdas.fetch_add(1); }); });
    attempt([] { (void)rcu::StartPoll(); });
    // Inside a read-side section nothing may wait, so failures there throw.
    attempt([&] {
      rcu::ReadGuard guard;
      for (int i = 70; i < 80; ++i) handed[0][i] = attempt([&] { rcu::Retire(plain[i]); });
      for (int i = 10; i < 20; ++i) {
        handed[1][i] = attempt([&] { rcu::Retire(intrusive[i]); });
        handed[2][i] = attempt([&] { rcu::CallRcu(&heads[i].head, &CStyle::Run); });
      }
    });
    attempt([] { rcu::Synchronize(); });
    attempt([] { rcu::Barrier(); });
    const bool injected = rcu_test::InjectedFailureHappened();
    rcu_test::FailNthAllocation(0);
    rcu::Barrier();
    if (lambda_handed && lambdas.load() != 1) return 5;
    if (!injected) return 100;
  }
  // Each object handed over was reclaimed once; the others never were.
  for (int kind = 0; kind < 3; ++kind) {
    for (int i = 0; i < 100; ++i) {
      const int times = destroyed[kind][i].load();
      if (times != (handed[kind][i] ? 1 : 0)) {
        std::fprintf(stderr, "n=%ld: kind %d object %d reclaimed %d times, handed over: %d\n", n,
                     kind, i, times, static_cast<int>(handed[kind][i]));
        return 2;
      }
    }
  }
  for (int i = 0; i < 100; ++i) {
    if (!handed[0][i]) delete plain[i];
    if (!handed[1][i]) delete intrusive[i];
  }
  // Nothing left pending, and the library still works.
  const rcu::Stats stats = rcu::GetStats();
  if (stats.callbacks_queued != stats.callbacks_invoked) return 3;
  const int before = destroyed[0][99].load();
  rcu::Retire(new Plain(0, 99));
  rcu::Barrier();
  if (destroyed[0][99].load() != before + 1) return 4;
  std::printf("n=%ld: %d calls threw bad_alloc\n", n, threw);
  std::fflush(stdout);
  return 0;
}

// Sweeps n: the n-th allocation fails, alone or with every later one (the
// memory has run out for good, until the child turns injection off).
void Sweep(bool and_later) {
  long n = 1;
  int swept = 0;
  for (;; ++n) {
    std::fflush(nullptr);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) std::_Exit(Child(n, and_later));
    int status = 0;
    ASSERT_TRUE(rcu_test::WaitForChild(pid, std::chrono::seconds(60), status)) << "n=" << n;
    ASSERT_TRUE(WIFEXITED(status)) << "n=" << n << ": died of signal " << WTERMSIG(status);
    if (WEXITSTATUS(status) == 100) break;
    ASSERT_EQ(WEXITSTATUS(status), 0) << "n=" << n << ": check " << WEXITSTATUS(status);
    ++swept;
    ASSERT_LT(n, 10000) << "the sweep does not end";
  }
  std::printf("swept %d allocation points from the first use on%s\n", swept,
              and_later ? ", each failing with every later one" : "");
  EXPECT_GT(swept, 5);
}

TEST(CoreAllocationFailureTest, EachAllocationFromTheFirstUseOn) { Sweep(false); }

TEST(CoreAllocationFailureTest, EveryAllocationFromSomePointOn) { Sweep(true); }

}  // namespace
