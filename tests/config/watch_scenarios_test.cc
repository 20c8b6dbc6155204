// The config watcher driven by real tools and real writers' syscall
// sequences, each published version checked byte for byte against the
// files that were written (scenario_harness.h). Every scenario runs with
// and without a validation hook; each prints its time to converge, and the
// whole list is printed again at the end.
//
// Scenarios that need another user or a user namespace are in
// watch_scenarios_isolated_test.cc.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/config/scenario_files.h"
#include "tests/config/scenario_harness.h"
#include "tests/config/scenario_writers.h"
#include "tests/config/watch_test_util.h"

namespace rcu_test {
namespace {

class WatchScenario : public ValidatorParameterized {};
INSTANTIATE_TEST_SUITE_P(Validator, WatchScenario, ::testing::Bool(), ValidatorName);

bool IsNotFound(const absl::Status& s) { return absl::IsNotFound(s); }

// --- Kubernetes ----------------------------------------------------------------

TEST_P(WatchScenario, KubernetesAtomicWriter) {
  ScenarioSetup setup = Configured();
  setup.require_initial_load = false;  // the volume is filled after start
  Scenario s("Kubernetes AtomicWriter", setup);
  const std::string volume = s.Path("volume");
  MakeDirectory(volume);
  ASSERT_TRUE(s.Watch(volume + "/config.json"));
  AtomicWriter writer(volume);

  const std::string first = s.NextFile();
  writer.Write({{"config.json", first}, {"other.yaml", "a: 1\n"}});
  ASSERT_TRUE(s.AwaitPublished(first, absl::Now(), "first creation"));

  const std::string second = s.NextFile();
  writer.Write({{"config.json", second}, {"other.yaml", "a: 1\n"}});
  ASSERT_TRUE(s.AwaitPublished(second, absl::Now(), "update"));

  const std::string third = s.NextFile();
  writer.Write({{"config.json", third}, {"other.yaml", "a: 2\n"}});
  ASSERT_TRUE(s.AwaitPublished(third, absl::Now(), "update of both keys"));

  const absl::Time removed = absl::Now();
  writer.Write({{"other.yaml", "a: 2\n"}});
  ASSERT_TRUE(s.AwaitFailure(IsNotFound, removed, "key removed (NotFound, last good kept)"));
  EXPECT_EQ(s.watcher().Load()->raw, third);

  const std::string fourth = s.NextFile();
  writer.Write({{"config.json", fourth}, {"other.yaml", "a: 2\n"}});
  ASSERT_TRUE(s.AwaitPublished(fourth, absl::Now(), "key re-added"));
  s.Finish(fourth);
}

// --- Editors -------------------------------------------------------------------

void VimScenario(bool validator, const std::string& backupcopy) {
  std::string vim = FindProgram("vim.tiny");
  if (vim.empty()) vim = FindProgram("vim");
  if (vim.empty()) GTEST_SKIP() << "no vim installed (tools/setup installs vim-tiny)";
  ScenarioSetup setup;
  setup.validator = validator;
  // In place: vim truncates and rewrites the file it opened, nothing is ever
  // missing. By rename: there is a moment with no file.
  setup.no_failures = backupcopy == "yes";
  Scenario s("vim backupcopy=" + backupcopy, setup);
  MakeDirectory(s.Path("src"));
  const std::string path = s.StartWatching("etc/app.json");
  ASSERT_FALSE(path.empty());
  std::string last;
  for (int save = 1; save <= 3; ++save) {
    last = s.NextFile();
    StageFile(s.Path("src/next.json"), last);
    ASSERT_TRUE(VimSave(vim, path, s.Path("src/next.json"), backupcopy));
    ASSERT_EQ(ReadWholeFile(path), last) << "vim did not write what it was given";
    ASSERT_TRUE(s.AwaitPublished(last, absl::Now(), absl::StrCat(":w number ", save)));
  }
  s.Finish(last);
}

TEST_P(WatchScenario, VimBackupcopyNo) { VimScenario(GetParam(), "no"); }
TEST_P(WatchScenario, VimBackupcopyYes) { VimScenario(GetParam(), "yes"); }
TEST_P(WatchScenario, VimBackupcopyAuto) { VimScenario(GetParam(), "auto"); }

TEST_P(WatchScenario, EmacsSaves) {
  Scenario s("emacs (replayed)", Configured());
  const std::string path = s.StartWatching("etc/app.json");
  ASSERT_FALSE(path.empty());
  const std::string first = s.NextFile();
  EmacsSave(path, first, /*first_save=*/true);
  ASSERT_TRUE(s.AwaitPublished(first, absl::Now(), "first save (backup by rename)"));
  const std::string second = s.NextFile();
  EmacsSave(path, second, /*first_save=*/false);
  ASSERT_TRUE(s.AwaitPublished(second, absl::Now(), "second save (in place)"));
  s.Finish(second);
}

// --- Command-line tools ----------------------------------------------------------

TEST_P(WatchScenario, SedInPlace) {
  ScenarioSetup setup = Configured();
  setup.no_failures = true;  // sed -i writes a temporary file and renames it
  Scenario s("sed -i", setup);
  MakeDirectory(s.Path("src"));
  const std::string path = s.StartWatching("etc/app.json");
  ASSERT_FALSE(path.empty());
  std::string last;
  for (int edit = 1; edit <= 2; ++edit) {
    last = s.NextFile();
    StageFile(s.Path("src/next.json"), last);
    // Deletes every line and reads the new text in after the first.
    ASSERT_EQ(RunProgram({"sed", "-i", "-e", "1r " + s.Path("src/next.json"), "-e", "d", path}), 0);
    ASSERT_EQ(ReadWholeFile(path), last);
    ASSERT_TRUE(s.AwaitPublished(last, absl::Now(), absl::StrCat("sed -i number ", edit)));
  }
  s.Finish(last);
}

TEST_P(WatchScenario, CpOverTheFile) {
  ScenarioSetup setup = Configured();
  setup.no_failures = true;  // in place: O_TRUNC, copy, close
  Scenario s("cp over the file", setup);
  MakeDirectory(s.Path("src"));
  const std::string path = s.StartWatching("etc/app.json");
  ASSERT_FALSE(path.empty());
  std::string last;
  for (int copy = 1; copy <= 2; ++copy) {
    last = s.NextFile();
    StageFile(s.Path("src/next.json"), last);
    ASSERT_EQ(RunProgram({"cp", s.Path("src/next.json"), path}), 0);
    ASSERT_TRUE(s.AwaitPublished(last, absl::Now(), absl::StrCat("cp number ", copy)));
  }
  s.Finish(last);
}

TEST_P(WatchScenario, MvFromAnotherFileSystem) {
  Scenario s("mv from another file system", Configured());
  MakeDirectory(s.Path("etc"));
  const std::string path = s.Path("etc/app.json");
  WriteInPlace(path, s.NextFile());
  TempDir other_fs_dir("/dev/shm");
  struct stat here, there;
  ASSERT_EQ(::stat(s.Path("etc").c_str(), &here), 0);
  ASSERT_EQ(::stat(other_fs_dir.path().c_str(), &there), 0);
  if (here.st_dev == there.st_dev) GTEST_SKIP() << "/dev/shm is on the test's file system";
  ASSERT_TRUE(s.Watch(path));
  std::string last;
  for (int move = 1; move <= 2; ++move) {
    last = s.NextFile();
    const std::string staged = other_fs_dir.Join("next.json");
    StageFile(staged, last);
    // rename(2) fails with EXDEV: mv unlinks the target, creates it anew,
    // copies, sets the times, closes, and removes the source.
    ASSERT_EQ(RunProgram({"mv", staged, path}), 0);
    ASSERT_TRUE(s.AwaitPublished(last, absl::Now(), absl::StrCat("mv number ", move)));
  }
  s.Finish(last);
}

// A same-size overwrite in place, slowed down as over a slow link: rsync
// writes the first half, a second later the second half, then closes. In
// between the file is half new, half old, and still parses.
TEST_P(WatchScenario, RsyncInplaceSameSize) {
  if (FindProgram("rsync").empty()) GTEST_SKIP() << "no rsync (tools/setup installs it)";
  ScenarioSetup setup = Configured();
  setup.no_failures = true;
  setup.body_lines = 9000;  // about 500 KB: rsync writes it in two 256 KiB pieces
  Scenario s("rsync --inplace, same size, slow", setup);
  MakeDirectory(s.Path("src"));
  const std::string path = s.StartWatching("etc/app.json");
  ASSERT_FALSE(path.empty());
  const std::string next = s.NextFile();
  StageFile(s.Path("src/app.json"), next);
  // -I: no quick check (same size, maybe the same mtime second).
  ASSERT_EQ(RunProgram({"rsync", "-I", "--inplace", "--bwlimit=256", s.Path("src/app.json"), path}),
            0);
  ASSERT_EQ(ReadWholeFile(path), next);
  ASSERT_TRUE(s.AwaitPublished(next, absl::Now(), "rsync --inplace --bwlimit=256"));
  // rsync's default: a temporary file renamed over the target.
  const std::string last = s.NextFile();
  StageFile(s.Path("src/app.json"), last);
  ASSERT_EQ(RunProgram({"rsync", "-I", s.Path("src/app.json"), path}), 0);
  ASSERT_TRUE(s.AwaitPublished(last, absl::Now(), "rsync (temporary file, rename)"));
  s.Finish(last);
}

// --- Slow writers ------------------------------------------------------------------

// `render > f`, where rendering takes a while before its first output and
// between its parts: the file is empty, then half written, for 300 ms each.
void RenderScenario(bool validator, FileFormat format) {
  ScenarioSetup setup;
  setup.format = format;
  setup.validator = validator;
  setup.no_failures = true;  // nothing is read before the shell closes the file
  Scenario s("slow render > f", setup);
  MakeDirectory(s.Path("src"));
  const std::string path = s.StartWatching("etc/app.conf");
  ASSERT_FALSE(path.empty());
  const std::string next = s.NextFile();
  const std::size_t half = next.find('\n', next.size() / 2) + 1;
  StageFile(s.Path("src/part1"), next.substr(0, half));
  StageFile(s.Path("src/part2"), next.substr(half));
  ASSERT_EQ(RunShell("render() { sleep 0.3; cat \"$1\"; sleep 0.3; cat \"$2\"; }; "
                     "render \"$1\" \"$2\" > \"$3\"",
                     {s.Path("src/part1"), s.Path("src/part2"), path}),
            0);
  ASSERT_TRUE(s.AwaitPublished(next, absl::Now(), "render > f"));
  s.Finish(next);
}

TEST_P(WatchScenario, SlowRenderToml) { RenderScenario(GetParam(), FileFormat::kToml); }
TEST_P(WatchScenario, SlowRenderJson) { RenderScenario(GetParam(), FileFormat::kJson); }

// One descriptor, one line at a time, 200 ms apart: every prefix of a TOML
// file made of whole lines is itself valid TOML.
void LineByLineScenario(bool validator, FileFormat format) {
  ScenarioSetup setup;
  setup.format = format;
  setup.validator = validator;
  setup.no_failures = true;
  setup.body_lines = 4;
  Scenario s("line-by-line writer", setup);
  MakeDirectory(s.Path("src"));
  const std::string path = s.StartWatching("etc/app.conf");
  ASSERT_FALSE(path.empty());
  const std::string next = s.NextFile();
  StageFile(s.Path("src/next"), next);
  ASSERT_EQ(RunShell("while IFS= read -r line; do printf '%s\\n' \"$line\"; sleep 0.2; done "
                     "< \"$1\" > \"$2\"",
                     {s.Path("src/next"), path}),
            0);
  ASSERT_EQ(ReadWholeFile(path), next);
  ASSERT_TRUE(s.AwaitPublished(next, absl::Now(), "lines 200 ms apart"));
  s.Finish(next);
}

TEST_P(WatchScenario, LineByLineToml) { LineByLineScenario(GetParam(), FileFormat::kToml); }
TEST_P(WatchScenario, LineByLineJson) { LineByLineScenario(GetParam(), FileFormat::kJson); }

// `: > f`: a complete, empty file. TOML parses it as an empty table, which
// would silently turn every value into its default.
TEST_P(WatchScenario, EmptiedTomlFile) {
  Scenario s("emptied TOML file", Configured(FileFormat::kToml));
  MakeDirectory(s.Path("etc"));
  const std::string path = s.Path("etc/app.toml");
  const std::string first = s.NextFile();
  WriteInPlace(path, first);
  ASSERT_TRUE(s.Watch(path));
  const absl::Time emptied = absl::Now();
  ASSERT_EQ(RunShell(": > \"$1\"", {path}), 0);
  ASSERT_TRUE(s.AwaitFailure(
      [](const absl::Status& status) {
        return std::string(status.message()).find("empty") != std::string::npos;
      },
      emptied, ": > f (rejected as empty)"));
  EXPECT_EQ(s.watcher().Load()->raw, first);
  const std::string next = s.EditInPlace(path, "filled again");
  ASSERT_FALSE(next.empty());
  s.Finish(next);
}

// --- Files and directories coming and going ----------------------------------------

TEST_P(WatchScenario, DeleteAndRecreate) {
  Scenario s("delete and re-create", Configured());
  const std::string path = s.StartWatching("etc/app.json");
  ASSERT_FALSE(path.empty());
  const absl::Time deleted = absl::Now();
  RemoveFile(path);
  ASSERT_TRUE(s.AwaitFailure(IsNotFound, deleted, "rm (NotFound)"));
  const std::string second = s.EditInPlace(path, "re-created");
  ASSERT_FALSE(second.empty());
  const std::string third = s.NextFile();
  RemoveFile(path);
  WriteInPlace(path, third);
  ASSERT_TRUE(s.AwaitPublished(third, absl::Now(), "rm and re-create at once"));
  s.Finish(third);
}

TEST_P(WatchScenario, DirectoryRenamedAndReplaced) {
  Scenario s("directory renamed and replaced", Configured());
  MakeDirectory(s.Path("src"));
  const std::string path = s.StartWatching("conf.d/app.json");
  ASSERT_FALSE(path.empty());
  const std::string second = s.NextFile();
  StageFile(s.Path("src/app.json"), second);
  ASSERT_EQ(RunShell("cd \"$1\" && mv conf.d conf.d.old && mkdir conf.d && cp src/app.json "
                     "conf.d/app.json",
                     {s.Path("")}),
            0);
  ASSERT_TRUE(s.AwaitPublished(second, absl::Now(), "mv conf.d conf.d.old; mkdir; cp"));
  const std::string third = s.EditInPlace(path, "edit in the new directory");
  ASSERT_FALSE(third.empty());
  s.Finish(third);
}

// A release-directory swap: the file is two levels below the directory that
// is renamed away and replaced.
void GrandparentScenario(bool validator, bool reload) {
  ScenarioSetup setup;
  setup.validator = validator;
  Scenario s(reload ? "grandparent renamed and replaced, then Reload()"
                    : "grandparent renamed and replaced",
             setup);
  MakeDirectory(s.Path("etc"));
  MakeDirectory(s.Path("etc/app"));
  MakeDirectory(s.Path("etc/app/conf.d"));
  MakeDirectory(s.Path("src"));
  const std::string path = s.Path("etc/app/conf.d/app.json");
  WriteInPlace(path, s.NextFile());
  // No periodic re-check of the path (it would find the swap within a poll
  // interval): the events alone must.
  ASSERT_TRUE(
      s.Watch(path, [](Scenario::Watcher::Options& o) { o.poll_interval = absl::Hours(1); }));
  const std::string second = s.NextFile();
  StageFile(s.Path("src/app.json"), second);
  ASSERT_EQ(RunShell("cd \"$1\" && mv etc/app etc/app.old && mkdir -p etc/app/conf.d && "
                     "cp src/app.json etc/app/conf.d/app.json",
                     {s.Path("")}),
            0);
  const absl::Time swapped = absl::Now();
  if (reload) {
    const rcu::ReloadResult result = s.watcher().Reload();  // as on SIGHUP
    EXPECT_TRUE(result.status.ok()) << result.status;
  }
  ASSERT_TRUE(s.AwaitPublished(second, swapped, "mv app app.old; mkdir -p app/conf.d; cp"));
  // The watcher must watch the new tree now, not the old one.
  const std::string third = s.EditInPlace(path, "edit after the swap");
  ASSERT_FALSE(third.empty());
  const std::string fourth = s.NextFile();
  WriteInPlace(s.Path("etc/app.old/conf.d/app.json"), s.NextFile());  // the old tree: ignored
  WriteAndRename(path, fourth);
  ASSERT_TRUE(s.AwaitPublished(fourth, absl::Now(), "second edit after the swap"));
  s.Finish(fourth);
}

TEST_P(WatchScenario, GrandparentRenamedAndReplaced) { GrandparentScenario(GetParam(), false); }
TEST_P(WatchScenario, GrandparentRenamedAndReplacedThenReload) {
  GrandparentScenario(GetParam(), true);
}

// A release directory exchanged atomically with a new one (renameat2 with
// RENAME_EXCHANGE, as `mv --exchange` does): no moment without the path,
// every name the same before and after, only the directories differ.
TEST_P(WatchScenario, ReleaseDirectoryExchangedAtomically) {
  Scenario s("release directory exchanged atomically (RENAME_EXCHANGE)", Configured());
  for (const char* dir :
       {"etc", "etc/app", "etc/app/conf.d", "etc/app.new", "etc/app.new/conf.d"}) {
    MakeDirectory(s.Path(dir));
  }
  const std::string path = s.Path("etc/app/conf.d/app.json");
  WriteInPlace(path, s.NextFile());
  ASSERT_TRUE(
      s.Watch(path, [](Scenario::Watcher::Options& o) { o.poll_interval = absl::Hours(1); }));
  const std::string second = s.NextFile();
  WriteInPlace(s.Path("etc/app.new/conf.d/app.json"), second);
  ASSERT_EQ(::syscall(SYS_renameat2, AT_FDCWD, s.Path("etc/app").c_str(), AT_FDCWD,
                      s.Path("etc/app.new").c_str(), RENAME_EXCHANGE),
            0)
      << std::strerror(errno);
  ASSERT_TRUE(s.AwaitPublished(second, absl::Now(), "renameat2(app, app.new, RENAME_EXCHANGE)"));
  const std::string third = s.EditInPlace(path, "edit in the new release");
  ASSERT_FALSE(third.empty());
  s.Finish(third);
}

TEST_P(WatchScenario, ReplacedByADirectoryAndAFifo) {
  Scenario s("replaced by a directory, then a FIFO", Configured());
  const std::string path = s.StartWatching("etc/app.json");
  ASSERT_FALSE(path.empty());
  absl::Time when = absl::Now();
  RemoveFile(path);
  MakeDirectory(path);
  ASSERT_TRUE(s.AwaitFailure(
      [](const absl::Status& st) {
        return absl::IsFailedPrecondition(st) &&
               std::string(st.message()).find("is a directory") != std::string::npos;
      },
      when, "rm; mkdir (a directory)"));
  when = absl::Now();
  ASSERT_EQ(::rmdir(path.c_str()), 0);
  ASSERT_EQ(::mkfifo(path.c_str(), 0644), 0);
  ASSERT_TRUE(s.AwaitFailure(
      [](const absl::Status& st) {
        return std::string(st.message()).find("is a FIFO") != std::string::npos;
      },
      when, "rmdir; mkfifo (a FIFO, never opened for long)"));
  const std::string next = s.NextFile();
  RemoveFile(path);
  WriteInPlace(path, next);
  ASSERT_TRUE(s.AwaitPublished(next, absl::Now(), "a regular file again"));
  s.Finish(next);
}

TEST_P(WatchScenario, SymlinkRepointed) {
  ScenarioSetup setup = Configured();
  setup.no_failures = true;  // ln -sfn renames a new link over the old one
  Scenario s("symlink re-pointed (ln -sfn)", setup);
  MakeDirectory(s.Path("etc"));
  MakeDirectory(s.Path("store"));
  WriteInPlace(s.Path("store/a.json"), s.NextFile());
  const std::string b = s.NextFile();
  WriteInPlace(s.Path("store/b.json"), b);
  const std::string path = s.Path("etc/app.json");
  MakeSymlink("../store/a.json", path);
  // The watcher starts on a (seq 1); b (seq 2) is newer.
  ASSERT_TRUE(s.Watch(path));
  ASSERT_EQ(RunProgram({"ln", "-sfn", "../store/b.json", path}), 0);
  ASSERT_TRUE(s.AwaitPublished(b, absl::Now(), "ln -sfn ../store/b.json"));
  const std::string c = s.EditInPlace(s.Path("store/b.json"), "edit of the new target");
  ASSERT_FALSE(c.empty());
  s.Finish(c);
}

// Capistrano-style releases: `current` points at a release directory.
TEST_P(WatchScenario, ReleaseSymlinkSwapped) {
  ScenarioSetup setup = Configured();
  setup.no_failures = true;
  Scenario s("release symlink swapped (current -> releases/N)", setup);
  for (const char* dir :
       {"releases", "releases/1", "releases/1/conf", "releases/2", "releases/2/conf"}) {
    MakeDirectory(s.Path(dir));
  }
  WriteInPlace(s.Path("releases/1/conf/app.json"), s.NextFile());
  const std::string second = s.NextFile();
  WriteInPlace(s.Path("releases/2/conf/app.json"), second);
  MakeSymlink("releases/1", s.Path("current"));
  ASSERT_TRUE(s.Watch(s.Path("current/conf/app.json")));
  ASSERT_EQ(RunShell("cd \"$1\" && ln -sfn releases/2 current", {s.Path("")}), 0);
  ASSERT_TRUE(s.AwaitPublished(second, absl::Now(), "ln -sfn releases/2 current"));
  const std::string third =
      s.EditInPlace(s.Path("releases/2/conf/app.json"), "edit inside the new release");
  ASSERT_FALSE(third.empty());
  s.Finish(third);
}

// A file that never rests is read anyway once max_debounce has passed
// since the burst began (WatchOptions::max_debounce), then as soon as no
// writer is known to hold it open: a writer that a loaded machine preempts
// between truncating the file and queueing the truncation's event is not
// known yet, and its empty file may be read. The bursts below must never be
// read half written, so the bound they run under has to outlast them,
// however slowly a loaded machine runs them (with the default 1 s, CI's
// clang step once read the storm's file just truncated).
void KeepWaitingForTheWriter(Scenario::Watcher::Options& options) {
  options.max_debounce = kTimeout;
}

// --- Bursts --------------------------------------------------------------------------

void BurstScenario(bool validator, bool polling) {
  ScenarioSetup setup;
  setup.validator = validator;
  setup.polling = polling;
  setup.no_failures = true;
  setup.body_lines = 2;
  Scenario s(polling ? "1,000 renames in a burst" : "1,000 writes in a burst (in place, rename)",
             setup);
  const std::string path = s.StartWatching("etc/app.json", KeepWaitingForTheWriter);
  ASSERT_FALSE(path.empty());
  std::string last;
  for (int i = 0; i < 1000; ++i) {
    last = s.NextFile();
    // Polling cannot see a writer at work, only that the file changed:
    // polled files must be replaced whole (see config_watcher.h).
    if (i % 2 == 0 && !polling) {
      WriteInPlace(path, last);
    } else {
      WriteAndRename(path, last);
    }
  }
  ASSERT_TRUE(s.AwaitPublished(last, absl::Now(), "last of 1,000 writes"));
  s.Finish(last, polling);
}

TEST_P(WatchScenario, BurstOfAThousandWrites) { BurstScenario(GetParam(), false); }
TEST_P(WatchScenario, BurstOfAThousandRenamesPolling) { BurstScenario(GetParam(), true); }

// --- Polling ---------------------------------------------------------------------------

// NFS with a server clock ahead of ours: every mtime is in the future. The
// file's content must be hashed only while its timestamps are too fresh to
// tell two writes apart, not on every poll.
TEST_P(WatchScenario, FutureMtimeUnderPolling) {
  ScenarioSetup setup = Configured();
  setup.polling = true;
  setup.poll_interval = absl::Milliseconds(50);
  Scenario s("mtime an hour in the future, polling", setup);
  MakeDirectory(s.Path("nfs"));
  const std::string path = s.Path("nfs/app.json");
  const struct timespec future[2] = {{::time(nullptr) + 3600, 0}, {::time(nullptr) + 3600, 0}};
  auto write_with_future_mtime = [&](const std::string& bytes) {
    WriteAndRename(path, bytes);
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), future, 0), 0);
  };
  write_with_future_mtime(s.NextFile());
  ASSERT_TRUE(s.Watch(path));
  const std::string second = s.NextFile();
  write_with_future_mtime(second);
  ASSERT_TRUE(s.AwaitPublished(second, absl::Now(), "replaced, same future mtime"));

  // Then the file stays as it is. Count whole-file reads over poll ticks.
  auto status = [&] { return s.watcher().Status(); };
  const std::uint64_t settle_polls = status().polls + 3 * 1000 / 50;  // 3 s of ticks
  ASSERT_TRUE(WaitUntil([&] { return status().polls >= settle_polls; }, kConvergeBound));
  const rcu::WatcherStatus before = status();
  ASSERT_TRUE(WaitUntil([&] { return status().polls >= before.polls + 40; }, kConvergeBound));
  const rcu::WatcherStatus after = status();
  const std::uint64_t reads = after.files_read - before.files_read;
  std::printf("[scenario future mtime] %llu whole-file reads in %llu poll ticks after settling\n",
              static_cast<unsigned long long>(reads),
              static_cast<unsigned long long>(after.polls - before.polls));
  EXPECT_EQ(reads, 0u) << "the unchanged file is read again on every poll tick";

  // A change in place that keeps size and mtime is still seen (ctime
  // changes).
  const std::string third = s.NextFile();
  WriteInPlace(path, third);
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), future, 0), 0);
  ASSERT_TRUE(s.AwaitPublished(third, absl::Now(), "rewritten in place, same size and mtime"));
  s.Finish(third, /*expect_polling=*/true);
}

