// Allocation failure at every point of rcu::Domain's paths, from the first
// use of a domain on a thread: its slot chunk (a thread without one reads
// through the domain's shared slot), a domain constructed under failure,
// tokens, Retire() with and without a node, CallRcu(), polling, grace
// periods, Barrier(). Each call either does its job or throws std::bad_alloc
// having done nothing; afterwards everything handed over is reclaimed
// exactly once, the counts of sections balance (a domain's destructor checks:
// fatal otherwise), and the domain still works.
//
// Each n of the sweep runs in a fresh child process, in which the n-th
// allocation of the main thread fails (alone, or with every later one).
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <new>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rcu/domain.h"
#include "rcu/stall.h"
#include "tests/util/allocation_counter.h"
#include "tests/util/test_util.h"

namespace {

std::atomic<int> destroyed[3][40];  // [kind][index]: times reclaimed

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

// Exit statuses: 0 passed, 100 the n-th allocation never came (the sweep is
// complete), others name the check that failed.
int Child(long n, bool and_later) {
  rcu::Domain domain(rcu::Domain::Options{"swept"});
  std::vector<Plain*> plain;
  std::vector<Intrusive*> intrusive;
  std::vector<CStyle> heads(40);
  for (int i = 0; i < 40; ++i) {
    plain.push_back(new Plain(0, i));
    intrusive.push_back(new Intrusive(i));
    heads[i].index = i;
  }
  std::vector<bool> handed[3];
  for (auto& h : handed) h.assign(40, false);
  std::atomic<int> lambdas{0};
  bool lambda_handed = false;
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
  // This thread's first section of the domain: its chunk of slots.
  attempt([&] { rcu::Domain::ReadGuard guard(domain); });
  rcu::Domain::ReadToken token;
  attempt([&] { token = domain.BeginRead(); });
  token.End();
  for (int i = 0; i < 10; ++i) {
    handed[0][i] = attempt([&] { domain.Retire(plain[i]); });
    handed[1][i] = attempt([&] { domain.Retire(intrusive[i]); });
    handed[2][i] = attempt([&] { domain.CallRcu(&heads[i].head, &CStyle::Run); });
  }
  lambda_handed = attempt([&] { domain.CallRcu([&lambdas] { lambdas.fetch_add(1); }); });
  attempt([&] { (void)domain.StartPoll(); });
  // Inside a guard nothing may wait, so a failed node throws.
  attempt([&] {
    rcu::Domain::ReadGuard guard(domain);
    for (int i = 10; i < 20; ++i) {
      handed[0][i] = attempt([&] { domain.Retire(plain[i], [](Plain* p) { delete p; }); });
      handed[1][i] = attempt([&] { domain.Retire(intrusive[i]); });
    }
  });
  attempt([&] { domain.Synchronize(); });
  attempt([&] { domain.SynchronizeExpedited(); });
  attempt([&] {
    rcu::Domain::Cookie cookie = domain.GetState();
    domain.CondSynchronize(cookie);
  });
  attempt([&] { domain.Barrier(); });
  // A domain made and used under failure, and destroyed.
  attempt([&] {
    rcu::Domain other(rcu::Domain::Options{"made under failure"});
    {
      rcu::Domain::ReadGuard guard(other);
      rcu::Domain::ReadToken t = other.BeginRead();
    }
    for (int i = 20; i < 30; ++i) handed[0][i] = attempt([&] { other.Retire(plain[i]); });
    other.Synchronize();
  });
  const bool injected = rcu_test::InjectedFailureHappened();
  rcu_test::FailNthAllocation(0);

  domain.Barrier();
  if (lambda_handed && lambdas.load() != 1) return 5;
  if (!injected) return 100;
  for (int kind = 0; kind < 3; ++kind) {
    for (int i = 0; i < 40; ++i) {
      const int times = destroyed[kind][i].load();
      if (times != (handed[kind][i] ? 1 : 0)) {
        std::fprintf(stderr, "n=%ld: kind %d object %d reclaimed %d times, handed over: %d\n", n,
                     kind, i, times, static_cast<int>(handed[kind][i]));
        return 2;
      }
    }
  }
  for (int i = 0; i < 40; ++i) {
    if (!handed[0][i]) delete plain[i];
    if (!handed[1][i]) delete intrusive[i];
  }
  // Still works; and no section is left open (the destructor checks).
  { rcu::Domain::ReadGuard guard(domain); }
  rcu::Domain::ReadToken last = domain.BeginRead();
  last.End();
  domain.Synchronize();
  std::printf("n=%ld: %d calls threw bad_alloc\n", n, threw);
  std::fflush(stdout);
  return 0;
}

void Sweep(bool and_later) {
  int swept = 0;
  for (long n = 1;; ++n) {
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
  std::printf("swept %d allocation points%s\n", swept,
              and_later ? ", each failing with every later one" : "");
  EXPECT_GT(swept, 5);
}

TEST(DomainAllocationFailureTest, EachAllocation) { Sweep(false); }

TEST(DomainAllocationFailureTest, EveryAllocationFromSomePointOn) { Sweep(true); }

// Retire(ptr, deleter) that cannot allocate its node waits for a grace
// period and reclaims at once; inside a ReadGuard of the domain it throws
// instead. A thread that holds a ReadToken of the domain is inside a
// section too, but Retire() cannot tell: it waits for a grace period that
// its own token holds up, forever (the stall reports repeat). In a child
// process, bounded: a hang fails the test.
//
// DISABLED: reproduces a finding not fixed here (see the report of issue
// 13's torture branch): the child hangs.
TEST(DomainAllocationFailureTest, RetireWithTokenHeldWhenOutOfMemory) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    rcu::SetStallHandler([](const rcu::StallReport&) {});
    rcu::Domain::Options options;
    options.name = "oom-with-token";
    options.stall_timeout = absl::Milliseconds(100);
    rcu::Domain domain(options);
    auto* victim = new Plain(0, 0);
    rcu::Domain::ReadToken token = domain.BeginRead();
    rcu_test::FailNthAllocation(1);
    bool threw = false;
    try {
      domain.Retire(victim, [](Plain* p) { delete p; });
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    rcu_test::FailNthAllocation(0);
    token.End();
    if (threw) delete victim;
    domain.Barrier();
    std::_Exit(destroyed[0][0].load() == 1 ? 0 : 3);
  }
  int status = 0;
  ASSERT_TRUE(rcu_test::WaitForChild(pid, std::chrono::seconds(30), status))
      << "Retire() without memory waited for the grace period its caller's token holds up";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
