// Hot reload from real files in a temporary directory: every way a file
// changes, every way loading it fails, with inotify and with polling.
#include "containers/config/config_watcher.h"

#include <limits.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "containers/config/json_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/config/watch_test_util.h"

namespace config_test {

// The config under test. `check` must equal value * 7 + 1: the validation
// hook rejects anything else, and readers use it to detect a torn value.
// Outside the anonymous namespace: the macro also defines to_json, unused.
struct TestConfig {
  std::string name;
  int value = 0;
  int check = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TestConfig, name, value, check)

}  // namespace config_test

namespace {

using ::rcu::ReloadResult;
using ::rcu_test::kTimeout;
using ::rcu_test::ReloadLog;
using ::rcu_test::TempDir;
using ::testing::HasSubstr;

using ::config_test::TestConfig;

std::string Json(int value, const std::string& name = "cfg") {
  return absl::StrCat(R"({"name": ")", name, R"(", "value": )", value, R"(, "check": )",
                      value * 7 + 1, "}\n");
}

absl::Status Validate(const TestConfig& config) {
  if (config.check != config.value * 7 + 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("check is ", config.check, ", expected ", config.value * 7 + 1));
  }
  return absl::OkStatus();
}

using Watcher = rcu::ConfigWatcher<TestConfig>;

std::string RealPath(const std::string& path) {
  char resolved[PATH_MAX];
  return ::realpath(path.c_str(), resolved) != nullptr ? resolved : path;
}

enum class Mode { kInotify, kPolling };

std::string ModeName(const ::testing::TestParamInfo<Mode>& info) {
  return info.param == Mode::kInotify ? "Inotify" : "Polling";
}

// Waits until the snapshot holds `value`; versions are awaited with
// WaitForVersion, never by sleeping. Returns the version, or 0 on timeout.
std::uint64_t WaitForValue(const Watcher& watcher, int value) {
  const absl::Time deadline = absl::Now() + kTimeout;
  for (;;) {
    std::uint64_t version;
    {
      auto config = watcher.Load();
      if (config && config->value == value) return config.version();
      version = config.version();
    }
    if (!watcher.snapshot().WaitForVersion(version + 1, deadline - absl::Now())) return 0;
  }
}

class WatcherTest : public ::testing::TestWithParam<Mode> {
 protected:
  Watcher::Options Options() {
    Watcher::Options options;
    options.debounce = absl::Milliseconds(20);
    options.poll_interval = absl::Milliseconds(20);
    options.force_polling = GetParam() == Mode::kPolling;
    options.validate = Validate;
    options.on_reload = log_.Listener();
    return options;
  }

  std::unique_ptr<Watcher> Watch(const std::string& path, Watcher::Options options) {
    auto watcher = rcu::WatchJsonConfig<TestConfig>(path, std::move(options));
    EXPECT_TRUE(watcher.ok()) << watcher.status();
    return watcher.ok() ? *std::move(watcher) : nullptr;
  }
  std::unique_ptr<Watcher> Watch(const std::string& path) { return Watch(path, Options()); }

  // Waits until the snapshot holds `value` and the watcher has recorded the
  // reload that published it (Status() is updated just after publishing).
  bool WaitForValue(const Watcher& watcher, int value) {
    const std::uint64_t version = ::WaitForValue(watcher, value);
    if (version == 0) return false;
    return log_.WaitFor([&](const ReloadResult& r) {
      return r.outcome == ReloadResult::Outcome::kPublished && r.version >= version;
    }) >= 0;
  }

  // Waits for a failed reload at index `from` or later and returns its
  // status.
  absl::Status NextFailure(int from) {
    const int index = log_.WaitForFailure(from);
    if (index < 0) return absl::DeadlineExceededError("no failure reported");
    return log_.results()[index].status;
  }
  // Waits for a failed reload whose message contains `needle`.
  absl::Status FailureWith(int from, const std::string& needle) {
    const int index = log_.WaitFor(
        [&](const ReloadResult& r) {
          return !r.status.ok() &&
                 std::string(r.status.message()).find(needle) != std::string::npos;
        },
        from);
    if (index < 0) return absl::DeadlineExceededError("no such failure: " + needle);
    return log_.results()[index].status;
  }

  TempDir dir_;
  ReloadLog log_;
};

INSTANTIATE_TEST_SUITE_P(Modes, WatcherTest, ::testing::Values(Mode::kInotify, Mode::kPolling),
                         ModeName);

