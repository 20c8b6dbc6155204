// Stall warnings: a reader that blocks a grace period for longer than the
// stall timeout is reported through the handler, with its thread id.
#include "rcu/stall.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
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
    got_report =
        reported.wait_for(lock, std::chrono::seconds(30), [&] { return !reports.empty(); });
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
    got_report =
        reported.wait_for(lock, std::chrono::seconds(30), [&] { return !reports.empty(); });
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

// Collects stall reports with the time each arrived, and restores the
// timeout and handler afterwards.
class ReportCollector {
 public:
  struct Received {
    rcu::StallReport report;
    absl::Time at;
  };
  explicit ReportCollector(absl::Duration timeout)
      : old_timeout_(rcu::StallTimeout()),
        old_handler_(rcu::SetStallHandler([this](const rcu::StallReport& r) {
          const absl::Time now = absl::Now();
          std::lock_guard<std::mutex> lock(mu_);
          reports_.push_back({r, now});
        })) {
    rcu::SetStallTimeout(timeout);
  }
  ~ReportCollector() {
    rcu::SetStallHandler(std::move(old_handler_));
    rcu::SetStallTimeout(old_timeout_);
  }
  std::vector<Received> Reports() {
    std::lock_guard<std::mutex> lock(mu_);
    return reports_;
  }

 private:
  absl::Duration old_timeout_;
  rcu::StallHandler old_handler_;
  std::mutex mu_;
  std::vector<Received> reports_;
};

// A reader that runs short sections back to back and logs when each began
// and ended (timed from just outside it, so each logged span covers the
// section, including any time the thread was preempted inside it).
class ShortSectionReader {
 public:
  ShortSectionReader()
      : thread_([this] {
          tid_.store(static_cast<pid_t>(syscall(SYS_gettid)));
          while (!stop_.load()) {
            const absl::Time start = absl::Now();
            {
              rcu::ReadGuard guard;
              // Most of the reader's time is spent inside its sections, so
              // that the watchdog usually samples it inside one.
              const absl::Time until = start + absl::Microseconds(500);
              while (absl::Now() < until) {
              }
            }
            sections_.push_back({start, absl::Now()});
          }
        }) {
    while (tid_.load() == 0) std::this_thread::yield();
  }
  // Stops the reader; afterwards the log is final.
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  ~ShortSectionReader() { Stop(); }
  pid_t tid() const { return tid_.load(); }
  std::size_t sections() const { return sections_.size(); }
  absl::Duration Longest() const {
    absl::Duration longest;
    for (const auto& [start, end] : sections_) longest = std::max(longest, end - start);
    return longest;
  }

  // Whether a report that arrived at `at`, saying this thread had been in
  // one section for `blocked_for`, is founded: some single section must
  // have begun at least `blocked_for` before the report and lasted at least
  // that long. (The watchdog scanned a little before the report arrived, so
  // the section may have ended up to `blocked_for` before `at`.)
  bool Founded(absl::Time at, absl::Duration blocked_for) const {
    for (const auto& [start, end] : sections_) {
      if (start <= at - blocked_for && end - start >= blocked_for && end >= at - 2 * blocked_for) {
        return true;
      }
    }
    return false;
  }

 private:
  std::atomic<pid_t> tid_{0};
  std::atomic<bool> stop_{false};
  // (begin, end) of each section; written by the thread, read after Stop().
  std::vector<std::pair<absl::Time, absl::Time>> sections_;
  std::thread thread_;
};

// Back-to-back short sections must not read as one long section: a reader's
// word (nesting count and phase) repeats from one section to the next, so the
// watchdog must tell sections apart by more than that. Every report must be
// backed by one section that really lasted as long as it says (on a loaded
// machine a reader can be preempted inside a section, and that is a stall).
TEST(StallTest, BackToBackShortSectionsAreNotOneStall) {
  ReportCollector collector(absl::Milliseconds(40));
  ShortSectionReader a, b;
  std::atomic<bool> stop{false};
  std::atomic<long> grace_periods{0};
  std::thread writer([&] {
    while (!stop.load()) {
      rcu::Synchronize();
      grace_periods.fetch_add(1);
    }
  });
  // Two seconds, and at least 101 grace periods for the watchdog to watch:
  // on a loaded machine two seconds gave as few as 135, so they are waited
  // for (up to a minute, which only turns a writer that hangs into a failure).
  const absl::Time start = absl::Now();
  while (absl::Now() < start + absl::Seconds(2) ||
         (grace_periods.load() <= 100 && absl::Now() < start + absl::Seconds(60))) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop.store(true);
  writer.join();
  a.Stop();
  b.Stop();
  int founded = 0, unfounded = 0;
  for (const ReportCollector::Received& r : collector.Reports()) {
    for (const ShortSectionReader* reader : {&a, &b}) {
      if (r.report.thread_id != reader->tid()) continue;
      if (reader->Founded(r.at, r.report.blocked_for)) {
        ++founded;
      } else {
        ++unfounded;
        std::printf("unfounded report: thread %d blocked for %s, but no section that long\n",
                    static_cast<int>(r.report.thread_id),
                    absl::FormatDuration(r.report.blocked_for).c_str());
      }
    }
  }
  std::printf(
      "%zu + %zu sections (longest %s, %s), %ld grace periods, %d founded and %d "
      "unfounded reports\n",
      a.sections(), b.sections(), absl::FormatDuration(a.Longest()).c_str(),
      absl::FormatDuration(b.Longest()).c_str(), grace_periods.load(), founded, unfounded);
  EXPECT_GT(grace_periods.load(), 100);  // the watchdog had grace periods to watch
  EXPECT_EQ(unfounded, 0);
}

// Among readers running short sections, the one long section is reported,
// under its own thread's id.
TEST(StallTest, TheLongSectionIsReportedAmongShortOnes) {
  ReportCollector collector(absl::Milliseconds(40));
  ShortSectionReader a, b;
  std::atomic<pid_t> long_tid{0};
  std::atomic<bool> release{false};
  std::thread long_reader([&] {
    rcu::ReadGuard guard;
    long_tid.store(static_cast<pid_t>(syscall(SYS_gettid)));
    while (!release.load()) std::this_thread::yield();
  });
  while (long_tid.load() == 0) std::this_thread::yield();
  std::thread writer([] { rcu::Synchronize(); });
  const bool reported = [&] {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline) {
      for (const ReportCollector::Received& r : collector.Reports()) {
        if (r.report.thread_id == long_tid.load()) return true;
      }
      std::this_thread::yield();
    }
    return false;
  }();
  release.store(true);
  long_reader.join();
  writer.join();
  a.Stop();
  b.Stop();
  EXPECT_TRUE(reported);
  for (const ReportCollector::Received& r : collector.Reports()) {
    if (r.report.thread_id == a.tid()) {
      EXPECT_TRUE(a.Founded(r.at, r.report.blocked_for));
    }
    if (r.report.thread_id == b.tid()) {
      EXPECT_TRUE(b.Founded(r.at, r.report.blocked_for));
    }
  }
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
