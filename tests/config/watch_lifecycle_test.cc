// Stopping, fork() and calls back into the watcher from its listener: the
// cases an outside review found (review_repros/review/REPORT.md, bugs 1 to
// 3). Each test would hang or publish after Stop() with the bug put back; a
// watchdog turns a hang into a message and a failed exit instead of a Bazel
// timeout.
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "containers/config/config_watcher.h"
#include "gtest/gtest.h"
#include "rcu/diagnostics.h"
#include "rcu/internal/sanitizer.h"
#include "tests/config/watch_test_util.h"

namespace {

using ::rcu::ReloadResult;
using ::rcu_test::ReloadLog;
using ::rcu_test::TempDir;
using Watcher = rcu::ConfigWatcher<std::string>;

absl::StatusOr<std::string> Identity(std::string_view text) { return std::string(text); }

// Ends the process with `what` if not disarmed within `bound`: a deadlock
// in the code under test must fail the test, not hang it.
class Watchdog {
 public:
  Watchdog(std::string what, absl::Duration bound)
      : thread_([this, what = std::move(what), bound] {
          if (!rcu_test::WaitUntil([this] { return disarmed_.load(); }, bound)) {
            std::fprintf(stderr, "HUNG: %s (not done after %s)\n", what.c_str(),
                         absl::FormatDuration(bound).c_str());
            std::_Exit(3);
          }
        }) {}
  ~Watchdog() {
    disarmed_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> disarmed_{false};
  std::thread thread_;
};

// Collects the diagnostics reported while it lives.
class DiagnosticLog {
 public:
  DiagnosticLog() {
    previous_ = rcu::SetDiagnosticHandler([this](const rcu::Diagnostic& d) {
      std::lock_guard<std::mutex> lock(mu_);
      kinds_.push_back(d.kind);
      messages_.push_back(d.message);
    });
  }
  ~DiagnosticLog() { rcu::SetDiagnosticHandler(previous_); }
  int Count(rcu::Diagnostic::Kind kind) const {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (rcu::Diagnostic::Kind k : kinds_) n += k == kind;
    return n;
  }
  std::string Messages() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::string all;
    for (const std::string& m : messages_) all += m + "\n";
    return all;
  }

 private:
  mutable std::mutex mu_;
  std::vector<rcu::Diagnostic::Kind> kinds_;
  std::vector<std::string> messages_;
  rcu::DiagnosticHandler previous_;
};

// A parser that, on "slow", stays in the parse until Stop() has been asked
// for and then a little longer (`linger`, or until `release` is set), and
// records when it returned.
struct SlowParse {
  std::atomic<bool> entered{false};
  std::atomic<bool> stop_seen{false};
  std::atomic<bool> release{false};
  std::atomic<bool> returned{false};

  Watcher::Parser Parser() {
    return [this](std::string_view text) -> absl::StatusOr<std::string> {
      if (text != "slow") return std::string(text);
      entered = true;
      rcu_test::WaitUntil([] { return rcu::ReloadStopRequested(); });
      stop_seen = true;
      // Give a Stop() that returns too early the time to do so.
      rcu_test::WaitUntil([this] { return release.load(); }, absl::Milliseconds(500));
      returned = true;
      return std::string(text);
    };
  }
};

// Gets a watcher's thread parsing, has another thread call Stop() and waits
// until that call is joining, then runs `second` (another Stop(), or the
// destructor) on this thread. Returns whether the thread's parse had ended
// by the time `second` returned.
bool SecondStopWaitsForTheThread(
    const std::function<void(std::unique_ptr<Watcher>& watcher)>& second) {
  TempDir dir;
  const std::string path = dir.Join("config");
  rcu_test::WriteInPlace(path, "1");
  SlowParse slow;
  Watcher::Options options;
  options.debounce = absl::Milliseconds(10);
  auto watcher = Watcher::Create(path, slow.Parser(), options);
  EXPECT_TRUE(watcher.ok()) << watcher.status();
  if (!watcher.ok()) return false;
  rcu_test::WriteAndRename(path, "slow");
  EXPECT_TRUE(rcu_test::WaitUntil([&] { return slow.entered.load(); }));
  Watchdog watchdog("Stop() from two threads", absl::Seconds(30));
  Watcher* raw = watcher->get();
  std::thread first([raw] { raw->Stop(); });
  EXPECT_TRUE(rcu_test::WaitUntil([&] { return slow.stop_seen.load(); }));
  second(*watcher);  // the first caller is joining by now
  const bool thread_done = slow.returned.load();
  slow.release = true;
  first.join();
  return thread_done;
}

// Bug 2: the second of two concurrent Stop() calls returned while the first
// was still joining, with the watcher thread still parsing (and about to
// publish).
TEST(StopTest, ConcurrentStopReturnsOnlyOnceTheThreadHasExited) {
  const bool thread_done =
      SecondStopWaitsForTheThread([](std::unique_ptr<Watcher>& w) { w->Stop(); });
  std::fprintf(stderr, "second Stop() returned %s the watcher thread's parse had ended\n",
               thread_done ? "after" : "BEFORE");
  EXPECT_TRUE(thread_done) << "Stop() returned while the watcher thread was still running";
}

// Bug 2, through the destructor: it destroyed the owned snapshot while the
// thread, still parsing, was about to publish into it (ASan:
// heap-use-after-free).
TEST(StopTest, DestructorWhileAnotherThreadStopsWaitsForTheThread) {
  const bool thread_done =
      SecondStopWaitsForTheThread([](std::unique_ptr<Watcher>& w) { w.reset(); });
  std::fprintf(stderr, "the destructor returned %s the watcher thread's parse had ended\n",
               thread_done ? "after" : "BEFORE");
  EXPECT_TRUE(thread_done) << "the destructor freed the watcher while its thread still ran";
}

// Bug 1: a fork() child that destroyed its copy of the watcher wrote to the
// eventfd it shares with the parent, and the parent's watcher thread left
// its loop for good while Status() still said OK. The child may not call
// Reload() either (it would take the parent's inotify events).
TEST(ForkTest, ChildDestroyingItsCopyLeavesTheParentWatching) {
  TempDir dir;
  const std::string path = dir.Join("config");
  rcu_test::WriteInPlace(path, "1");
  Watcher::Options options;
  options.debounce = absl::Milliseconds(10);
  auto watcher = Watcher::Create(path, Identity, options);
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (*(*watcher)->Load() != "1") std::_Exit(10);
    const ReloadResult reload = (*watcher)->Reload();
    if (!absl::IsFailedPrecondition(reload.status)) std::_Exit(11);
    (*watcher)->Stop();
    // The destructor too, as a prefork worker's exit runs it. (ThreadSanitizer
    // refuses new threads after a multi-threaded fork, and reclaiming the
    // owned snapshot starts the RCU callback thread: Stop() only, there.)
    if (!RCU_INTERNAL_TSAN) watcher->reset();
    std::_Exit(0);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFEXITED(wstatus)) << "child status " << wstatus;
  EXPECT_EQ(WEXITSTATUS(wstatus), 0) << "10: Load() wrong in the child; 11: Reload() in the "
                                        "child not refused with FailedPrecondition";
  rcu_test::WriteAndRename(path, "2");
  const absl::Time edited = absl::Now();
  // Ten times the documented latency (the debounce delay, plus a second at
  // most for a change that makes no event): reached only with the bug.
  const bool seen =
      rcu_test::WaitUntil([&] { return *(*watcher)->Load() == "2"; }, absl::Seconds(10));
  const rcu::WatcherStatus status = (*watcher)->Status();
  std::fprintf(stderr, "after the child exited: edit %s after %s; parent's polling=%d\n",
               seen ? "published" : "NOT published",
               absl::FormatDuration(absl::Now() - edited).c_str(), status.polling);
  EXPECT_TRUE(seen) << "the parent's watcher stopped when a forked child destroyed its copy";
}