TEST_P(WatcherTest, LoadsTheFileAtStart) {
  const std::string path = dir_.Join("config.json");
  rcu_test::WriteInPlace(path, Json(1, "first"));
  auto watcher = Watch(path);
  ASSERT_NE(watcher, nullptr);
  auto config = watcher->Load();
  ASSERT_TRUE(config);
  EXPECT_EQ(config->name, "first");
  EXPECT_EQ(config->value, 1);
  EXPECT_EQ(config.version(), 1u);
  const rcu::WatcherStatus status = watcher->Status();
  EXPECT_EQ(status.path, path);
  EXPECT_EQ(status.version, 1u);
  EXPECT_TRUE(status.last_status.ok());
  EXPECT_EQ(status.reloads_published, 1u);
  EXPECT_EQ(status.reloads_failed, 0u);
  EXPECT_NE(status.last_success_time, absl::InfinitePast());
  EXPECT_EQ(status.polling, GetParam() == Mode::kPolling);
  if (GetParam() == Mode::kInotify) {
    EXPECT_THAT(status.watched_directories, ::testing::Contains(RealPath(dir_.path())));
  }
  ASSERT_EQ(log_.size(), 1);
  EXPECT_EQ(log_.results()[0].trigger, rcu::ReloadTrigger::kInitial);
  EXPECT_EQ(log_.results()[0].outcome, ReloadResult::Outcome::kPublished);
}

TEST_P(WatcherTest, InPlaceWrite) {
  const std::string path = dir_.Join("config.json");
  rcu_test::WriteInPlace(path, Json(1));
  auto watcher = Watch(path);
  ASSERT_NE(watcher, nullptr);
  rcu_test::WriteInPlace(path, Json(2));
  ASSERT_TRUE(WaitForValue(*watcher, 2));
  rcu_test::WriteInPlace(path, Json(3));
  ASSERT_TRUE(WaitForValue(*watcher, 3));
  EXPECT_EQ(watcher->Status().reloads_failed, 0u);
}

TEST_P(WatcherTest, RenameOver) {
  const std::string path = dir_.Join("config.json");
  rcu_test::WriteInPlace(path, Json(1));
  auto watcher = Watch(path);
  ASSERT_NE(watcher, nullptr);
  rcu_test::WriteAndRename(path, Json(2));
  ASSERT_TRUE(WaitForValue(*watcher, 2));
  rcu_test::WriteAndRename(path, Json(3));
  ASSERT_TRUE(WaitForValue(*watcher, 3));
}

TEST_P(WatcherTest, EditorSaveWithBackupRename) {
  // vim's default: rename the original to a backup, write a new file under
  // the old name, delete the backup.
  const std::string path = dir_.Join("config.json");
  rcu_test::WriteInPlace(path, Json(1));
  auto watcher = Watch(path);
  ASSERT_NE(watcher, nullptr);
  ASSERT_EQ(::rename(path.c_str(), (path + "~").c_str()), 0);
  rcu_test::WriteInPlace(path, Json(2));
  rcu_test::RemoveFile(path + "~");
  ASSERT_TRUE(WaitForValue(*watcher, 2));
}

TEST_P(WatcherTest, KubernetesConfigMapSymlinkSwap) {
  rcu_test::ConfigMapVolume volume(dir_.path(), "config.json", Json(1));
  auto watcher = Watch(volume.path());
  ASSERT_NE(watcher, nullptr);
  EXPECT_EQ(watcher->Load()->value, 1);
  volume.Update(Json(2));
  ASSERT_TRUE(WaitForValue(*watcher, 2));
  volume.Update(Json(3));
  ASSERT_TRUE(WaitForValue(*watcher, 3));
  EXPECT_EQ(watcher->Status().reloads_failed, 0u);
}

TEST_P(WatcherTest, DeleteThenRecreate) {
  const std::string path = dir_.Join("config.json");
  rcu_test::WriteInPlace(path, Json(1));
  auto watcher = Watch(path);
  ASSERT_NE(watcher, nullptr);
  const int from = log_.size();
  rcu_test::RemoveFile(path);
  const absl::Status missing = NextFailure(from);
  EXPECT_TRUE(absl::IsNotFound(missing)) << missing;
  EXPECT_THAT(std::string(missing.message()), HasSubstr(path));
  EXPECT_EQ(watcher->Load()->value, 1);  // still the last good version
  rcu_test::WriteInPlace(path, Json(2));
  ASSERT_TRUE(WaitForValue(*watcher, 2));
  EXPECT_TRUE(watcher->Status().last_status.ok());
  EXPECT_TRUE(absl::IsNotFound(watcher->Status().last_error));
}

