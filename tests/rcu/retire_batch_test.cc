// Batched Retire() (rcu/internal/retire_buffer.h): no node per object, the
// grace period still respected, every hand-over point (full block, the
// thread's next callback, Barrier, thread exit, the worker's timer), and
// per-object accounting.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/diagnostics.h"
#include "rcu/internal/batching.h"
#include "rcu/internal/retire_buffer.h"
#include "rcu/read_guard.h"
#include "rcu/stats.h"
#include "tests/util/allocation_counter.h"
#include "tests/util/test_util.h"

namespace {

std::atomic<int> destroyed{0};

struct Tracked {
  ~Tracked() { destroyed.fetch_add(1); }
};

using std::chrono::steady_clock;

using rcu_test::Eventually;

class RetireBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rcu::Barrier();
    destroyed.store(0);
  }
  void TearDown() override {
    rcu::internal::SetRetireFlushDelayForTesting(std::chrono::milliseconds(10));
    rcu::Barrier();
  }
  // Turns the worker's timed flush off, so that only the hand-over point
  // under test can move a block.
  static void DisableTimedFlush() {
    rcu::internal::SetRetireFlushDelayForTesting(std::chrono::hours(1));
    rcu::Barrier();  // also restarts the worker's flush clock
  }
};

TEST_F(RetireBatchTest, AllocatesOneBlockPerBatchNotANodePerObject) {
  constexpr int kCount = rcu::internal::kRetireBatchSize * 10;
  std::vector<Tracked*> objects;
  objects.reserve(kCount);
  const long start = rcu_test::ThreadAllocations();
  for (int i = 0; i < kCount; ++i) objects.push_back(new Tracked);
  const long before = rcu_test::ThreadAllocations();
  ASSERT_EQ(before - start, kCount);  // the counter sees this thread's news
  for (Tracked* t : objects) rcu::Retire(t);
  // At most one block per batch, plus this thread's buffer on first use.
  EXPECT_LE(rcu_test::ThreadAllocations() - before, kCount / rcu::internal::kRetireBatchSize + 1);
  rcu::Barrier();
  EXPECT_EQ(destroyed.load(), kCount);
}

TEST_F(RetireBatchTest, AFullBlockStillWaitsForPreexistingReaders) {
  DisableTimedFlush();  // only a full block may go (the worker could take a part)
  rcu_test::ParkedReader reader;
  const rcu::Stats before = rcu::GetStats();
  for (int i = 0; i < rcu::internal::kRetireBatchSize; ++i) rcu::Retire(new Tracked);
  // The block is full, so it is with the worker now.
  EXPECT_EQ(rcu::GetStats().callbacks_queued - before.callbacks_queued,
            static_cast<std::uint64_t>(rcu::internal::kRetireBatchSize));
  for (int i = 0; i < 2000; ++i) {
    ASSERT_EQ(destroyed.load(), 0);
    std::this_thread::yield();
  }
  reader.Release();
  rcu::Barrier();
  EXPECT_EQ(destroyed.load(), rcu::internal::kRetireBatchSize);
}

TEST_F(RetireBatchTest, AThreadsCallbacksRunInTheOrderItQueuedThem) {
  DisableTimedFlush();
  int seen_by_callback = -1;
  for (int i = 0; i < 3; ++i) rcu::Retire(new Tracked);
  EXPECT_EQ(rcu::GetStats().retirements_buffered, 3u);
  // The three are still in this thread's block; CallRcu must hand it over
  // first, so they are reclaimed before the callback runs.
  rcu::CallRcu([&] { seen_by_callback = destroyed.load(); });
  EXPECT_EQ(rcu::GetStats().retirements_buffered, 0u);
  rcu::Barrier();
  EXPECT_EQ(seen_by_callback, 3);
}

TEST_F(RetireBatchTest, BarrierHandsOverEveryThreadsBlock) {
  DisableTimedFlush();
  std::atomic<bool> retired{false}, release{false};
  std::thread other([&] {
    for (int i = 0; i < 5; ++i) rcu::Retire(new Tracked);
    retired.store(true);
    while (!release.load()) std::this_thread::yield();  // alive, not exiting
  });
  while (!retired.load()) std::this_thread::yield();
  for (int i = 0; i < 4; ++i) rcu::Retire(new Tracked);
  EXPECT_EQ(rcu::GetStats().retirements_buffered, 9u);
  rcu::Barrier();
  EXPECT_EQ(destroyed.load(), 9);
  EXPECT_EQ(rcu::GetStats().retirements_buffered, 0u);
  release.store(true);
  other.join();
}

TEST_F(RetireBatchTest, AnExitingThreadHandsOverItsBlock) {
  DisableTimedFlush();
  const rcu::Stats before = rcu::GetStats();
  std::uint64_t buffered_inside = 0;
  std::thread([&] {
    for (int i = 0; i < 5; ++i) rcu::Retire(new Tracked);
    buffered_inside = rcu::GetStats().retirements_buffered;
  }).join();
  EXPECT_EQ(buffered_inside, 5u);
  const rcu::Stats after = rcu::GetStats();
  EXPECT_EQ(after.retirements_buffered, 0u);
  EXPECT_EQ(after.callbacks_queued - before.callbacks_queued, 5u);
  rcu::Barrier();
  EXPECT_EQ(destroyed.load(), 5);
}

TEST_F(RetireBatchTest, RetiresInThreadLocalDestructorsAreNotLost) {
  DisableTimedFlush();
  struct RetiresAtExit {
    ~RetiresAtExit() {
      for (int i = 0; i < 3; ++i) rcu::Retire(new Tracked);
    }
  };
  std::thread([] {
    rcu::Retire(new Tracked);  // the buffer exists before the destructor runs
    thread_local RetiresAtExit at_exit;
    (void)at_exit;
  }).join();
  rcu::Barrier();
  EXPECT_EQ(destroyed.load(), 4);
}

