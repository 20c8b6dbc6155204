// Read-side critical sections: nesting, automatic thread registration, and a
// thread that exits inside a read-side section.
#include "rcu/read_guard.h"

#include <atomic>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/diagnostics.h"
#include "rcu/grace_period.h"
#include "rcu/rcu_ptr.h"
#include "rcu/stats.h"

namespace {

TEST(ReadGuardTest, MarksTheReadSection) {
  EXPECT_FALSE(rcu::InReadSection());
  {
    rcu::ReadGuard guard;
    EXPECT_TRUE(rcu::InReadSection());
  }
  EXPECT_FALSE(rcu::InReadSection());
}

TEST(ReadGuardTest, NestsAndOnlyTheOutermostEnds) {
  {
    rcu::ReadGuard outer;
    for (int i = 0; i < 100; ++i) {
      rcu::ReadGuard inner;
      {
        rcu::ReadGuard innermost;
        EXPECT_TRUE(rcu::InReadSection());
      }
      EXPECT_TRUE(rcu::InReadSection());
    }
    EXPECT_TRUE(rcu::InReadSection());
  }
  EXPECT_FALSE(rcu::InReadSection());
}

TEST(ReadGuardTest, DeepNesting) {
  constexpr int kDepth = 8192;
  std::vector<std::unique_ptr<rcu::ReadGuard>> guards;
  for (int i = 0; i < kDepth; ++i) guards.push_back(std::make_unique<rcu::ReadGuard>());
  EXPECT_TRUE(rcu::InReadSection());
  while (!guards.empty()) {
    EXPECT_TRUE(rcu::InReadSection());
    guards.pop_back();
  }
  EXPECT_FALSE(rcu::InReadSection());
  rcu::Synchronize();  // would hang if a nesting level were lost
}

TEST(ReadGuardTest, ThousandShortLivedThreadsRegisterAndUnregister) {
  static int value = 42;
  rcu::RcuPtr<int> ptr(&value);
  const rcu::Stats before = rcu::GetStats();
  std::atomic<int> reads{0};
  constexpr int kThreads = 1000;
  for (int batch = 0; batch < kThreads / 50; ++batch) {
    std::vector<std::thread> threads;
    for (int i = 0; i < 50; ++i) {
      threads.emplace_back([&] {
        rcu::ReadGuard guard;
        if (*ptr.Dereference(guard) == 42) reads.fetch_add(1);
      });
    }
    for (auto& t : threads) t.join();
  }
  EXPECT_EQ(reads.load(), kThreads);
  const rcu::Stats after = rcu::GetStats();
  EXPECT_EQ(after.threads_registered - before.threads_registered, kThreads);
  EXPECT_EQ(after.threads_unregistered - before.threads_unregistered, kThreads);
  rcu::Synchronize();  // no stale registration may block a grace period
}

TEST(ReadGuardTest, ThreadExitingInsideReadSectionIsDiagnosedAndReleased) {
  std::mutex mu;
  std::vector<rcu::Diagnostic> seen;
  rcu::DiagnosticHandler previous = rcu::SetDiagnosticHandler([&](const rcu::Diagnostic& d) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(d);
  });
  std::thread([] {
    // A guard that is never destroyed: the thread exits inside the section.
    alignas(rcu::ReadGuard) static thread_local unsigned char storage[sizeof(rcu::ReadGuard)];
    new (storage) rcu::ReadGuard;
    new (storage) rcu::ReadGuard;  // nested twice
  }).join();
  rcu::SetDiagnosticHandler(std::move(previous));

  // Writers are not blocked: this would hang forever otherwise.
  rcu::Synchronize();
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, rcu::Diagnostic::Kind::kThreadExitInReadSection);
  EXPECT_FALSE(seen[0].fatal);
  EXPECT_NE(seen[0].message.find("exited inside a read-side critical section"), std::string::npos)
      << seen[0].message;
  EXPECT_NE(seen[0].message.find("2 open ReadGuard"), std::string::npos) << seen[0].message;
}

}  // namespace