TEST_P(WatcherTest, InvalidJsonKeepsTheLastGoodVersion) {
  const std::string path = dir_.Join("config.json");
  rcu_test::WriteInPlace(path, Json(1));
  auto watcher = Watch(path);
  ASSERT_NE(watcher, nullptr);
  const int from = log_.size();
  rcu_test::WriteAndRename(path, R"({"name": "broken", "value": 2,, "check": 15})");
  const absl::Status error = NextFailure(from);
  EXPECT_TRUE(absl::IsInvalidArgument(error)) << error;
  EXPECT_THAT(std::string(error.message()),
              HasSubstr(absl::StrCat("config file ", path, ": JSON parse error at line 1")));
  auto config = watcher->Load();
  EXPECT_EQ(config->value, 1);
  EXPECT_EQ(config.version(), 1u);
  const rcu::WatcherStatus status = watcher->Status();
  EXPECT_EQ(status.reloads_failed, 1u);
  EXPECT_FALSE(status.last_status.ok());
  EXPECT_NE(status.last_failure_time, absl::InfinitePast());
  EXPECT_LE(status.last_success_time, status.last_failure_time);
  EXPECT_EQ(status.version, 1u);
  // Fixed: loads again.
  rcu_test::WriteAndRename(path, Json(3));
  ASSERT_TRUE(WaitForValue(*watcher, 3));
  EXPECT_TRUE(watcher->Status().last_status.ok());
  EXPECT_EQ(watcher->Status().reloads_failed, 1u);
}

TEST_P(WatcherTest, WrongShapeAndValidationFailureKeepTheLastGoodVersion) {
  const std::string path = dir_.Join("config.json");
  rcu_test::WriteInPlace(path, Json(1));
  auto watcher = Watch(path);
  ASSERT_NE(watcher, nullptr);
  int from = log_.size();
  rcu_test::WriteAndRename(path, R"({"name": "x", "value": "two", "check": 15})");
  absl::Status error = NextFailure(from);
  EXPECT_THAT(std::string(error.message()), HasSubstr("JSON does not fit the config type"));
  from = log_.size();
  rcu_test::WriteAndRename(path, R"({"name": "x", "value": 2, "check": 0})");
  error = NextFailure(from);
  EXPECT_THAT(std::string(error.message()),
              HasSubstr(absl::StrCat("config file ", path,
                                     ": rejected by validation: check is 0, expected 15")));
  EXPECT_EQ(watcher->Load()->value, 1);
  EXPECT_EQ(watcher->Status().reloads_failed, 2u);
}

TEST_P(WatcherTest, TruncatedFile) {
  const std::string path = dir_.Join("config.json");
  rcu_test::WriteInPlace(path, Json(1));
  Watcher::Options options = Options();
  // truncate(2) by path looks like a writer at work that never closes the
  // file: it is read once the writer is taken as gone.
  options.open_writer_timeout = absl::Milliseconds(200);
  auto watcher = Watch(path, std::move(options));
  ASSERT_NE(watcher, nullptr);
  const std::string whole = Json(2);
  int from = log_.size();
  ASSERT_EQ(::truncate(path.c_str(), 0), 0);  // emptied
  absl::Status error = NextFailure(from);
  EXPECT_TRUE(absl::IsInvalidArgument(error)) << error;
  EXPECT_THAT(std::string(error.message()),
              HasSubstr(absl::StrCat("config file ", path, ": is empty")));
  from = log_.size();
  rcu_test::WriteInPlace(path, whole.substr(0, whole.size() / 2));  // cut short
  error = NextFailure(from);
  EXPECT_THAT(std::string(error.message()), HasSubstr("JSON parse error"));
  EXPECT_EQ(watcher->Load()->value, 1);
  rcu_test::WriteInPlace(path, whole);
  ASSERT_TRUE(WaitForValue(*watcher, 2));
}

// Root ignores file permissions (CAP_DAC_OVERRIDE), so `chmod 000` alone
// proves nothing when the tests run as root. The watcher is created on a
// thread whose capabilities lack the override; its watcher thread inherits
// that, so the file's mode really applies to every read it makes.
TEST_P(WatcherTest, PermissionDenied) {
  const std::string path = dir_.Join("config.json");
  rcu_test::WriteInPlace(path, Json(1));
  std::unique_ptr<Watcher> watcher;
  bool denied_here = false;
  ASSERT_TRUE(rcu_test::RunWithoutFilePermissionOverride([&] {
    watcher = Watch(path);
    ASSERT_EQ(::chmod(path.c_str(), 0), 0);
    denied_here = rcu_test::CannotRead(path);
    ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  })) << "could not drop CAP_DAC_OVERRIDE";
  ASSERT_NE(watcher, nullptr);
  ASSERT_TRUE(denied_here) << "chmod 000 did not deny reading; the test cannot work here";
  const int from = log_.size();
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);  // unreadable first, so no read
  rcu_test::WriteInPlace(path, Json(2));   // can see the new content
  const absl::Status error = NextFailure(from);
  EXPECT_TRUE(absl::IsPermissionDenied(error)) << error;
  EXPECT_THAT(std::string(error.message()),
              HasSubstr(absl::StrCat("config file ", path, ": cannot open: Permission denied")));
  EXPECT_EQ(watcher->Load()->value, 1);
  // Made readable again (IN_ATTRIB, or polling's ctime): loads.
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  ASSERT_TRUE(WaitForValue(*watcher, 2));
}