TEST_F(RetireBatchTest, TheWorkerHandsOverAnIdleThreadsBlock) {
  // No Barrier, no more retires, no exit: only the worker's timer moves it.
  std::atomic<bool> release{false};
  std::thread idle([&] {
    rcu::Retire(new Tracked);
    while (!release.load()) std::this_thread::yield();
  });
  const auto start = steady_clock::now();
  EXPECT_TRUE(Eventually([] { return destroyed.load() == 1; }));
  const auto waited =
      std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() - start);
  std::printf("lone retire reclaimed after %lld us (flush delay %lld us)\n",
              static_cast<long long>(waited.count()),
              static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(
                                         rcu::internal::RetireFlushDelay())
                                         .count()));
  release.store(true);
  idle.join();
}

TEST_F(RetireBatchTest, StartingBlocksDoesNotWakeAWorkerThatHasWorkQueued) {
  // A worker with a batch queued but not yet due (one batch per 10 ms)
  // sleeps until it is due; retire blocks started meanwhile must not wake
  // it: each wake-up is two context switches, and on a small machine it
  // preempts a reader.
  DisableTimedFlush();
  constexpr int kBlocks = 200;
  // One batch runs, so that the next one is not due for 10 ms.
  for (int i = 0; i < rcu::internal::kRetireBatchSize; ++i) rcu::Retire(new Tracked);
  ASSERT_TRUE(Eventually([] { return destroyed.load() == rcu::internal::kRetireBatchSize; }));
  // This block wakes the idle worker, which finds it queued and goes back
  // to sleep until its batch is due.
  for (int i = 0; i < rcu::internal::kRetireBatchSize; ++i) rcu::Retire(new Tracked);
  const rcu::Stats before = rcu::GetStats();
  for (int i = 0; i < kBlocks * rcu::internal::kRetireBatchSize; ++i) rcu::Retire(new Tracked);
  const rcu::Stats after = rcu::GetStats();
  rcu::Barrier();
  const std::uint64_t wakeups = after.worker_wakeups - before.worker_wakeups;
  const std::uint64_t batches = after.grace_periods - before.grace_periods;
  std::printf("%d blocks started: %llu worker wake-ups, %llu grace periods\n", kBlocks,
              static_cast<unsigned long long>(wakeups), static_cast<unsigned long long>(batches));
  // The worker's own batches (if the loop outlasts 10 ms) may each be
  // followed by one wake-up for the work queued while they ran.
  EXPECT_LE(wakeups, 2 + batches);
  EXPECT_EQ(destroyed.load(), (kBlocks + 2) * rcu::internal::kRetireBatchSize);
}

TEST_F(RetireBatchTest, CountsEachObjectNotEachBlock) {
  constexpr int kCount = rcu::internal::kRetireBatchSize * 3 + 5;
  const rcu::Stats before = rcu::GetStats();
  for (int i = 0; i < kCount; ++i) rcu::Retire(new Tracked);
  rcu::Barrier();
  const rcu::Stats after = rcu::GetStats();
  EXPECT_EQ(after.callbacks_queued - before.callbacks_queued, static_cast<std::uint64_t>(kCount));
  EXPECT_EQ(after.callbacks_invoked - before.callbacks_invoked, static_cast<std::uint64_t>(kCount));
  EXPECT_EQ(destroyed.load(), kCount);
}

// Stateless, so Retire() batches it.
struct ThrowsOnNegative {
  void operator()(int* p) const {
    const int value = *p;
    delete p;
    if (value < 0) throw std::runtime_error("negative");
  }
};

TEST_F(RetireBatchTest, AThrowingDeleterIsReportedAndTheRestOfItsBlockRuns) {
  std::mutex mu;
  std::vector<rcu::Diagnostic> seen;
  rcu::DiagnosticHandler previous = rcu::SetDiagnosticHandler([&](const rcu::Diagnostic& d) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(d);
  });
  const rcu::Stats before = rcu::GetStats();
  static std::atomic<int> reclaimed{0};
  reclaimed.store(0);
  struct Counting {
    void operator()(int* p) const {
      ThrowsOnNegative()(p);
      reclaimed.fetch_add(1);
    }
  };
  rcu::Retire(new int(1), Counting());
  rcu::Retire(new int(-1), ThrowsOnNegative());
  rcu::Retire(new int(2), Counting());
  rcu::Barrier();
  rcu::SetDiagnosticHandler(std::move(previous));
  EXPECT_EQ(reclaimed.load(), 2);
  const rcu::Stats after = rcu::GetStats();
  EXPECT_EQ(after.callbacks_failed - before.callbacks_failed, 1u);
  EXPECT_EQ(after.callbacks_invoked - before.callbacks_invoked, 3u);
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, rcu::Diagnostic::Kind::kCallbackThrew);
  EXPECT_NE(seen[0].message.find("negative"), std::string::npos) << seen[0].message;
}

TEST_F(RetireBatchTest, StatefulDeletersStillWork) {
  std::atomic<int> sum{0};
  for (int i = 1; i <= 100; ++i) {
    rcu::Retire(new int(i), [&sum](int* p) {
      sum.fetch_add(*p);
      delete p;
    });
  }
  rcu::Barrier();
  EXPECT_EQ(sum.load(), 5050);
}

TEST_F(RetireBatchTest, ConstObjectsCanBeRetired) {
  const Tracked* c = new Tracked;
  rcu::Retire(c);
  rcu::Barrier();
  EXPECT_EQ(destroyed.load(), 1);
}

}  // namespace
