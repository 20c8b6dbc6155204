// Deferred reclamation: Retire, CallRcu, the intrusive forms, Barrier,
// backpressure, exceptions in callbacks and misuse diagnostics.
#include "rcu/call_rcu.h"

#include <dirent.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/diagnostics.h"
#include "rcu/grace_period.h"
#include "rcu/internal/batching.h"
#include "rcu/read_guard.h"
#include "rcu/stats.h"
#include "tests/util/allocation_counter.h"
#include "tests/util/backlog_probe.h"
#include "tests/util/test_util.h"

namespace {

std::atomic<int> destroyed{0};

struct Tracked {
  ~Tracked() { destroyed.fetch_add(1); }
  int payload = 7;
};

struct Intrusive : rcu::RcuObjBase<Intrusive> {
  ~Intrusive() { destroyed.fetch_add(1); }
};

class CallRcuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rcu::Barrier();
    destroyed.store(0);
  }
};

TEST_F(CallRcuTest, RetireDeletesAfterAGracePeriod) {
  rcu_test::ParkedReader reader;
  rcu::Retire(new Tracked);
  // The pre-existing reader holds the grace period: nothing may be freed.
  for (int i = 0; i < 2000; ++i) {
    ASSERT_EQ(destroyed.load(), 0);
    std::this_thread::yield();
  }
  reader.Release();
  rcu::Barrier();
  EXPECT_EQ(destroyed.load(), 1);
}

TEST_F(CallRcuTest, RetireWithDeleter) {
  std::atomic<int> deleted{0};
  int* value = new int(5);
  rcu::Retire(value, [&](int* p) {
    EXPECT_EQ(*p, 5);
    delete p;
    deleted.fetch_add(1);
  });
  rcu::Barrier();
  EXPECT_EQ(deleted.load(), 1);
  rcu::Retire(static_cast<int*>(nullptr));  // a no-op, like delete nullptr
  rcu::Barrier();
}

TEST_F(CallRcuTest, CallRcuTakesMoveOnlyCallables) {
  auto owned = std::make_unique<std::string>("moved in");
  std::atomic<bool> ran{false};
  rcu::CallRcu([s = std::move(owned), &ran] {
    EXPECT_EQ(*s, "moved in");
    ran.store(true);
  });
  rcu::Barrier();
  EXPECT_TRUE(ran.load());
}

TEST_F(CallRcuTest, IntrusiveRetireAllocatesNothing) {
  const long start = rcu_test::ThreadAllocations();
  auto* a = new Intrusive;
  auto* b = new Intrusive;
  const long before = rcu_test::ThreadAllocations();
  ASSERT_EQ(before - start, 2);  // the counter sees this thread's news
  rcu::Retire(a);
  b->Retire();
  EXPECT_EQ(rcu_test::ThreadAllocations(), before);
  rcu::Barrier();
  EXPECT_EQ(destroyed.load(), 2);
}

struct CStyle {
  rcu::RcuHead head;
  int value;
};

TEST_F(CallRcuTest, EmbeddedHeadAllocatesNothing) {
  static std::atomic<int> sum{0};
  sum.store(0);
  std::vector<CStyle> nodes(10);
  const long before = rcu_test::ThreadAllocations();
  for (int i = 0; i < 10; ++i) {
    nodes[i].value = i;
    rcu::CallRcu(&nodes[i].head, [](rcu::RcuHead* head) {
      // container_of: `head` is the first member of a standard-layout struct.
      sum.fetch_add(reinterpret_cast<CStyle*>(head)->value);
    });
  }
  EXPECT_EQ(rcu_test::ThreadAllocations(), before);
  rcu::Barrier();
  EXPECT_EQ(sum.load(), 45);
}