TEST_P(WatcherTest, NotARegularFile) {
  const std::string path = dir_.Join("config.json");
  rcu_test::WriteInPlace(path, Json(1));
  auto watcher = Watch(path);
  ASSERT_NE(watcher, nullptr);
  int from = log_.size();
  rcu_test::RemoveFile(path);
  rcu_test::MakeDirectory(path);
  absl::Status error = FailureWith(from, "not a regular file");
  EXPECT_TRUE(absl::IsFailedPrecondition(error)) << error;
  EXPECT_THAT(
      std::string(error.message()),
      HasSubstr(absl::StrCat("config file ", path, ": is a directory, not a regular file")));
  from = log_.size();
  ASSERT_EQ(::rmdir(path.c_str()), 0);
  ASSERT_EQ(::mkfifo(path.c_str(), 0644), 0);  // must not block the watcher
  error = FailureWith(from, "FIFO");
  EXPECT_THAT(std::string(error.message()), HasSubstr("is a FIFO, not a regular file"));
  EXPECT_EQ(watcher->Load()->value, 1);
  rcu_test::RemoveFile(path);
  rcu_test::WriteInPlace(path, Json(2));
  ASSERT_TRUE(WaitForValue(*watcher, 2));
}

TEST_P(WatcherTest, OverTheSizeLimit) {
  const std::string path = dir_.Join("config.json");
  rcu_test::WriteInPlace(path, Json(1));
  Watcher::Options options = Options();
  options.max_file_size = 1024;
  auto watcher = Watch(path, std::move(options));
  ASSERT_NE(watcher, nullptr);
  const int from = log_.size();
  rcu_test::WriteAndRename(path, Json(2, std::string(2000, 'x')));
  const absl::Status error = NextFailure(from);
  EXPECT_TRUE(absl::IsResourceExhausted(error)) << error;
  EXPECT_THAT(std::string(error.message()), HasSubstr(absl::StrCat("config file ", path, ": is ")));
  EXPECT_THAT(std::string(error.message()), HasSubstr("over the size limit of 1024 bytes"));
  EXPECT_EQ(watcher->Load()->value, 1);
  rcu_test::WriteAndRename(path, Json(3));
  ASSERT_TRUE(WaitForValue(*watcher, 3));
}

// 1,000 writes in a burst, in place and by rename, some of them invalid,
// while readers check every snapshot they see. The last write is valid:
// afterwards the published state equals it.
TEST_P(WatcherTest, BurstOfAThousandWritesEndsWithTheLastValidContent) {
  const std::string path = dir_.Join("config.json");
  rcu_test::WriteInPlace(path, Json(0));
  auto watcher = Watch(path);
  ASSERT_NE(watcher, nullptr);
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      std::uint64_t last_version = 0;
      while (!done.load(std::memory_order_relaxed)) {
        auto config = watcher->Load();
        if (!config || config->check != config->value * 7 + 1 || config.version() < last_version) {
          bad.fetch_add(1);
        }
        last_version = config.version();
      }
    });
  }
  constexpr int kWrites = 1000;
  for (int i = 1; i <= kWrites; ++i) {
    const std::string contents = i % 7 == 3 && i != kWrites ? "{ broken" : Json(i);
    if (i % 2 == 0) {
      rcu_test::WriteInPlace(path, contents);
    } else {
      rcu_test::WriteAndRename(path, contents);
    }
  }
  ASSERT_TRUE(WaitForValue(*watcher, kWrites));
  done.store(true);
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(bad.load(), 0);
  auto config = watcher->Load();
  EXPECT_EQ(config->value, kWrites);
  EXPECT_EQ(config->check, kWrites * 7 + 1);
  const rcu::WatcherStatus status = watcher->Status();
  EXPECT_TRUE(status.last_status.ok()) << status.last_status;
  // Debounced: far fewer reloads than writes.
  EXPECT_LT(status.reloads_published, static_cast<std::uint64_t>(kWrites));
}

