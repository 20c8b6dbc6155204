// Synchronize() and the polling grace-period cookies.
#include "rcu/grace_period.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/read_guard.h"
#include "rcu/stats.h"
#include "tests/util/test_util.h"

namespace {

using rcu_test::Eventually;
using rcu_test::ParkedReader;

TEST(SynchronizeTest, WaitsForPreexistingReaders) {
  ParkedReader reader;
  std::atomic<bool> returned{false};
  std::thread writer([&] {
    rcu::Synchronize();
    returned.store(true);
  });
  // The writer cannot finish while the reader is inside its section.
  for (int i = 0; i < 1000; ++i) {
    ASSERT_FALSE(returned.load());
    std::this_thread::yield();
  }
  reader.Release();
  writer.join();
  EXPECT_TRUE(reader.left());
}

TEST(SynchronizeTest, SleepingGracePeriodIsWokenByTheReaderItWaitsFor) {
  // The grace period parks (futex) on the old reader while another thread
  // keeps ending sections that began after it started; those need not wake
  // it (rcu/internal/thread_registry.cc). Once they stop, the old reader's
  // exit must.
  ParkedReader old_reader;
  std::atomic<bool> stop{false};
  std::atomic<long> churned{0};
  std::thread churn([&] {
    while (!stop.load()) {
      rcu::ReadGuard guard;
      churned.fetch_add(1, std::memory_order_relaxed);
    }
  });
  std::atomic<bool> returned{false};
  std::thread writer([&] {
    rcu::Synchronize();
    returned.store(true);
  });
  // Long enough for liburcu's waiter to give up spinning and sleep, while
  // the churning reader ends many sections.
  const long start = churned.load();
  while (churned.load() - start < 200000 && !returned.load()) std::this_thread::yield();
  stop.store(true);
  churn.join();
  EXPECT_FALSE(returned.load()) << "the grace period ended while the old reader was inside";
  // Now only the old reader can wake it.
  old_reader.Release();
  const bool completed = Eventually([&] { return returned.load(); });
  EXPECT_TRUE(completed) << "the grace period was not woken by the reader it waited for";
  if (!completed) std::_Exit(1);  // the writer would never return
  writer.join();
  std::printf(
      "grace period held by one old reader across %ld newer sections, then "
      "completed\n",
      churned.load() - start);
}

TEST(SynchronizeTest, DoesNotWaitForLaterReaders) {
  // Readers that start after Synchronize() began do not hold it up: with a
  // reader continuously entering and leaving, Synchronize still returns.
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop.load()) {
      rcu::ReadGuard guard;
    }
  });
  for (int i = 0; i < 100; ++i) rcu::Synchronize();
  stop.store(true);
  reader.join();
}

TEST(SynchronizeTest, CountsGracePeriods) {
  const uint64_t before = rcu::GetStats().grace_periods;
  rcu::Synchronize();
  rcu::Synchronize();
  EXPECT_GE(rcu::GetStats().grace_periods - before, 2u);
}

TEST(SynchronizeDeathTest, InsideReadSectionIsFatalWithAMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        rcu::ReadGuard guard;
        rcu::Synchronize();
      },
      "rcu::Synchronize\\(\\) called inside a read-side critical section");
}

// Each test starts with no callback pending. StartPoll() queues a completion
// for the callback worker, whose batch runs a grace period of its own, and
// the completion counts one more when it runs: both may come well after the
// cookie reads as completed. Left pending, they land in a later test, where
// a grace period that began after its GetState() (the worker's) completes
// that cookie early, or a count (the completion's) breaks an equality.
// Barrier() returns once every batch queued before it has run.
class CookieTest : public ::testing::Test {
 protected:
  void SetUp() override { rcu::Barrier(); }
};

TEST_F(CookieTest, FalseUntilAGracePeriodThenTrue) {
  const rcu::GracePeriodCookie cookie = rcu::GetState();
  EXPECT_FALSE(rcu::PollState(cookie));
  EXPECT_FALSE(rcu::PollState(cookie));
  rcu::Synchronize();
  EXPECT_TRUE(rcu::PollState(cookie));
}

TEST_F(CookieTest, StaysFalseWhileAPreexistingReaderHoldsOn) {
  ParkedReader reader;
  const rcu::GracePeriodCookie cookie = rcu::StartPoll();
  for (int i = 0; i < 1000; ++i) {
    ASSERT_FALSE(rcu::PollState(cookie));
    std::this_thread::yield();
  }
  reader.Release();
  EXPECT_TRUE(Eventually([&] { return rcu::PollState(cookie); }));
}