// --- Sequences the fixes were not designed for (a review's attacks) ----------------

// Release swaps back to back, each followed by an in-place edit, with the
// old trees deleted while the watcher may still be resolving them.
TEST_P(WatchScenario, RapidReleaseSwaps) {
  ScenarioSetup setup = Configured();
  Scenario s("20 release swaps back to back", setup);
  MakeDirectory(s.Path("srv"));
  MakeDirectory(s.Path("srv/app"));
  MakeDirectory(s.Path("srv/app/conf.d"));
  MakeDirectory(s.Path("src"));
  const std::string path = s.Path("srv/app/conf.d/app.json");
  WriteInPlace(path, s.NextFile());
  ASSERT_TRUE(s.Watch(path));
  std::string last;
  for (int swap = 0; swap < 20; ++swap) {
    const std::string deployed = s.NextFile();
    StageFile(s.Path("src/app.json"), deployed);
    ASSERT_EQ(RunShell("cd \"$1\" && mv srv/app srv/app.old && mkdir -p srv/app/conf.d && "
                       "cp src/app.json srv/app/conf.d/app.json && rm -rf srv/app.old",
                       {s.Path("")}),
              0);
    last = s.NextFile();
    WriteInPlace(path, last);
  }
  ASSERT_TRUE(s.AwaitPublished(last, absl::Now(), "edit after the 20th swap"));
  const std::string after = s.EditInPlace(path, "one more edit");
  ASSERT_FALSE(after.empty());
  s.Finish(after);
}