TEST_P(WatcherTest, SymlinkIntoAnotherDirectory) {
  rcu_test::MakeDirectory(dir_.Join("etc"));
  rcu_test::MakeDirectory(dir_.Join("store"));
  rcu_test::WriteInPlace(dir_.Join("store/a.json"), Json(1));
  rcu_test::WriteInPlace(dir_.Join("store/b.json"), Json(2));
  const std::string path = dir_.Join("etc/config.json");
  rcu_test::MakeSymlink("../store/a.json", path);
  auto watcher = Watch(path);
  ASSERT_NE(watcher, nullptr);
  // The real file changes in its own directory.
  rcu_test::WriteInPlace(dir_.Join("store/a.json"), Json(3));
  ASSERT_TRUE(WaitForValue(*watcher, 3));
  // The link is repointed (ln -sfn: a new link renamed over the old one).
  rcu_test::MakeSymlink("../store/b.json", dir_.Join("etc/.config.json.new"));
  ASSERT_EQ(::rename(dir_.Join("etc/.config.json.new").c_str(), path.c_str()), 0);
  ASSERT_TRUE(WaitForValue(*watcher, 2));
  rcu_test::WriteInPlace(dir_.Join("store/b.json"), Json(4));
  ASSERT_TRUE(WaitForValue(*watcher, 4));
}

TEST_P(WatcherTest, DirectoryRemovedAndRecreated) {
  rcu_test::MakeDirectory(dir_.Join("conf.d"));
  const std::string path = dir_.Join("conf.d/config.json");
  rcu_test::WriteInPlace(path, Json(1));
  auto watcher = Watch(path);
  ASSERT_NE(watcher, nullptr);
  const int from = log_.size();
  rcu_test::RemoveTree(dir_.Join("conf.d"));
  const absl::Status missing = NextFailure(from);
  EXPECT_TRUE(absl::IsNotFound(missing)) << missing;
  rcu_test::MakeDirectory(dir_.Join("conf.d"));
  rcu_test::WriteInPlace(path, Json(2));
  ASSERT_TRUE(WaitForValue(*watcher, 2));
  // The directory is watched again, and later changes are seen.
  rcu_test::WriteInPlace(path, Json(3));
  ASSERT_TRUE(WaitForValue(*watcher, 3));
  EXPECT_EQ(watcher->Status().polling, GetParam() == Mode::kPolling);
}

TEST_P(WatcherTest, InitialLoadFailureIsReturnedWithThePath) {
  const std::string path = dir_.Join("missing.json");
  auto watcher = rcu::WatchJsonConfig<TestConfig>(path, Options());
  ASSERT_FALSE(watcher.ok());
  EXPECT_TRUE(absl::IsNotFound(watcher.status()));
  EXPECT_THAT(std::string(watcher.status().message()),
              HasSubstr(absl::StrCat("config file ", path, ": cannot open: No such file")));
}

TEST_P(WatcherTest, OptionalInitialLoadStartsEmptyAndLoadsWhenTheFileAppears) {
  const std::string path = dir_.Join("later.json");
  Watcher::Options options = Options();
  options.require_initial_load = false;
  auto watcher = Watch(path, std::move(options));
  ASSERT_NE(watcher, nullptr);
  EXPECT_FALSE(watcher->Load());
  EXPECT_TRUE(absl::IsNotFound(watcher->Status().last_status));
  rcu_test::WriteAndRename(path, Json(5));
  ASSERT_TRUE(WaitForValue(*watcher, 5));
  EXPECT_EQ(watcher->Load().version(), 1u);
}

TEST_P(WatcherTest, PublishesIntoASnapshotWithDefaults) {
  rcu::Snapshot<TestConfig> snapshot(TestConfig{"defaults", 0, 1});
  const std::string path = dir_.Join("config.json");
  Watcher::Options options = Options();
  options.snapshot = &snapshot;
  options.require_initial_load = false;
  auto watcher = Watch(path, std::move(options));
  ASSERT_NE(watcher, nullptr);
  EXPECT_EQ(snapshot.Load()->name, "defaults");
  rcu_test::WriteAndRename(path, Json(7, "from file"));
  ASSERT_TRUE(snapshot.WaitForVersion(2, kTimeout));
  EXPECT_EQ(snapshot.Load()->name, "from file");
  EXPECT_EQ(&watcher->snapshot(), &snapshot);
}

TEST_P(WatcherTest, SubscribersSeeEachReload) {
  const std::string path = dir_.Join("config.json");
  rcu_test::WriteInPlace(path, Json(1));
  auto watcher = Watch(path);
  ASSERT_NE(watcher, nullptr);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> seen;
  watcher->snapshot().Subscribe([&](const TestConfig& config, std::uint64_t) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(config.value);
    cv.notify_all();
  });
  rcu_test::WriteAndRename(path, Json(2));
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, absl::ToChronoSeconds(kTimeout), [&] { return !seen.empty(); }));
  EXPECT_EQ(seen.back(), 2);
}

