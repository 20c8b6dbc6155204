// Files that never rest: another process rewrites the file without pause, or
// keeps opening it to read. The watcher must still load it within the
// documented bounds (max_debounce, "at most a second" for readers), and
// Reload() and Create() must not block for as long as the writer goes on.
// The cases an outside review found (review_repros/review/REPORT.md, bugs 4,
// 5, 6 and 9). Files are self-checking ("seq=N ... end=N"); the parser
// accepts anything and counts what was not a whole file, so a torn read
// would be published and caught.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "containers/config/config_watcher.h"
#include "gtest/gtest.h"
#include "tests/config/watch_test_util.h"

namespace {

using ::rcu_test::TempDir;
using Watcher = rcu::ConfigWatcher<std::string>;

std::string MakeFile(int seq) {
  return absl::StrCat("seq=", seq, "\n", std::string(200, 'x'), "\nend=", seq, "\n");
}

// The sequence number of a whole file, or -1 for anything else.
int SeqOf(absl::string_view text) {
  if (!absl::ConsumePrefix(&text, "seq=")) return -1;
  const auto newline = text.find('\n');
  int seq;
  if (newline == absl::string_view::npos || !absl::SimpleAtoi(text.substr(0, newline), &seq)) {
    return -1;
  }
  return text.substr(newline + 1) == MakeFile(seq).substr(newline + 5) ? seq : -1;
}

// Publishes whatever it reads, counting what was not a whole file.
struct Recorder {
  std::atomic<int> torn{0};
  std::atomic<int> last_seq{0};
  Watcher::Parser Parser() {
    return [this](std::string_view text) -> absl::StatusOr<std::string> {
      const int seq = SeqOf(absl::string_view(text.data(), text.size()));
      if (seq < 0) torn.fetch_add(1);
      if (seq > last_seq.load()) last_seq = seq;
      return std::string(text);
    };
  }
};

// Rewrites `path` in place, every write complete and closed, 50 a second,
// until destroyed or `bound` has passed.
class BusyWriter {
 public:
  BusyWriter(std::string path, absl::Duration bound)
      : thread_([this, path = std::move(path), bound] {
          const absl::Time until = absl::Now() + bound;
          for (int seq = 2; !stop_.load() && absl::Now() < until; ++seq) {
            rcu_test::WriteInPlace(path, MakeFile(seq));
            written_ = seq;
            absl::SleepFor(absl::Milliseconds(20));  // the workload's pace
          }
        }) {}
  ~BusyWriter() {
    stop_ = true;
    thread_.join();
  }
  int written() const { return written_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> written_{1};
  std::thread thread_;
};

Watcher::Options BusyOptions() {
  Watcher::Options options;
  options.debounce = absl::Milliseconds(100);
  options.max_debounce = absl::Seconds(1);
  return options;
}

// Within the bound plus a margin for a loaded 2-core machine.
constexpr absl::Duration kMargin = absl::Seconds(2);

// Bug 6: every close restarted the debounce window, and a file changed less
// than the debounce delay ago was never read, so a file rewritten every 20
// ms was never loaded; max_debounce promises it is.
TEST(BusyFileTest, FileRewrittenWithoutPauseIsLoadedWithinMaxDebounce) {
  TempDir dir;
  const std::string path = dir.Join("config");
  rcu_test::WriteInPlace(path, MakeFile(1));
  Recorder recorder;
  const Watcher::Options options = BusyOptions();
  auto watcher = Watcher::Create(path, recorder.Parser(), options);
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  const absl::Time start = absl::Now();
  BusyWriter writer(path, absl::Seconds(10));
  const bool loaded =
      rcu_test::WaitUntil([&] { return SeqOf(*(*watcher)->Load()) >= 2; }, absl::Seconds(10));
  const absl::Duration took = absl::Now() - start;
  const rcu::WatcherStatus status = (*watcher)->Status();
  std::fprintf(stderr,
               "rewritten every 20 ms: first new version published %s after the writer "
               "began (max_debounce %s); %d writes, files_read %llu, torn publications %d\n",
               loaded ? absl::FormatDuration(took).c_str() : "NEVER (10 s)",
               absl::FormatDuration(options.max_debounce).c_str(), writer.written(),
               static_cast<unsigned long long>(status.files_read), recorder.torn.load());
  EXPECT_TRUE(loaded) << "a file that changed without pause was never loaded";
  EXPECT_LT(took, options.max_debounce + kMargin);
  EXPECT_EQ(recorder.torn.load(), 0);
}

// Bug 5: Reload() waited for the file to rest for as long as the writer
// went on; it is bounded by max_debounce.
TEST(BusyFileTest, ReloadReturnsWithinMaxDebounceWhileTheFileIsRewritten) {
  TempDir dir;
  const std::string path = dir.Join("config");
  rcu_test::WriteInPlace(path, MakeFile(1));
  Recorder recorder;
  const Watcher::Options options = BusyOptions();
  auto watcher = Watcher::Create(path, recorder.Parser(), options);
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  BusyWriter writer(path, absl::Seconds(10));
  ASSERT_TRUE(rcu_test::WaitUntil([&] { return writer.written() >= 5; }));
  const absl::Time start = absl::Now();
  const rcu::ReloadResult result = (*watcher)->Reload();
  const absl::Duration took = absl::Now() - start;
  std::fprintf(stderr, "Reload() under a writer every 20 ms returned after %s: %s %s\n",
               absl::FormatDuration(took).c_str(), rcu::ReloadOutcomeName(result.outcome),
               result.status.ToString().c_str());
  EXPECT_LT(took, options.max_debounce + kMargin);
  EXPECT_EQ(recorder.torn.load(), 0);
}

// Bug 5, for the first load.
TEST(BusyFileTest, CreateReturnsWithinMaxDebounceWhileTheFileIsRewritten) {
  TempDir dir;
  const std::string path = dir.Join("config");
  rcu_test::WriteInPlace(path, MakeFile(1));
  BusyWriter writer(path, absl::Seconds(10));
  ASSERT_TRUE(rcu_test::WaitUntil([&] { return writer.written() >= 5; }));
  Recorder recorder;
  Watcher::Options options = BusyOptions();
  options.require_initial_load = false;
  const absl::Time start = absl::Now();
  auto watcher = Watcher::Create(path, recorder.Parser(), options);
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  std::fprintf(stderr, "Create() under a writer every 20 ms returned after %s: %s\n",
               absl::FormatDuration(took).c_str(),
               (*watcher)->Status().last_status.ToString().c_str());
  EXPECT_LT(took, options.max_debounce + kMargin);
  EXPECT_EQ(recorder.torn.load(), 0);
}

// Bug 4: each foreign open restarted the "reader may have changed it" wait,
// so a reader holding the file open plus one opening it every 300 ms kept a
// rename edit from ever loading. The wait is at most a second from the
// first refusal.
TEST(BusyFileTest, ReadOnlyReadersDelayAnEditByAtMostASecond) {
  TempDir dir;
  const std::string path = dir.Join("config");
  rcu_test::WriteInPlace(path, MakeFile(1));
  Recorder recorder;
  auto watcher = Watcher::Create(path, recorder.Parser(), BusyOptions());
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  rcu_test::WriteAndRename(path, MakeFile(2));
  const absl::Time edited = absl::Now();
  // Right after the edit, a process opens the new file and keeps it open
  // (read-only)...
  const int held = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(held, 0);
  // ...and, a moment later (inotify merges identical events queued back to
  // back), another opens it every 300 ms.
  absl::SleepFor(absl::Milliseconds(20));
  std::atomic<bool> stop{false};
  std::thread periodic([&] {
    while (!stop.load()) {
      const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) ::close(fd);
      absl::SleepFor(absl::Milliseconds(300));
    }
  });
  const bool loaded =
      rcu_test::WaitUntil([&] { return SeqOf(*(*watcher)->Load()) == 2; }, absl::Seconds(10));
  const absl::Duration took = absl::Now() - edited;
  stop = true;
  periodic.join();
  ::close(held);
  std::fprintf(
      stderr, "rename edit with read-only readers: published %s\n",
      loaded ? absl::StrCat("after ", absl::FormatDuration(took)).c_str() : "NEVER (10 s)");
  EXPECT_TRUE(loaded);
  // The debounce delay, then at most a second of waiting for the readers.
  EXPECT_LT(took, absl::Seconds(1) + kMargin);
}

// Bug 4 again: several watchers of one file (several processes or
// components of a host) see each other's reads as foreign opens; with the
// wait restarted by every open, some never loaded an edit (4 runs in 10
// with 8 watchers). Each edit must reach every watcher within the bound.
TEST(BusyFileTest, EightWatchersOfOneFileEachLoadEveryEdit) {
  TempDir dir;
  const std::string path = dir.Join("config");
  rcu_test::WriteInPlace(path, MakeFile(1));
  std::vector<Recorder> recorders(8);
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (Recorder& recorder : recorders) {
    auto watcher = Watcher::Create(path, recorder.Parser(), BusyOptions());
    ASSERT_TRUE(watcher.ok()) << watcher.status();
    watchers.push_back(*std::move(watcher));
  }
  absl::Duration worst;
  for (int seq = 2; seq <= 11; ++seq) {
    rcu_test::WriteAndRename(path, MakeFile(seq));
    const absl::Time edited = absl::Now();
    for (std::size_t i = 0; i < watchers.size(); ++i) {
      const bool loaded = rcu_test::WaitUntil([&] { return SeqOf(*watchers[i]->Load()) == seq; },
                                              absl::Seconds(10));
      ASSERT_TRUE(loaded) << "watcher " << i << " never published edit " << seq;
    }
    worst = std::max(worst, absl::Now() - edited);
  }
  std::fprintf(stderr,
               "8 watchers of one file, 10 rename edits: the last watcher published "
               "each within %s at worst\n",
               absl::FormatDuration(worst).c_str());
  EXPECT_LT(worst, absl::Seconds(1) + kMargin);
  for (const Recorder& recorder : recorders) EXPECT_EQ(recorder.torn.load(), 0);
}

// Bug 9: truncate(2) by path makes an IN_MODIFY that no close follows; it
// was taken as a writer at work and read only after open_writer_timeout
// (10 s). The header promises a read after the debounce delay.
TEST(BusyFileTest, TruncateByPathIsReadAfterTheDebounce) {
  TempDir dir;
  const std::string path = dir.Join("config");
  rcu_test::WriteInPlace(path, MakeFile(1));
  rcu_test::ReloadLog log;
  Watcher::Options options = BusyOptions();
  options.on_reload = log.Listener();
  // Whole files only: what follows the end marker is junk.
  auto watcher = Watcher::Create(
      path,
      [](std::string_view text) -> absl::StatusOr<std::string> {
        if (SeqOf(absl::string_view(text.data(), text.size())) < 0) {
          return absl::InvalidArgumentError("not a whole file");
        }
        return std::string(text);
      },
      options);
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  const std::string good = MakeFile(2);
  rcu_test::WriteInPlace(path, good + "junk junk junk\n");
  ASSERT_GE(log.WaitForFailure(), 0);  // rejected, and the writer closed it
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(good.size())), 0);
  const absl::Time truncated = absl::Now();
  const bool loaded =
      rcu_test::WaitUntil([&] { return SeqOf(*(*watcher)->Load()) == 2; }, absl::Seconds(15));
  const absl::Duration took = absl::Now() - truncated;
  std::fprintf(stderr,
               "truncate(2) by path: published after %s (debounce %s, "
               "open_writer_timeout %s)\n",
               absl::FormatDuration(took).c_str(), absl::FormatDuration(options.debounce).c_str(),
               absl::FormatDuration(options.open_writer_timeout).c_str());
  EXPECT_TRUE(loaded);
  EXPECT_LT(took, options.debounce + kMargin);
}