TEST_F(CallRcuTest, BarrierDrainsEverything) {
  constexpr int kCount = 10000;
  const rcu::Stats before = rcu::GetStats();
  for (int i = 0; i < kCount; ++i) rcu::Retire(new Tracked);
  rcu::Barrier();
  EXPECT_EQ(destroyed.load(), kCount);
  const rcu::Stats after = rcu::GetStats();
  EXPECT_EQ(after.callbacks_queued - before.callbacks_queued, kCount);
  EXPECT_EQ(after.callbacks_invoked - before.callbacks_invoked, kCount);
}

TEST_F(CallRcuTest, CallbacksMayQueueCallbacks) {
  static std::atomic<int> depth_reached{0};
  depth_reached.store(0);
  struct Chain {
    static void Step(int remaining) {
      depth_reached.fetch_add(1);
      if (remaining > 0) rcu::CallRcu([remaining] { Step(remaining - 1); });
    }
  };
  rcu::CallRcu([] { Chain::Step(9); });
  // Each Barrier() waits for the callbacks queued before it; a chain of ten
  // needs at most ten.
  for (int i = 0; i < 10 && depth_reached.load() < 10; ++i) rcu::Barrier();
  EXPECT_EQ(depth_reached.load(), 10);
}

TEST_F(CallRcuTest, CallbacksMayReadAndRetireInsideReadSections) {
  std::atomic<bool> ran{false};
  {
    rcu::ReadGuard guard;
    rcu::Retire(new Tracked);  // never blocks a reader
    rcu::CallRcu([&] {
      rcu::ReadGuard inner;  // callbacks may read
      ran.store(true);
    });
  }
  rcu::Barrier();
  EXPECT_TRUE(ran.load());
  EXPECT_EQ(destroyed.load(), 1);
}

TEST_F(CallRcuTest, ThrowingCallbackIsReportedAndOthersStillRun) {
  std::mutex mu;
  std::vector<rcu::Diagnostic> seen;
  rcu::DiagnosticHandler previous = rcu::SetDiagnosticHandler([&](const rcu::Diagnostic& d) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(d);
  });
  const rcu::Stats before = rcu::GetStats();
  rcu::Retire(new Tracked);
  rcu::CallRcu([] { throw std::runtime_error("boom"); });
  rcu::CallRcu([] { throw 42; });
  rcu::Retire(new Tracked);
  rcu::Barrier();
  rcu::SetDiagnosticHandler(std::move(previous));

  EXPECT_EQ(destroyed.load(), 2);
  EXPECT_EQ(rcu::GetStats().callbacks_failed - before.callbacks_failed, 2u);
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].kind, rcu::Diagnostic::Kind::kCallbackThrew);
  EXPECT_NE(seen[0].message.find("boom"), std::string::npos) << seen[0].message;
  EXPECT_EQ(seen[1].kind, rcu::Diagnostic::Kind::kCallbackThrew);
}

TEST_F(CallRcuTest, RetireStormFromOneThreadStaysBounded) {
  const std::size_t old_limit = rcu::CallbackBacklogLimit();
  rcu::SetCallbackBacklogLimit(1000);
  const rcu::Stats before = rcu::GetStats();
  // A reader holds its section until the storm has made this thread wait, so
  // the worker cannot keep up and the wait is certain to happen (without
  // the reader, a fast worker may drain every batch before the limit).
  // (`storm_done` ends the reader if backpressure is broken and never waits,
  // so that the checks below fail instead of the test hanging.)
  std::atomic<bool> reader_in{false};
  std::atomic<bool> storm_done{false};
  std::thread reader([&] {
    rcu::ReadGuard guard;
    reader_in.store(true);
    while (rcu::GetStats().backlog_waits == before.backlog_waits && !storm_done.load()) {
      std::this_thread::yield();
    }
  });
  while (!reader_in.load()) std::this_thread::yield();
  std::uint64_t max_pending = 0;
  constexpr int kCount = 50000;
  for (int i = 0; i < kCount; ++i) {
    rcu::Retire(new Tracked);
    const rcu::Stats s = rcu::GetStats();
    max_pending = std::max(max_pending, s.callbacks_queued - s.callbacks_invoked);
  }
  storm_done.store(true);
  reader.join();
  rcu::Barrier();
  rcu::SetCallbackBacklogLimit(old_limit);
  EXPECT_EQ(destroyed.load(), kCount);
  // Each Retire either finds the backlog under the limit or waits until it
  // is down to half of it. The backlog exceeds the limit by at most one
  // retire block that the worker handed over without making anyone wait.
  EXPECT_LE(max_pending, 1000u + rcu::internal::kRetireBatchSize);
  EXPECT_GT(rcu::GetStats().backlog_waits, before.backlog_waits);
}