TEST_P(WatcherTest, StopJoinsAndReadsGoOn) {
  const std::string path = dir_.Join("config.json");
  rcu_test::WriteInPlace(path, Json(1));
  auto watcher = Watch(path);
  ASSERT_NE(watcher, nullptr);
  watcher->Stop();
  watcher->Stop();  // idempotent
  EXPECT_EQ(watcher->Load()->value, 1);
  rcu_test::WriteInPlace(path, Json(2));
  const ReloadResult result = watcher->Reload();  // manual reload still works
  EXPECT_EQ(result.outcome, ReloadResult::Outcome::kPublished);
  EXPECT_EQ(watcher->Load()->value, 2);
}

TEST_P(WatcherTest, DestroyedWhileFilesChange) {
  const std::string path = dir_.Join("config.json");
  rcu_test::WriteInPlace(path, Json(1));
  for (int round = 0; round < 10; ++round) {
    auto watcher = Watch(path);
    ASSERT_NE(watcher, nullptr);
    for (int i = 0; i < 5; ++i) rcu_test::WriteAndRename(path, Json(round * 10 + i));
    watcher.reset();  // joins its thread cleanly, whatever it was doing
  }
}

// An empty file is rejected before any parser sees it, unless allowed.
TEST_P(WatcherTest, EmptyFileIsRejectedUnlessAllowed) {
  for (const bool allow : {false, true}) {
    SCOPED_TRACE(allow ? "allow_empty_file" : "default");
    rcu_test::TempDir dir;
    ReloadLog log;
    const std::string path = dir.Join("config.txt");
    rcu_test::WriteInPlace(path, "first");
    Watcher::Options options = Options();
    options.validate = nullptr;
    options.on_reload = log.Listener();
    options.allow_empty_file = allow;
    // Takes any text, as a lenient format would.
    auto created = Watcher::Create(
        path,
        [](std::string_view text) -> absl::StatusOr<TestConfig> {
          return TestConfig{std::string(text), 0, 1};
        },
        std::move(options));
    ASSERT_TRUE(created.ok()) << created.status();
    Watcher& watcher = **created;
    for (const std::string empty : {"", " \n\t\n"}) {
      const int from = log.size();
      rcu_test::WriteAndRename(path, empty);
      const int index = log.WaitFor(
          [](const ReloadResult& r) { return r.outcome != ReloadResult::Outcome::kUnchanged; },
          from);
      ASSERT_GE(index, 0);
      const ReloadResult result = log.results()[index];
      if (allow) {
        EXPECT_EQ(result.outcome, ReloadResult::Outcome::kPublished) << result.status;
        EXPECT_EQ(watcher.Load()->name, empty);
      } else {
        EXPECT_TRUE(absl::IsInvalidArgument(result.status)) << result.status;
        EXPECT_THAT(std::string(result.status.message()),
                    HasSubstr(absl::StrCat("config file ", path, ": is empty")));
        EXPECT_THAT(std::string(result.status.message()), HasSubstr("allow_empty_file"));
        EXPECT_EQ(watcher.Load()->name, "first");
      }
      rcu_test::WriteAndRename(path, "first");
      ASSERT_GE(log.WaitFor(
                    [](const ReloadResult& r) {
                      return r.outcome == ReloadResult::Outcome::kPublished ||
                             r.outcome == ReloadResult::Outcome::kUnchanged;
                    },
                    index + 1),
                0);
    }
  }
}

// Status() says when a run of failures began, and forgets it on success.
TEST_P(WatcherTest, FailingSince) {
  const std::string path = dir_.Join("config.json");
  rcu_test::WriteInPlace(path, Json(1));
  auto watcher = Watch(path);
  ASSERT_NE(watcher, nullptr);
  EXPECT_EQ(watcher->Status().failing_since, absl::InfinitePast());
  int from = log_.size();
  rcu_test::WriteAndRename(path, "{ broken");
  ASSERT_FALSE(NextFailure(from).ok());
  const absl::Time since = watcher->Status().failing_since;
  EXPECT_NE(since, absl::InfinitePast());
  from = log_.size();
  rcu_test::WriteAndRename(path, "{ broken again");
  ASSERT_FALSE(NextFailure(from).ok());
  EXPECT_EQ(watcher->Status().failing_since, since);  // still the same run
  rcu_test::WriteAndRename(path, Json(2));
  ASSERT_TRUE(WaitForValue(*watcher, 2));
  EXPECT_EQ(watcher->Status().failing_since, absl::InfinitePast());
}

