// Watcher scenarios that need a process of their own: file and directory
// permissions taken away and given back while running as a non-root user
// (root reads anything), and the inotify instance and watch limits
// exhausted inside a user namespace (whose limits are its own: the
// machine's settings are never touched).
//
// Each parent test below re-runs this binary (/proc/self/exe) with
// RCU_SCENARIO_CHILD set; main() then isolates the fresh, still
// single-threaded process before anything else runs, and the child runs the
// DISABLED_ tests named by the parent's filter.
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/config/scenario_files.h"
#include "tests/config/scenario_harness.h"
#include "tests/config/scenario_writers.h"
#include "tests/config/watch_test_util.h"

extern char** environ;

namespace rcu_test {
namespace {

constexpr char kChildVariable[] = "RCU_SCENARIO_CHILD";
constexpr uid_t kNobody = 65534;

bool WriteProcFile(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

// A new user namespace (and `more` namespaces: CLONE_NEWNS) in which this
// process is `inside_uid`, mapped to its current ids.
std::string EnterUserNamespace(uid_t inside_uid, int more = 0) {
  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  if (::unshare(CLONE_NEWUSER | more) != 0) {
    return absl::StrCat("unshare(CLONE_NEWUSER): ", std::strerror(errno));
  }
  if (!WriteProcFile("/proc/self/uid_map", absl::StrCat(inside_uid, " ", uid, " 1")) ||
      !WriteProcFile("/proc/self/setgroups", "deny") ||
      !WriteProcFile("/proc/self/gid_map", absl::StrCat(inside_uid, " ", gid, " 1"))) {
    return absl::StrCat("writing the user namespace's id maps: ", std::strerror(errno));
  }
  return "";
}

// Makes this process an ordinary user: uid 65534 if the process is really
// root; if it is root only inside a namespace that maps no other id (Bazel's
// sandbox), uid 65534 of a new user namespace, with every capability dropped.
// Either way file permissions then apply to it as to any non-root owner.
std::string BecomeNonRoot() {
  if (::geteuid() != 0) {
    std::printf("child: already running as uid %d\n", ::geteuid());
    return "";
  }
  if (::setgroups(0, nullptr) == 0 && ::setresgid(kNobody, kNobody, kNobody) == 0 &&
      ::setresuid(kNobody, kNobody, kNobody) == 0) {
    ::prctl(PR_SET_DUMPABLE, 1);  // the sanitizers' leak checks need it
    std::printf("child: switched to uid %d (nobody)\n", ::geteuid());
    return "";
  }
  std::string error = EnterUserNamespace(kNobody);
  if (!error.empty()) return error;
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct none[2] = {};
  if (::syscall(SYS_capset, &header, none) != 0) {
    return absl::StrCat("capset: ", std::strerror(errno));
  }
  std::printf(
      "child: uid %d, no capabilities, in a user namespace (this process may not switch uids)\n",
      ::geteuid());
  return "";
}

std::string EnterChild(const std::string& mode) {
  std::string error;
  if (mode == "non-root") {
    error = BecomeNonRoot();
    // $TEST_TMPDIR may be below a directory only root may enter.
    ::setenv("TEST_TMPDIR", "/tmp", 1);
  } else if (mode == "userns") {
    // Its own mount namespace too, whose mounts nobody else sees.
    error = EnterUserNamespace(0, CLONE_NEWNS);
    if (error.empty() && ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      error = absl::StrCat("making / private: ", std::strerror(errno));
    }
  } else {
    error = "unknown mode " + mode;
  }
  if (error.empty() && ::chdir("/") != 0) error = "chdir /";
  std::fflush(stdout);
  return error;
}

// Runs this binary again as a child in `mode`, running the tests that match
// `filter`, and returns its exit status (-1 if it did not exit in time).
int RunChild(const std::string& mode, const std::string& filter) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    // The parent's result files belong to the parent (the child may not
    // even be allowed to write them).
    bool drop = false;
    for (const char* name : {"XML_OUTPUT_FILE=", "TEST_PREMATURE_EXIT_FILE=", "GTEST_OUTPUT=",
                             "TEST_SHARD_STATUS_FILE=", "TEST_TOTAL_SHARDS=", "TEST_SHARD_INDEX=",
                             "GTEST_SHARD_INDEX=", "GTEST_TOTAL_SHARDS="}) {
      if (entry.rfind(name, 0) == 0) drop = true;
    }
    if (!drop) env.push_back(entry);
  }
  env.push_back(absl::StrCat(kChildVariable, "=", mode));
  std::vector<std::string> args = {"/proc/self/exe", "--gtest_also_run_disabled_tests",
                                   "--gtest_filter=" + filter};
  std::vector<char*> argv, envp;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid;
  if (::posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), envp.data()) != 0) {
    return -1;
  }
  int status = 0;
  const bool exited = WaitUntil(
      [&] {
        const pid_t done = ::waitpid(pid, &status, WNOHANG);
        return done == pid;
      },
      absl::Minutes(8));
  if (!exited) {
    std::fprintf(stderr, "child %d did not finish in 8 minutes: killing it\n", pid);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool InChild(const char* mode) {
  const char* value = std::getenv(kChildVariable);
  return value != nullptr && std::string(value) == mode;
}

// --- Parents ---------------------------------------------------------------------

TEST(IsolatedScenarios, PermissionsTakenAndGivenBackAsNonRoot) {
  EXPECT_EQ(RunChild("non-root", "*ChildScenario.DISABLED_Permission*"), 0);
}

TEST(IsolatedScenarios, InotifyLimitsExhaustedInAUserNamespace) {
  EXPECT_EQ(RunChild("userns", "*ChildScenario.DISABLED_Inotify*"), 0);
}

TEST(IsolatedScenarios, MountOverADirectoryInAMountNamespace) {
  EXPECT_EQ(RunChild("userns", "*ChildScenario.DISABLED_Mount*"), 0);
}

// --- Children --------------------------------------------------------------------

class ChildScenario : public ValidatorParameterized {};
INSTANTIATE_TEST_SUITE_P(Validator, ChildScenario, ::testing::Bool(), ValidatorName);

bool IsPermissionDenied(const absl::Status& s) { return absl::IsPermissionDenied(s); }

// Opens `path` for writing now, to rewrite it later when its directory or
// mode no longer lets anyone (but root) open it.
class HeldWriter {
 public:
  explicit HeldWriter(const std::string& path) : fd_(::open(path.c_str(), O_WRONLY | O_CLOEXEC)) {}
  ~HeldWriter() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  // Truncates, writes, closes: an in-place write.
  bool Rewrite(const std::string& bytes) {
    if (::ftruncate(fd_, 0) != 0) return false;
    if (::pwrite(fd_, bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) {
      return false;
    }
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

TEST_P(ChildScenario, DISABLED_PermissionOfTheFile) {
  ASSERT_TRUE(InChild("non-root"));
  Scenario s("file mode 000, then 644 (non-root)", Configured());
  const std::string path = s.StartWatching("etc/app.json");
  ASSERT_FALSE(path.empty());
  HeldWriter writer(path);
  ASSERT_TRUE(writer.ok());
  absl::Time when = absl::Now();
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  ASSERT_TRUE(CannotRead(path)) << "chmod 000 did not take reading away: running as root?";
  ASSERT_TRUE(s.AwaitFailure(IsPermissionDenied, when, "chmod 000 (PermissionDenied)"));
  const std::string next = s.NextFile();
  ASSERT_TRUE(writer.Rewrite(next));  // changed while unreadable
  when = absl::Now();
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  ASSERT_TRUE(s.AwaitPublished(next, when, "chmod 644 (content changed meanwhile)"));
  s.Finish(next);
}

TEST_P(ChildScenario, DISABLED_PermissionOfTheDirectory) {
  ASSERT_TRUE(InChild("non-root"));
  Scenario s("directory mode 000, then 755 (non-root)", Configured());
  MakeDirectory(s.Path("etc"));
  MakeDirectory(s.Path("etc/conf.d"));
  const std::string dir = s.Path("etc/conf.d");
  const std::string path = dir + "/app.json";
  WriteInPlace(path, s.NextFile());
  // No periodic re-check (it would find the file readable again within a
  // poll interval): the events alone must.
  ASSERT_TRUE(
      s.Watch(path, [](Scenario::Watcher::Options& o) { o.poll_interval = absl::Hours(1); }));
  HeldWriter writer(path);
  ASSERT_TRUE(writer.ok());
  // As in the issue: search permission taken away, the file changed
  // meanwhile (the watcher cannot read it), permission given back. The only
  // events of the last step are a nameless IN_ATTRIB on conf.d itself and
  // one naming conf.d in its parent.
  const absl::Time when = absl::Now();
  ASSERT_EQ(::chmod(dir.c_str(), 0), 0);
  ASSERT_TRUE(CannotRead(path)) << "chmod 000 did not take reading away: running as root?";
  const std::string next = s.NextFile();
  ASSERT_TRUE(writer.Rewrite(next));
  ASSERT_TRUE(s.AwaitFailure(IsPermissionDenied, when,
                             "chmod 000 conf.d, file rewritten (PermissionDenied)"));
  // Nothing pending (a follow-up look at the file would find it readable
  // again by chance): the permissions' own events must do it.
  ASSERT_TRUE(s.AwaitQuiet(absl::Milliseconds(500)));
  const absl::Time restored = absl::Now();
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
  ASSERT_TRUE(s.AwaitPublished(next, restored, "chmod 755 conf.d"));
  const std::string last = s.EditInPlace(path, "edit afterwards");
  ASSERT_FALSE(last.empty());
  s.Finish(last);
}

TEST_P(ChildScenario, DISABLED_PermissionOfTheDirectoryAtStart) {
  ASSERT_TRUE(InChild("non-root"));
  Scenario s("directory unlistable at start (0311), then 755 (non-root)", Configured());
  MakeDirectory(s.Path("etc"));
  const std::string dir = s.Path("etc/conf.d");
  MakeDirectory(dir);
  const std::string path = dir + "/app.json";
  WriteInPlace(path, s.NextFile());
  // Searchable but not readable: the file loads, the directory cannot be
  // watched, so the watcher polls.
  ASSERT_EQ(::chmod(dir.c_str(), 0311), 0);
  ASSERT_TRUE(s.Watch(path));
  ASSERT_TRUE(s.AwaitStatus(
      [](const rcu::WatcherStatus& st) {
        return st.polling && absl::IsPermissionDenied(st.watch_status);
      },
      "polling, because the directory cannot be watched"));
  const std::string second = s.NextFile();
  WriteAndRename(path, second);
  ASSERT_TRUE(s.AwaitPublished(second, absl::Now(), "edit, found by polling"));
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
  ASSERT_TRUE(s.AwaitStatus([](const rcu::WatcherStatus& st) { return !st.polling; },
                            "inotify again after chmod 755"));
  const std::string third = s.NextFile();
  WriteAndRename(path, third);
  ASSERT_TRUE(s.AwaitPublished(third, absl::Now(), "edit, found by inotify"));
  s.Finish(third);
}

// Watches held by the test itself, to use up a limit.
class WatchHog {
 public:
  WatchHog() : fd_(::inotify_init1(IN_CLOEXEC)) {}
  ~WatchHog() { Release(); }
  bool ok() const { return fd_ >= 0; }
  // Adds watches on fresh directories under `dir` until the kernel refuses.
  int TakeAll(const std::string& dir) {
    int taken = 0;
    for (int i = 0;; ++i) {
      const std::string sub = absl::StrCat(dir, "/hog", i);
      MakeDirectory(sub);
      if (::inotify_add_watch(fd_, sub.c_str(), IN_CREATE) < 0) {
        EXPECT_EQ(errno, ENOSPC);
        return taken;
      }
      ++taken;
    }
  }
  void Release() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Inotify instances held by the test itself, to use up the limit.
class InstanceHog {
 public:
  InstanceHog() {
    for (int fd; (fd = ::inotify_init1(IN_CLOEXEC)) >= 0;) fds_.push_back(fd);
    error_ = errno;
  }
  ~InstanceHog() {
    for (int fd : fds_) ::close(fd);
  }
  int error() const { return error_; }
  std::size_t size() const { return fds_.size(); }
  void FreeOne() {
    ::close(fds_.back());
    fds_.pop_back();
  }

 private:
  std::vector<int> fds_;
  int error_ = 0;
};

// The watcher polls because a limit is reached, and Status() says which;
// it finds an edit by polling; once `release` frees the limit, it watches
// with inotify again and finds the next edit at once.
void PollThenRecover(Scenario& s, const std::string& path, const std::function<void()>& release) {
  ASSERT_TRUE(s.AwaitStatus(
      [](const rcu::WatcherStatus& st) {
        return st.polling && absl::IsResourceExhausted(st.watch_status);
      },
      "polling, because a limit is reached"));
  std::printf("child: status says: %s\n", s.watcher().Status().watch_status.ToString().c_str());
  ASSERT_FALSE(s.EditByRename(path, "edit, found by polling").empty());
  release();
  ASSERT_TRUE(s.AwaitStatus(
      [](const rcu::WatcherStatus& st) { return !st.polling && st.watch_status.ok(); },
      "inotify once the limit is not reached"));
  const std::string last = s.EditByRename(path, "edit, found by inotify");
  ASSERT_FALSE(last.empty());
  s.Finish(last);
}

TEST_P(ChildScenario, DISABLED_InotifyInstancesExhausted) {
  ASSERT_TRUE(InChild("userns"));
  ASSERT_TRUE(WriteProcFile("/proc/sys/user/max_inotify_instances", "2"));
  ASSERT_TRUE(WriteProcFile("/proc/sys/user/max_inotify_watches", "1000"));
  InstanceHog hog;
  ASSERT_EQ(hog.error(), EMFILE);
  std::printf("child: %zu inotify instances allowed, all taken\n", hog.size());
  Scenario s("inotify instances exhausted, then one freed", Configured());
  const std::string path = s.StartWatching("etc/app.json", [](Scenario::Watcher::Options& o) {
    o.poll_interval = absl::Milliseconds(100);
  });
  ASSERT_FALSE(path.empty());
  PollThenRecover(s, path, [&] {
    hog.FreeOne();
    s.ReleasedFromBaseline(1, 0);
  });
}

TEST_P(ChildScenario, DISABLED_InotifyWatchesExhausted) {
  ASSERT_TRUE(InChild("userns"));
  ASSERT_TRUE(WriteProcFile("/proc/sys/user/max_inotify_instances", "16"));
  ASSERT_TRUE(WriteProcFile("/proc/sys/user/max_inotify_watches", "64"));
  Scenario s("inotify watches exhausted, then freed", Configured());
  MakeDirectory(s.Path("etc"));
  MakeDirectory(s.Path("hogs"));
  const std::string path = s.Path("etc/app.json");
  WriteInPlace(path, s.NextFile());
  WatchHog hog;
  ASSERT_TRUE(hog.ok());
  const int taken = hog.TakeAll(s.Path("hogs"));
  std::printf("child: took all %d inotify watches allowed\n", taken);
  ASSERT_TRUE(s.Watch(
      path, [](Scenario::Watcher::Options& o) { o.poll_interval = absl::Milliseconds(100); }));
  PollThenRecover(s, path, [&] {
    hog.Release();
    s.ReleasedFromBaseline(1, taken);
  });
}

// A directory on the way mounted over (a bind mount: what a container
// runtime or an admin may do). inotify reports nothing: the watches stay
// on the covered directory. The watcher must find out, by re-checking the
// path every poll interval, or at once on Reload().
void MountScenario(bool validator, bool reload) {
  ScenarioSetup setup;
  setup.validator = validator;
  Scenario s(
      reload ? "bind mount over the directory, then Reload()" : "bind mount over the directory",
      setup);
  MakeDirectory(s.Path("etc"));
  MakeDirectory(s.Path("etc/conf.d"));
  MakeDirectory(s.Path("new"));
  const std::string path = s.Path("etc/conf.d/app.json");
  WriteInPlace(path, s.NextFile());
  ASSERT_TRUE(s.Watch(path, [&](Scenario::Watcher::Options& o) {
    // With Reload(), no periodic re-check: Reload() alone must do it.
    o.poll_interval = reload ? absl::Hours(1) : absl::Milliseconds(100);
  }));
  const std::string second = s.NextFile();
  WriteInPlace(s.Path("new/app.json"), second);
  ASSERT_EQ(::mount(s.Path("new").c_str(), s.Path("etc/conf.d").c_str(), nullptr, MS_BIND, nullptr),
            0)
      << std::strerror(errno);
  const absl::Time mounted = absl::Now();
  if (reload) {
    // As on SIGHUP. It publishes the new file, or finds that the watcher
    // thread, whose watches Reload() re-aimed, just did.
    const rcu::ReloadResult result = s.watcher().Reload();
    EXPECT_NE(result.outcome, rcu::ReloadResult::Outcome::kFailed) << result.status;
  }
  ASSERT_TRUE(s.AwaitPublished(second, mounted, "mount --bind new etc/conf.d"));
  const std::string third = s.EditInPlace(path, "edit in the mounted directory");
  ASSERT_FALSE(third.empty());
  s.Finish(third);
  ASSERT_EQ(::umount(s.Path("etc/conf.d").c_str()), 0);
}

TEST_P(ChildScenario, DISABLED_MountOverTheDirectory) {
  ASSERT_TRUE(InChild("userns"));
  MountScenario(GetParam(), /*reload=*/false);
}

TEST_P(ChildScenario, DISABLED_MountOverTheDirectoryThenReload) {
  ASSERT_TRUE(InChild("userns"));
  MountScenario(GetParam(), /*reload=*/true);
}

}  // namespace
}  // namespace rcu_test

int main(int argc, char** argv) {
  if (const char* mode = std::getenv(rcu_test::kChildVariable)) {
    const std::string error = rcu_test::EnterChild(mode);
    if (!error.empty()) {
      std::fprintf(stderr, "child (%s): cannot isolate: %s\n", mode, error.c_str());
      return 2;
    }
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