// The file's directory moved away (not replaced), then moved back.
TEST_P(WatchScenario, DirectoryMovedAwayAndBack) {
  Scenario s("directory moved away and back", Configured());
  MakeDirectory(s.Path("etc"));
  MakeDirectory(s.Path("etc/conf.d"));
  MakeDirectory(s.Path("elsewhere"));
  const std::string path = s.Path("etc/conf.d/app.json");
  WriteInPlace(path, s.NextFile());
  ASSERT_TRUE(s.Watch(path));
  const absl::Time moved = absl::Now();
  ASSERT_EQ(::rename(s.Path("etc/conf.d").c_str(), s.Path("elsewhere/conf.d").c_str()), 0);
  ASSERT_TRUE(s.AwaitFailure(IsNotFound, moved, "mv etc/conf.d elsewhere/ (NotFound)"));
  const std::string next = s.NextFile();
  WriteInPlace(s.Path("elsewhere/conf.d/app.json"), next);  // edited while away
  ASSERT_EQ(::rename(s.Path("elsewhere/conf.d").c_str(), s.Path("etc/conf.d").c_str()), 0);
  ASSERT_TRUE(s.AwaitPublished(next, absl::Now(), "edited while away, moved back"));
  const std::string last = s.EditInPlace(path, "edit after coming back");
  ASSERT_FALSE(last.empty());
  s.Finish(last);
}