// A file being written in place is not read until its writer closes it,
// however long that takes (within open_writer_timeout). Status() says so.
TEST_P(WatcherTest, WaitsForAWriterToCloseTheFile) {
  if (GetParam() == Mode::kPolling) GTEST_SKIP() << "polling cannot see writers";
  const std::string path = dir_.Join("config.json");
  rcu_test::WriteInPlace(path, Json(1));
  auto watcher = Watch(path);
  ASSERT_NE(watcher, nullptr);
  const std::string whole = Json(2);
  const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, whole.data(), 10), 10);  // a prefix, then a pause
  ASSERT_TRUE(rcu_test::WaitUntil([&] { return watcher->Status().writer_active; }));
  // The watcher's debounce (20 ms) and max_debounce (1 s) pass many times
  // over before the writer goes on; nothing may be read meanwhile. Reload()
  // waits up to max_debounce for it, then says why it did not read.
  const std::uint64_t reads = watcher->Status().files_read;
  const ReloadResult manual = watcher->Reload();
  EXPECT_EQ(manual.outcome, ReloadResult::Outcome::kFailed);
  EXPECT_TRUE(absl::IsUnavailable(manual.status)) << manual.status;
  EXPECT_THAT(std::string(manual.status.message()), HasSubstr("is being written"));
  EXPECT_EQ(watcher->Status().files_read, reads);
  EXPECT_EQ(watcher->Load()->value, 1);
  ASSERT_EQ(::write(fd, whole.data() + 10, whole.size() - 10),
            static_cast<ssize_t>(whole.size() - 10));
  ASSERT_EQ(::close(fd), 0);
  ASSERT_TRUE(WaitForValue(*watcher, 2));
  EXPECT_FALSE(watcher->Status().writer_active);
  for (const ReloadResult& r : log_.results()) {
    if (r.trigger != rcu::ReloadTrigger::kManual) {
      EXPECT_TRUE(r.status.ok()) << r.status;
    }
  }
}

// A writer that holds the file open and says nothing more is taken as done
// after open_writer_timeout.
TEST_P(WatcherTest, SilentWriterIsTakenAsDoneAfterTheTimeout) {
  if (GetParam() == Mode::kPolling) GTEST_SKIP() << "polling cannot see writers";
  const std::string path = dir_.Join("config.json");
  rcu_test::WriteInPlace(path, Json(1));
  Watcher::Options options = Options();
  options.open_writer_timeout = absl::Milliseconds(300);
  auto watcher = Watch(path, std::move(options));
  ASSERT_NE(watcher, nullptr);
  const std::string whole = Json(2);
  const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, whole.data(), whole.size()), static_cast<ssize_t>(whole.size()));
  ASSERT_TRUE(WaitForValue(*watcher, 2));  // read, though still open
  ::close(fd);
}

// A reload while the watcher thread is stopping: the parser can see the
// stop request and give up, and Stop() does not wait for a parse to end on
// its own.
TEST(StopTest, ParserSeesTheStopRequest) {
  rcu_test::TempDir dir;
  const std::string path = dir.Join("config.txt");
  rcu_test::WriteInPlace(path, "1");
  std::atomic<bool> parsing{false};
  std::atomic<bool> saw_stop{false};
  ReloadLog log;
  Watcher::Options options;
  options.debounce = absl::Milliseconds(10);
  options.on_reload = log.Listener();
  EXPECT_FALSE(rcu::ReloadStopRequested());
  auto created = Watcher::Create(
      path,
      [&](std::string_view text) -> absl::StatusOr<TestConfig> {
        EXPECT_FALSE(rcu::ReloadStopRequested());  // not on Create()'s thread
        if (text == "1") return TestConfig{"1", 1, 8};
        parsing = true;
        // A parse that would take a minute, unless asked to stop.
        if (!rcu_test::WaitUntil([] { return rcu::ReloadStopRequested(); }, absl::Seconds(60))) {
          return TestConfig{"slow", 2, 15};
        }
        saw_stop = true;
        return absl::CancelledError("stopping");
      },
      std::move(options));
  ASSERT_TRUE(created.ok()) << created.status();
  rcu_test::WriteAndRename(path, "2");
  ASSERT_TRUE(rcu_test::WaitUntil([&] { return parsing.load(); }));
  const absl::Time before = absl::Now();
  (*created)->Stop();
  EXPECT_LT(absl::Now() - before, absl::Seconds(30));
  EXPECT_TRUE(saw_stop);
  // The abandoned parse is not a failure of the file.
  EXPECT_EQ((*created)->Status().reloads_failed, 0u);
  EXPECT_EQ(log.size(), 1);  // the initial load only
  EXPECT_EQ((*created)->Load()->name, "1");
}

// Reload() with no watching in the way: polling that never comes round.
class ManualReloadTest : public ::testing::Test {
 protected:
  Watcher::Options Options() {
    Watcher::Options options;
    options.force_polling = true;
    options.poll_interval = absl::Hours(1);
    options.validate = Validate;
    options.on_reload = log_.Listener();
    return options;
  }
  TempDir dir_;
  ReloadLog log_;
};