// After a truncate by path, a file created empty by `render > f` is again
// a writer at work, held until it closes the file: the truncate's "no open
// seen" must not carry over to it.
TEST(BusyFileTest, AFileCreatedEmptyAfterATruncateIsWaitedForUntilClosed) {
  TempDir dir;
  const std::string path = dir.Join("config");
  rcu_test::WriteInPlace(path, MakeFile(1) + "junk\n");
  rcu_test::ReloadLog log;
  Watcher::Options options = BusyOptions();
  options.on_reload = log.Listener();
  options.require_initial_load = false;
  Recorder recorder;
  auto watcher = Watcher::Create(path, recorder.Parser(), options);
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(MakeFile(1).size())), 0);
  ASSERT_TRUE(rcu_test::WaitUntil([&] { return SeqOf(*(*watcher)->Load()) == 1; }));
  const int before = log.size();
  // rm, then `render > f` whose first output comes 1.5 s later: longer than
  // the debounce delay, and than the second a foreign open holds a read.
  rcu_test::RemoveFile(path);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  absl::SleepFor(absl::Milliseconds(1500));  // the writer's pause
  rcu_test::WriteAll(fd, MakeFile(2), "config");
  ::close(fd);
  ASSERT_TRUE(rcu_test::WaitUntil([&] { return SeqOf(*(*watcher)->Load()) == 2; }));
  int failures = 0;
  for (int i = before; i < log.size(); ++i) {
    const rcu::ReloadResult r = log.results()[i];
    // (A NotFound between the rm and the create is fair: not counted.)
    if (!r.status.ok() && !absl::IsNotFound(r.status)) {
      ++failures;
      std::fprintf(stderr, "read while the writer held it: %s\n", r.status.ToString().c_str());
    }
  }
  EXPECT_EQ(failures, 0) << "the empty file was read while its creator still had it open";
}

}  // namespace
