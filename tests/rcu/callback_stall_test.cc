// A callback that never returns while a thread waits for callbacks: the
// stall watchdog reports it, naming the callback, and backpressure stops
// waiting rather than deadlock (rcu/stall.h, rcu/call_rcu.h).
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/internal/callback_worker.h"
#include "rcu/stall.h"
#include "rcu/stats.h"
#include "tests/util/test_util.h"

namespace {

class StallReports {
 public:
  explicit StallReports(absl::Duration timeout)
      : old_timeout_(rcu::StallTimeout()),
        old_handler_(rcu::SetStallHandler([this](const rcu::StallReport& r) {
          std::lock_guard<std::mutex> lock(mu_);
          reports_.push_back(r);
        })) {
    rcu::SetStallTimeout(timeout);
  }
  ~StallReports() {
    rcu::SetStallHandler(std::move(old_handler_));
    rcu::SetStallTimeout(old_timeout_);
  }
  std::vector<rcu::StallReport> Get() {
    std::lock_guard<std::mutex> lock(mu_);
    return reports_;
  }

 private:
  absl::Duration old_timeout_;
  rcu::StallHandler old_handler_;
  std::mutex mu_;
  std::vector<rcu::StallReport> reports_;
};

class BacklogLimit {
 public:
  explicit BacklogLimit(std::size_t limit) : saved_(rcu::CallbackBacklogLimit()) {
    rcu::SetCallbackBacklogLimit(limit);
  }
  ~BacklogLimit() { rcu::SetCallbackBacklogLimit(saved_); }

 private:
  std::size_t saved_;
};

std::mutex app_mu;  // the application's own lock
std::atomic<bool> deleter_waiting{false};

// A deleter that takes the application's lock, as a pool's free would.
struct LockingDeleter {
  void operator()(int* p) const {
    deleter_waiting.store(true);
    std::lock_guard<std::mutex> lock(app_mu);
    delete p;
  }
};

// Waits until some report satisfies `match`, for up to 30 s.
template <typename Match>
bool ReportArrives(StallReports& reports, Match match) {
  return rcu_test::Eventually([&] {
    for (const rcu::StallReport& r : reports.Get()) {
      if (match(r)) return true;
    }
    return false;
  });
}

// A writer retires while holding the lock its own deleter needs, and
// retires enough to be held by backpressure: the worker waits for the lock,
// the writer waits for the worker. Ported kernel code expects call_rcu()
// never to block; here the wait must end, with a report naming the deleter.
//
// Stall reports are off until the writer is waiting for the worker: with
// them on from the start, a writer held up for a stall timeout (a loaded
// machine) before its first wait found the worker already reported stuck,
// never waited, and no report counted it as waiting.
TEST(CallbackStallTest, BackpressureDoesNotDeadlockWithADeleterWaitingForTheWriter) {
  StallReports reports(absl::Milliseconds(100));
  BacklogLimit limit(100);
  rcu::Barrier();
  deleter_waiting.store(false);
  const rcu::Stats before = rcu::GetStats();
  rcu_test::HangGuard hang(std::chrono::seconds(60), "retiring under the deleter's lock");
  rcu::SetStallTimeout(absl::InfiniteDuration());
  std::atomic<bool> wait_seen{false};
  std::thread arm;
  {
    std::lock_guard<std::mutex> lock(app_mu);
    rcu::Retire(new int(0), LockingDeleter());
    rcu::CallRcu([] {});  // hands the retire block over first
    ASSERT_TRUE(rcu_test::Eventually([] { return deleter_waiting.load(); }));
    arm = std::thread([&] {
      // Armed once the writer is inside its wait (or after ten seconds, if it
      // never waits, so that the checks below fail instead of the test hanging).
      wait_seen.store(
          rcu_test::Eventually([] { return rcu::internal::GetWorkerProgress().waiters > 0; }));
      rcu::SetStallTimeout(absl::Milliseconds(100));
    });
    // Ten times the limit, from outside any read-side section: backpressure
    // applies, and must give up once the worker is seen stuck.
    for (int i = 0; i < 1000; ++i) rcu::CallRcu([] {});
  }
  arm.join();
  rcu::Barrier();
  const rcu::Stats after = rcu::GetStats();
  EXPECT_TRUE(wait_seen.load()) << "the writer never waited for the worker";
  EXPECT_GT(after.backlog_waits, before.backlog_waits);  // it did wait, at first
  EXPECT_GT(after.stalls_reported, before.stalls_reported);
  bool named = false;
  for (const rcu::StallReport& r : reports.Get()) {
    if (r.kind != rcu::StallReport::Kind::kCallback) continue;
    std::printf("report: %s for %s, %d waiting: %s\n", r.thread_name.c_str(),
                absl::FormatDuration(r.blocked_for).c_str(), r.waiting_threads, r.callback.c_str());
    EXPECT_EQ(r.thread_name, "rcu-callbacks");
    EXPECT_GE(r.blocked_for, absl::Milliseconds(100));
    if (r.callback.find("LockingDeleter") != std::string::npos && r.waiting_threads >= 1) {
      named = true;
    }
  }
  EXPECT_TRUE(named) << "no callback stall report named the deleter";
}

// Barrier() cannot give up, but a thread held in it by a callback that does
// not return gets the callback named.
TEST(CallbackStallTest, BarrierHeldByACallbackIsReported) {
  StallReports reports(absl::Milliseconds(100));
  std::atomic<bool> release{false};
  std::atomic<bool> running{false};
  rcu::CallRcu([&] {
    running.store(true);
    while (!release.load()) std::this_thread::yield();
  });
  std::thread waiter([] { rcu::Barrier(); });
  const bool reported = ReportArrives(reports, [](const rcu::StallReport& r) {
    return r.kind == rcu::StallReport::Kind::kCallback && r.waiting_threads >= 1 &&
           r.callback.find("CallRcu() callable") != std::string::npos &&
           // A lambda's name: GCC gives the function it is in, clang its
           // file and line.
           (r.callback.find("BarrierHeldByACallbackIsReported") != std::string::npos ||
            r.callback.find("callback_stall_test.cc") != std::string::npos);
  });
  release.store(true);
  waiter.join();
  EXPECT_TRUE(running.load());
  EXPECT_TRUE(reported);
}

// A callback that runs long while nobody waits is no deadlock, but it holds
// up reclamation: it is reported too, once per timeout, and nothing else is.
TEST(CallbackStallTest, OnlyTheStuckCallbackIsReported) {
  StallReports reports(absl::Milliseconds(100));
  std::atomic<bool> release{false};
  for (int i = 0; i < 100; ++i) rcu::CallRcu([] {});  // quick ones
  rcu::CallRcu([&] {
    while (!release.load()) std::this_thread::yield();
  });
  const bool reported = ReportArrives(reports, [](const rcu::StallReport& r) {
    return r.kind == rcu::StallReport::Kind::kCallback;
  });
  release.store(true);
  rcu::Barrier();
  EXPECT_TRUE(reported);
  for (const rcu::StallReport& r : reports.Get()) {
    EXPECT_EQ(r.kind, rcu::StallReport::Kind::kCallback);
  }
}

}  // namespace
