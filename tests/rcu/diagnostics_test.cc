// One channel for misuse reports (rcu/diagnostics.h): the core's and the
// containers' reports all reach the installed handler, and are counted in
// rcu::Stats::diagnostics_reported; fatal ones abort after it returns.
#include "rcu/diagnostics.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "containers/config/config_watcher.h"
#include "containers/snapshot.h"
#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/read_guard.h"
#include "rcu/stats.h"
#include "tests/util/test_util.h"

namespace {

// Installs a handler that prints each report's kind and message to stderr,
// so that death tests can match what reached it.
void PrintingHandler() {
  rcu::SetDiagnosticHandler([](const rcu::Diagnostic& d) {
    std::fprintf(stderr, "handler saw kind %d%s: %s\n", static_cast<int>(d.kind),
                 d.fatal ? " (fatal)" : "", d.message.c_str());
  });
}

int Kind(rcu::Diagnostic::Kind kind) { return static_cast<int>(kind); }

std::string Saw(rcu::Diagnostic::Kind kind) {
  return "handler saw kind " + std::to_string(Kind(kind)) + " \\(fatal\\): ";
}

TEST(DiagnosticsDeathTest, ForkInsideAReadSectionIsReported) {
  EXPECT_DEATH(
      {
        PrintingHandler();
        rcu::ReadGuard guard;
        const pid_t pid = fork();
        if (pid == 0) std::_Exit(0);
        waitpid(pid, nullptr, 0);
      },
      Saw(rcu::Diagnostic::Kind::kForkInReadSection) + "rcu: fork\\(\\) called inside a read-side");
}

TEST(DiagnosticsDeathTest, ForkFromACallbackIsReported) {
  EXPECT_DEATH(
      {
        PrintingHandler();
        rcu::CallRcu([] {
          const pid_t pid = fork();
          if (pid == 0) std::_Exit(0);
          waitpid(pid, nullptr, 0);
        });
        rcu::Barrier();
      },
      Saw(rcu::Diagnostic::Kind::kBlockingInCallback) + "rcu: fork\\(\\) called from an RCU");
}

TEST(DiagnosticsDeathTest, SnapshotMisuseGoesThroughTheHandler) {
  EXPECT_DEATH(
      {
        PrintingHandler();
        rcu::Snapshot<int> snapshot;
        snapshot.Store(std::unique_ptr<int>());
      },
      Saw(rcu::Diagnostic::Kind::kContainerMisuse) +
          "rcu::Snapshot: Store/CompareAndSwap given a null");
}

// A file holding `text`, in a fresh temporary directory.
std::string TempFile(const std::string& text) {
  char dir[] = "/tmp/diagnostics_test.XXXXXX";
  if (mkdtemp(dir) == nullptr) return "";
  const std::string path = std::string(dir) + "/config";
  std::ofstream(path) << text;
  return path;
}

absl::StatusOr<int> ParseLength(std::string_view text) { return static_cast<int>(text.size()); }

TEST(DiagnosticsDeathTest, WatcherStoppedFromItsOwnThreadGoesThroughTheHandler) {
  EXPECT_DEATH(
      {
        PrintingHandler();
        const std::string path = TempFile("1");
        std::unique_ptr<rcu::ConfigWatcher<int>> watcher;
        rcu::ConfigWatcher<int>::Options options;
        options.on_reload = [&watcher](const rcu::ReloadResult& r) {
          if (r.trigger != rcu::ReloadTrigger::kManual && watcher) watcher->Stop();
        };
        watcher = std::move(*rcu::ConfigWatcher<int>::Create(path, ParseLength, options));
        std::ofstream(path) << "22";  // the watcher's thread reloads, then stops itself
        std::this_thread::sleep_for(std::chrono::seconds(30));  // until it dies
      },
      Saw(rcu::Diagnostic::Kind::kContainerMisuse) +
          "rcu::ConfigWatcher: Stop\\(\\) or the destructor called from the "
          "watcher's own");
}

TEST(DiagnosticsTest, ThrowingWatcherListenerIsReportedAndCounted) {
  std::atomic<int> seen{0};
  rcu::DiagnosticHandler previous = rcu::SetDiagnosticHandler([&](const rcu::Diagnostic& d) {
    if (d.kind == rcu::Diagnostic::Kind::kListenerThrew) seen.fetch_add(1);
  });
  const rcu::Stats before = rcu::GetStats();
  {
    rcu::ConfigWatcher<int>::Options options;
    options.on_reload = [](const rcu::ReloadResult&) { throw std::runtime_error("listener"); };
    auto watcher = rcu::ConfigWatcher<int>::Create(TempFile("1"), ParseLength, options);
    ASSERT_TRUE(watcher.ok()) << watcher.status();
    EXPECT_EQ((*watcher)->Reload().outcome, rcu::ReloadResult::Outcome::kUnchanged);
  }
  rcu::SetDiagnosticHandler(std::move(previous));
  EXPECT_EQ(seen.load(), 2);  // the initial load and the Reload()
  EXPECT_GE(rcu::GetStats().diagnostics_reported - before.diagnostics_reported, 2u);
}

TEST(DiagnosticsTest, ThrowingSubscriberIsReportedAndCounted) {
  std::atomic<int> seen{0};
  std::atomic<int> kind{-1};
  rcu::DiagnosticHandler previous = rcu::SetDiagnosticHandler([&](const rcu::Diagnostic& d) {
    kind.store(Kind(d.kind));
    seen.fetch_add(1);
  });
  const rcu::Stats before = rcu::GetStats();
  {
    rcu::Snapshot<int> snapshot(1);
    snapshot.Subscribe([](const int&, std::uint64_t) { throw std::runtime_error("boom"); });
    snapshot.Store(2);
    // The subscriber runs on the notification thread; wait for its report.
    EXPECT_TRUE(rcu_test::Eventually([&] { return seen.load() > 0; }));
  }
  rcu::SetDiagnosticHandler(std::move(previous));
  EXPECT_EQ(seen.load(), 1);
  EXPECT_EQ(kind.load(), Kind(rcu::Diagnostic::Kind::kListenerThrew));
  EXPECT_EQ(rcu::GetStats().diagnostics_reported - before.diagnostics_reported, 1u);
}

TEST(DiagnosticsTest, CoreReportsAreCounted) {
  rcu::DiagnosticHandler previous = rcu::SetDiagnosticHandler([](const rcu::Diagnostic&) {});
  const rcu::Stats before = rcu::GetStats();
  rcu::CallRcu([] { throw std::runtime_error("callback failure"); });
  rcu::Barrier();
  rcu::SetDiagnosticHandler(std::move(previous));
  EXPECT_EQ(rcu::GetStats().diagnostics_reported - before.diagnostics_reported, 1u);
}

}  // namespace
