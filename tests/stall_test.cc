// Stall warnings: a reader that blocks a grace period for longer than the
// stall timeout is reported through the handler, with its thread id.
#include "rcu/stall.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/grace_period.h"
#include "rcu/read_guard.h"
#include "rcu/stats.h"

namespace {

TEST(StallTest, LongReaderIsReportedWhileAGracePeriodWaits) {
  std::mutex mu;
  std::condition_variable reported;
  std::vector<rcu::StallReport> reports;
  const absl::Duration old_timeout = rcu::StallTimeout();
  rcu::SetStallTimeout(absl::Milliseconds(50));
  rcu::StallHandler previous = rcu::SetStallHandler([&](const rcu::StallReport& r) {
    std::lock_guard<std::mutex> lock(mu);
    reports.push_back(r);
    reported.notify_all();
  });
  const uint64_t stalls_before = rcu::GetStats().stalls_reported;

  std::atomic<pid_t> reader_tid{0};
  std::atomic<bool> release{false};
  std::thread reader([&] {
    pthread_setname_np(pthread_self(), "stalling-reader");
    rcu::ReadGuard guard;
    reader_tid.store(static_cast<pid_t>(syscall(SYS_gettid)));
    while (!release.load()) std::this_thread::yield();
  });
  while (reader_tid.load() == 0) std::this_thread::yield();
  std::thread writer([] { rcu::Synchronize(); });

  bool got_report;
  {
    std::unique_lock<std::mutex> lock(mu);
    got_report = reported.wait_for(lock, std::chrono::seconds(30),
                                   [&] { return !reports.empty(); });
  }
  release.store(true);
  reader.join();
  writer.join();  // the grace period completes once the reader leaves
  rcu::SetStallHandler(std::move(previous));
  rcu::SetStallTimeout(old_timeout);

  ASSERT_TRUE(got_report);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(reports[0].thread_id, reader_tid.load());
  EXPECT_EQ(reports[0].thread_name, "stalling-reader");
  EXPECT_GE(reports[0].blocked_for, absl::Milliseconds(50));
  EXPECT_GT(rcu::GetStats().stalls_reported, stalls_before);
}

TEST(StallTest, CallbackStuckInAReadSectionIsReported) {
  std::mutex mu;
  std::condition_variable reported;
  std::vector<rcu::StallReport> reports;
  const absl::Duration old_timeout = rcu::StallTimeout();
  rcu::SetStallTimeout(absl::Milliseconds(50));
  rcu::StallHandler previous = rcu::SetStallHandler([&](const rcu::StallReport& r) {
    std::lock_guard<std::mutex> lock(mu);
    reports.push_back(r);
    reported.notify_all();
  });
  std::atomic<pid_t> worker_tid{0};
  std::atomic<bool> release{false};
  rcu::CallRcu([&] {
    rcu::ReadGuard guard;
    worker_tid.store(static_cast<pid_t>(syscall(SYS_gettid)));
    while (!release.load()) std::this_thread::yield();
  });
  while (worker_tid.load() == 0) std::this_thread::yield();
  std::thread writer([] { rcu::Synchronize(); });
  bool got_report;
  {
    std::unique_lock<std::mutex> lock(mu);
    got_report = reported.wait_for(lock, std::chrono::seconds(30),
                                   [&] { return !reports.empty(); });
  }
  release.store(true);
  writer.join();
  rcu::Barrier();
  rcu::SetStallHandler(std::move(previous));
  rcu::SetStallTimeout(old_timeout);
  ASSERT_TRUE(got_report);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(reports[0].thread_id, worker_tid.load());
}

TEST(StallTest, ShortReadersAreNotReported) {
  std::atomic<int> reports{0};
  const absl::Duration old_timeout = rcu::StallTimeout();
  rcu::SetStallTimeout(absl::Seconds(5));
  rcu::StallHandler previous =
      rcu::SetStallHandler([&](const rcu::StallReport&) { reports.fetch_add(1); });
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop.load()) {
      rcu::ReadGuard guard;
    }
  });
  for (int i = 0; i < 200; ++i) rcu::Synchronize();
  stop.store(true);
  reader.join();
  rcu::SetStallHandler(std::move(previous));
  rcu::SetStallTimeout(old_timeout);
  EXPECT_EQ(reports.load(), 0);
}

TEST(StallTest, TimeoutSettings) {
  const absl::Duration old_timeout = rcu::StallTimeout();
  rcu::SetStallTimeout(absl::Seconds(3));
  EXPECT_EQ(rcu::StallTimeout(), absl::Seconds(3));
  rcu::SetStallTimeout(absl::ZeroDuration());  // off
  EXPECT_EQ(rcu::StallTimeout(), absl::InfiniteDuration());
  rcu::SetStallTimeout(old_timeout);
}

}  // namespace