// Bug 3: Reload() from on_reload, run by the watcher thread, deadlocked on
// the thread's own lock. Now it is refused and reported as misuse.
TEST(ReentryTest, ReloadFromTheWatcherThreadsListenerIsRefusedAndReported) {
  TempDir dir;
  const std::string path = dir.Join("config");
  rcu_test::WriteInPlace(path, "1");
  DiagnosticLog diagnostics;
  std::mutex mu;
  std::vector<ReloadResult> nested;
  Watcher::Options options;
  options.debounce = absl::Milliseconds(10);
  Watcher* self = nullptr;
  options.on_reload = [&](const ReloadResult& r) {
    if (r.trigger != rcu::ReloadTrigger::kFileChange || self == nullptr) return;
    ReloadResult inner = self->Reload();  // misuse
    std::lock_guard<std::mutex> lock(mu);
    nested.push_back(std::move(inner));
  };
  auto watcher = Watcher::Create(path, Identity, options);
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  self = watcher->get();  // before any change the thread could act on
  Watchdog watchdog("Reload() from the watcher thread's on_reload", absl::Seconds(30));
  rcu_test::WriteAndRename(path, "2");
  ASSERT_TRUE(rcu_test::WaitUntil([&] {
    std::lock_guard<std::mutex> lock(mu);
    return !nested.empty();
  }));
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_TRUE(absl::IsFailedPrecondition(nested[0].status)) << nested[0].status;
    std::fprintf(stderr, "nested Reload(): %s\n", nested[0].status.ToString().c_str());
  }
  EXPECT_EQ(diagnostics.Count(rcu::Diagnostic::Kind::kContainerMisuse), 1)
      << diagnostics.Messages();
  // The watcher still works, and stops.
  rcu_test::WriteAndRename(path, "3");
  EXPECT_TRUE(rcu_test::WaitUntil([&] { return *(*watcher)->Load() == "3"; }));
  (*watcher)->Stop();
}

// Bug 3: Stop() from the listener of a manual Reload() deadlocked (the
// caller held the lock the watcher thread needs to leave poll()). Now it is
// reported, the thread is asked to stop, and the destructor joins it.
TEST(ReentryTest, StopFromAManualReloadsListenerIsReportedNotAHang) {
  TempDir dir;
  const std::string path = dir.Join("config");
  rcu_test::WriteInPlace(path, "1");
  DiagnosticLog diagnostics;
  Watcher::Options options;
  Watcher* self = nullptr;
  options.on_reload = [&](const ReloadResult& r) {
    if (r.trigger == rcu::ReloadTrigger::kManual && self != nullptr) self->Stop();  // misuse
  };
  auto watcher = Watcher::Create(path, Identity, options);
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  self = watcher->get();
  Watchdog watchdog("Stop() from the listener of a manual Reload()", absl::Seconds(30));
  rcu_test::WriteAndRename(path, "2");
  const ReloadResult result = (*watcher)->Reload();
  EXPECT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(*(*watcher)->Load(), "2");
  EXPECT_EQ(diagnostics.Count(rcu::Diagnostic::Kind::kContainerMisuse), 1)
      << diagnostics.Messages();
  std::fprintf(stderr, "Reload() returned; diagnostics: %s", diagnostics.Messages().c_str());
  self = nullptr;
  watcher->reset();  // joins the thread asked to stop
}

}  // namespace