// Retiring inside a read-side section over the backlog limit cannot wait
// there; the thread owes the wait, pays it when its outermost section ends,
// and not before (the inner guard's end, and the read-side fast path, must
// neither pay it early nor lose it). Unpaid debts would let the backlog grow
// with every retirement.
TEST_F(CallRcuTest, RetiringInsideNestedSectionsPaysTheBacklogDebtAtTheOutermostEnd) {
  bool owed_after_inner = false;
  int owed_after_outer = 0;
  const std::uint64_t peak =
      rcu_test::PeakUnderStalledReader(rcu_test::kProbeLimit, rcu_test::kProbeOps, [&](int i) {
        {
          rcu::ReadGuard outer;
          {
            rcu::ReadGuard inner;
            rcu::Retire(new Tracked);
          }
          if (rcu::internal::backlog_debt) owed_after_inner = true;
          rcu::ReadGuard another_inner;  // a nested section while the debt is owed
          if (i % 2 == 0) rcu::Retire(new Tracked);
        }
        if (rcu::internal::backlog_debt) ++owed_after_outer;
      });
  std::printf(
      "{ReadGuard; {ReadGuard; Retire}; ReadGuard; Retire}: peak backlog %llu (limit %zu)\n",
      static_cast<unsigned long long>(peak), rcu_test::kProbeLimit);
  EXPECT_TRUE(owed_after_inner) << "no retirement ran into the limit; the test checked nothing";
  EXPECT_EQ(owed_after_outer, 0) << "outermost sections that ended without paying";
  EXPECT_LE(peak, rcu_test::kProbeBound);
  rcu::Barrier();
  EXPECT_EQ(destroyed.load(), rcu_test::kProbeOps + rcu_test::kProbeOps / 2);
}

int CountThreads() {
  int count = 0;
  if (DIR* dir = opendir("/proc/self/task")) {
    while (dirent* entry = readdir(dir)) {
      if (entry->d_name[0] != '.') ++count;
    }
    closedir(dir);
  }
  return count;
}

TEST_F(CallRcuTest, CallbackWorkersDoNotMultiply) {
  const int before = CountThreads();
  std::vector<std::thread> producers;
  for (int t = 0; t < 8; ++t) {
    producers.emplace_back([] {
      for (int i = 0; i < 5000; ++i) rcu::Retire(new Tracked);
    });
  }
  for (auto& t : producers) t.join();
  rcu::Barrier();
  // At most one callback worker and one stall watchdog were created, however
  // many threads queued callbacks and however many CPUs there are (earlier
  // tests in this process may already have created both).
  EXPECT_LE(CountThreads(), before + 2);
  EXPECT_EQ(destroyed.load(), 8 * 5000);
}

TEST(CallRcuDeathTest, BarrierInsideReadSectionIsFatal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        rcu::ReadGuard guard;
        rcu::Barrier();
      },
      "rcu::Barrier\\(\\) called inside a read-side critical section");
}

TEST(CallRcuDeathTest, BarrierFromACallbackIsFatal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        rcu::CallRcu([] { rcu::Barrier(); });
        rcu::Barrier();
      },
      "rcu::Barrier\\(\\) called from an RCU callback");
}

}  // namespace