TEST_F(ManualReloadTest, ReturnsWhatHappened) {
  const std::string path = dir_.Join("config.json");
  rcu_test::WriteInPlace(path, Json(1));
  auto created = rcu::WatchJsonConfig<TestConfig>(path, Options());
  ASSERT_TRUE(created.ok()) << created.status();
  Watcher& watcher = **created;

  ReloadResult result = watcher.Reload();
  EXPECT_EQ(result.outcome, ReloadResult::Outcome::kUnchanged);
  EXPECT_TRUE(result.status.ok());
  EXPECT_EQ(result.version, 1u);
  EXPECT_EQ(result.trigger, rcu::ReloadTrigger::kManual);

  rcu_test::WriteInPlace(path, Json(2));
  result = watcher.Reload();
  EXPECT_EQ(result.outcome, ReloadResult::Outcome::kPublished);
  EXPECT_EQ(result.version, 2u);
  EXPECT_EQ(result.bytes, Json(2).size());
  EXPECT_EQ(watcher.Load()->value, 2);

  rcu_test::WriteInPlace(path, "[1, 2");
  result = watcher.Reload();
  EXPECT_EQ(result.outcome, ReloadResult::Outcome::kFailed);
  EXPECT_TRUE(absl::IsInvalidArgument(result.status));
  EXPECT_EQ(result.version, 2u);
  // Same bad content again: a manual reload looks again and says so again.
  result = watcher.Reload();
  EXPECT_EQ(result.outcome, ReloadResult::Outcome::kFailed);

  const rcu::WatcherStatus status = watcher.Status();
  EXPECT_EQ(status.reloads_published, 2u);
  EXPECT_EQ(status.reloads_unchanged, 1u);
  EXPECT_EQ(status.reloads_failed, 2u);
  EXPECT_EQ(status.version, 2u);
  EXPECT_TRUE(status.polling);
  EXPECT_EQ(log_.size(), 5);  // the initial load and four reloads
}

TEST_F(ManualReloadTest, ReloadRestoresTheFileOverAnotherWritersValue) {
  const std::string path = dir_.Join("config.json");
  rcu_test::WriteInPlace(path, Json(1));
  rcu::Snapshot<TestConfig> shared;
  Watcher::Options options = Options();
  options.snapshot = &shared;
  auto created = rcu::WatchJsonConfig<TestConfig>(path, std::move(options));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(shared.Store(TestConfig{"override", 9, 64}), 2u);  // another writer
  const ReloadResult result = (*created)->Reload();
  EXPECT_EQ(result.outcome, ReloadResult::Outcome::kPublished);
  EXPECT_EQ(result.version, 3u);
  EXPECT_EQ(shared.Load()->value, 1);
  EXPECT_EQ((*created)->Reload().outcome, ReloadResult::Outcome::kUnchanged);
}

TEST_F(ManualReloadTest, ParserThatThrowsIsAFailureNotACrash) {
  const std::string path = dir_.Join("config.txt");
  rcu_test::WriteInPlace(path, "1");
  int calls = 0;
  auto created = Watcher::Create(
      path,
      [&calls](std::string_view text) -> absl::StatusOr<TestConfig> {
        if (++calls > 1) throw std::runtime_error("parser bug");
        return TestConfig{std::string(text), 1, 8};
      },
      Options());
  ASSERT_TRUE(created.ok()) << created.status();
  rcu_test::WriteInPlace(path, "2");
  const ReloadResult result = (*created)->Reload();
  EXPECT_EQ(result.outcome, ReloadResult::Outcome::kFailed);
  EXPECT_TRUE(absl::IsInternal(result.status));
  EXPECT_THAT(std::string(result.status.message()), HasSubstr("parser bug"));
  EXPECT_EQ((*created)->Load()->name, "1");
}

TEST_F(ManualReloadTest, RelativePathsAreMadeAbsolute) {
  rcu_test::WriteInPlace(dir_.Join("config.json"), Json(1));
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof(cwd)), nullptr);
  ASSERT_EQ(::chdir(dir_.path().c_str()), 0);
  auto created = rcu::WatchJsonConfig<TestConfig>("./config.json", Options());
  ASSERT_EQ(::chdir(cwd), 0);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(RealPath((*created)->path()), RealPath(dir_.Join("config.json")));
}

TEST_F(ManualReloadTest, MissingParserIsAnError) {
  auto created = Watcher::Create(dir_.Join("config.json"), nullptr, Options());
  EXPECT_TRUE(absl::IsInvalidArgument(created.status()));
}

}  // namespace