// A symlink loop on the way, then repaired.
TEST_P(WatchScenario, SymlinkLoopThenRepaired) {
  Scenario s("symlink loop, then repaired", Configured());
  MakeDirectory(s.Path("v1"));
  const std::string first = s.NextFile();
  WriteInPlace(s.Path("v1/app.json"), first);
  MakeSymlink("v1", s.Path("current"));
  ASSERT_TRUE(s.Watch(s.Path("current/app.json")));
  absl::Time when = absl::Now();
  // current -> loop -> current
  MakeSymlink("current", s.Path("loop"));
  ASSERT_EQ(RunShell("cd \"$1\" && ln -sfn loop current", {s.Path("")}), 0);
  ASSERT_TRUE(s.AwaitFailure(
      [](const absl::Status& st) {
        return std::string(st.message()).find("symbolic links") != std::string::npos;
      },
      when, "current -> loop -> current (ELOOP)"));
  MakeDirectory(s.Path("v2"));
  const std::string second = s.NextFile();
  WriteInPlace(s.Path("v2/app.json"), second);
  ASSERT_EQ(RunShell("cd \"$1\" && ln -sfn v2 current", {s.Path("")}), 0);
  ASSERT_TRUE(s.AwaitPublished(second, absl::Now(), "current -> v2"));
  const std::string third = s.EditInPlace(s.Path("v2/app.json"), "edit in v2");
  ASSERT_FALSE(third.empty());
  s.Finish(third);
}