TEST_F(CookieTest, StartPollGetsAGracePeriodGoingWithNoOtherWriter) {
  const uint64_t before = rcu::GetStats().grace_periods;
  const rcu::GracePeriodCookie cookie = rcu::StartPoll();
  // Nobody calls Synchronize(): StartPoll alone must complete the cookie.
  EXPECT_TRUE(Eventually([&] { return rcu::PollState(cookie); }));
  EXPECT_GT(rcu::GetStats().grace_periods, before);
}

TEST_F(CookieTest, GetStateAloneStartsNothing) {
  // Not a property we can observe as "never", but GetState must not count
  // as a grace period by itself.
  const uint64_t before = rcu::GetStats().grace_periods;
  const rcu::GracePeriodCookie cookie = rcu::GetState();
  EXPECT_EQ(rcu::GetStats().grace_periods, before);
  rcu::CondSynchronize(cookie);
  EXPECT_TRUE(rcu::PollState(cookie));
}

TEST_F(CookieTest, CondSynchronizeWaitsOnlyWhenNeeded) {
  const rcu::GracePeriodCookie cookie = rcu::GetState();
  rcu::Synchronize();
  const uint64_t before = rcu::GetStats().grace_periods;
  rcu::CondSynchronize(cookie);  // already completed: no new grace period
  EXPECT_EQ(rcu::GetStats().grace_periods, before);

  const rcu::GracePeriodCookie fresh = rcu::GetState();
  rcu::CondSynchronize(fresh);
  EXPECT_GT(rcu::GetStats().grace_periods, before);
  EXPECT_TRUE(rcu::PollState(fresh));
}

TEST_F(CookieTest, CompletedStateAlwaysReadsAsCompleted) {
  EXPECT_TRUE(rcu::PollState(rcu::CompletedState()));
  EXPECT_TRUE(rcu::PollState(rcu::GracePeriodCookie()));
  EXPECT_EQ(rcu::CompletedState(), rcu::GracePeriodCookie());
  ParkedReader reader;  // even with a reader blocking every grace period
  EXPECT_TRUE(rcu::PollState(rcu::CompletedState()));
  const uint64_t before = rcu::GetStats().grace_periods;
  rcu::CondSynchronize(rcu::CompletedState());  // returns at once
  EXPECT_EQ(rcu::GetStats().grace_periods, before);
}

TEST_F(CookieTest, Equality) {
  const rcu::GracePeriodCookie a = rcu::GetState();
  const rcu::GracePeriodCookie b = rcu::GetState();
  EXPECT_TRUE(rcu::SameState(a, b));
  EXPECT_NE(a, rcu::CompletedState());
  rcu::Synchronize();
  const rcu::GracePeriodCookie c = rcu::GetState();
  EXPECT_FALSE(rcu::SameState(a, c));
  EXPECT_NE(rcu::StartPoll(), rcu::StartPoll());
}

TEST_F(CookieTest, CorrectAcrossCounterWrapAround) {
  // Tickets start 1000 short of 2^64, so 1100 grace periods cross the wrap.
  // Every cookie must read false before its grace period and true after.
  for (int i = 0; i < 1100; ++i) {
    const rcu::GracePeriodCookie cookie = rcu::GetState();
    ASSERT_FALSE(rcu::PollState(cookie)) << "grace period " << i;
    rcu::Synchronize();
    ASSERT_TRUE(rcu::PollState(cookie)) << "grace period " << i;
  }
  // And an old cookie from before the wrap still reads as completed.
  const rcu::GracePeriodCookie old = rcu::GetState();
  for (int i = 0; i < 1100; ++i) rcu::Synchronize();
  EXPECT_TRUE(rcu::PollState(old));
}

TEST_F(CookieTest, ConcurrentPollersAndWriters) {
  std::atomic<bool> stop{false};
  std::atomic<int> violations{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        // A reader inside its section when the cookie is taken must block it.
        rcu::GracePeriodCookie cookie;
        {
          rcu::ReadGuard guard;
          cookie = rcu::GetState();
          if (rcu::PollState(cookie)) violations.fetch_add(1);
        }
        rcu::CondSynchronize(cookie);
        if (!rcu::PollState(cookie)) violations.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 300; ++i) {
    if (i % 2) {
      rcu::Synchronize();
    } else {
      rcu::StartPoll();
    }
  }
  stop.store(true);
  for (auto& t : threads) t.join();
  EXPECT_EQ(violations.load(), 0);
}

}  // namespace