// Forty directories deep: forty-one watches, and a swap at the top.
TEST_P(WatchScenario, DeepPathSwappedAtTheTop) {
  Scenario s("40 directories deep, top swapped", Configured());
  MakeDirectory(s.Path("src"));
  std::string relative = "top";
  for (int i = 0; i < 40; ++i) relative += "/d" + std::to_string(i);
  ASSERT_EQ(RunShell("mkdir -p \"$1\"", {s.Path(relative)}), 0);
  const std::string path = s.Path(relative + "/app.json");
  WriteInPlace(path, s.NextFile());
  ASSERT_TRUE(s.Watch(path));
  EXPECT_GE(s.watcher().Status().watched_directories.size(), 41u);
  const std::string second = s.NextFile();
  StageFile(s.Path("src/app.json"), second);
  ASSERT_EQ(RunShell("cd \"$1\" && mv top top.old && mkdir -p \"$2\" && cp src/app.json \"$2\"/",
                     {s.Path(""), relative}),
            0);
  ASSERT_TRUE(s.AwaitPublished(second, absl::Now(), "mv top top.old; mkdir -p; cp"));
  const std::string third = s.EditInPlace(path, "edit 41 levels down");
  ASSERT_FALSE(third.empty());
  s.Finish(third);
}

// A write through a hard link in a directory nobody watches: no event at
// all. The periodic check (every poll_interval) finds it.
TEST_P(WatchScenario, WriteThroughAHardLinkElsewhere) {
  Scenario s("write through a hard link in an unwatched directory", Configured());
  MakeDirectory(s.Path("etc"));
  MakeDirectory(s.Path("other"));
  const std::string path = s.Path("etc/app.json");
  WriteInPlace(path, s.NextFile());
  ASSERT_EQ(::link(path.c_str(), s.Path("other/app.json").c_str()), 0);
  ASSERT_TRUE(s.Watch(
      path, [](Scenario::Watcher::Options& o) { o.poll_interval = absl::Milliseconds(200); }));
  const std::string next =
      s.EditInPlace(s.Path("other/app.json"), "written through other/app.json");
  ASSERT_FALSE(next.empty());
  s.Finish(next);
}

// Reload() called again and again from another thread while a writer
// rewrites the file in place: no partial file may ever be read. (inotify
// queues a write's event after the write took effect, so a reader that only
// looked at events would read files just truncated, or half written, by a
// writer preempted inside the system call.)
TEST_P(WatchScenario, ReloadStormDuringInPlaceWrites) {
  // TOML: every prefix made of whole lines parses.
  ScenarioSetup setup = Configured(FileFormat::kToml);
  setup.body_lines = 400;  // about 20 KB, written in 1 KB pieces
  // Reload() may give up on the writer (Unavailable: "is being written",
  // "changed while being read"); it must never read the file half written
  // (which would fail to parse or validate, or be published).
  setup.failure_allowed = [](const absl::Status& status) { return absl::IsUnavailable(status); };
  Scenario s("Reload() storm during slow in-place writes", setup);
  const std::string path = s.StartWatching("etc/app.toml", KeepWaitingForTheWriter);
  ASSERT_FALSE(path.empty());
  std::atomic<bool> done{false};
  int reloads = 0;
  std::thread reloader([&] {
    while (!done.load()) {
      s.watcher().Reload();
      ++reloads;
    }
  });
  std::string last;
  for (int round = 0; round < 30; ++round) {
    last = s.NextFile();
    const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    for (std::size_t offset = 0; offset < last.size(); offset += 1024) {
      const std::string piece = last.substr(offset, 1024);
      ASSERT_EQ(::write(fd, piece.data(), piece.size()), static_cast<ssize_t>(piece.size()));
      absl::SleepFor(absl::Milliseconds(1));  // the writer's pace
    }
    ASSERT_EQ(::close(fd), 0);
  }
  ASSERT_TRUE(s.AwaitPublished(last, absl::Now(), "last of 30 rewrites in 1 KB pieces"));
  done = true;
  reloader.join();
  std::printf("[scenario Reload() storm] %d manual reloads during the writes\n", reloads);
  s.Finish(last);
}

}  // namespace
}  // namespace rcu_test
