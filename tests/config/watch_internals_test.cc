// The watcher's building blocks on their own: path resolution into watched
// directories, inotify event classification (including the queue overflow,
// which cannot be provoked reliably from a test), and reading files safely.
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <map>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "containers/config/internal/watch_file.h"
#include "containers/config/internal/watch_inotify.h"
#include "containers/config/internal/watch_paths.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/config/watch_test_util.h"

namespace {

using ::rcu::internal::ClassifyEvent;
using ::rcu::internal::EventEffects;
using ::rcu::internal::ResolveWatchSet;
using ::rcu::internal::WatchSet;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

std::string RealPath(const std::string& path) {
  char resolved[PATH_MAX];
  return ::realpath(path.c_str(), resolved) != nullptr ? resolved : path;
}

class WatchPathsTest : public ::testing::Test {
 protected:
  WatchPathsTest() : root_(RealPath(dir_.path())) {}

  // The set's directories inside the test's directory (those above it are
  // checked by EveryDirectoryOnTheWayIsWatched).
  std::map<std::string, std::set<std::string>> Local(const WatchSet& set) const {
    std::map<std::string, std::set<std::string>> local;
    for (const auto& [dir, names] : set.entries) {
      if (dir.rfind(root_, 0) == 0) local[dir] = names;
    }
    return local;
  }

  rcu_test::TempDir dir_;
  const std::string root_;  // free of symlinks, like the sets' directories
};

// A release swap renames a directory two levels above the file: every
// directory on the way must be watched for its entry.
TEST_F(WatchPathsTest, EveryDirectoryOnTheWayIsWatched) {
  rcu_test::MakeDirectory(root_ + "/app");
  rcu_test::MakeDirectory(root_ + "/app/conf.d");
  rcu_test::WriteInPlace(root_ + "/app/conf.d/config.json", "{}");
  const WatchSet set = ResolveWatchSet(root_ + "/app/conf.d/config.json");
  EXPECT_EQ(set.error, 0);
  EXPECT_EQ(set.target_directory, root_ + "/app/conf.d");
  EXPECT_EQ(set.target_name, "config.json");
  // "/" -> first component, each directory -> the next one.
  std::string dir = "/";
  std::string rest = root_.substr(1) + "/app/conf.d/config.json";
  while (!rest.empty()) {
    const std::string name = rest.substr(0, rest.find('/'));
    rest = rest.find('/') == std::string::npos ? "" : rest.substr(rest.find('/') + 1);
    ASSERT_EQ(set.entries.count(dir), 1u) << dir;
    EXPECT_THAT(set.entries.at(dir), ElementsAre(name)) << dir;
    struct stat st;
    ASSERT_EQ(::stat(dir.c_str(), &st), 0);
    ASSERT_EQ(set.ids.count(dir), 1u) << dir;
    EXPECT_EQ(set.ids.at(dir).inode, st.st_ino) << dir;
    dir = dir == "/" ? "/" + name : dir + "/" + name;
  }
  // Replaced under the same name: the same names, another identity.
  ASSERT_EQ(::rename((root_ + "/app").c_str(), (root_ + "/app.old").c_str()), 0);
  rcu_test::MakeDirectory(root_ + "/app");
  rcu_test::MakeDirectory(root_ + "/app/conf.d");
  rcu_test::WriteInPlace(root_ + "/app/conf.d/config.json", "{}");
  const WatchSet swapped = ResolveWatchSet(root_ + "/app/conf.d/config.json");
  EXPECT_EQ(swapped.entries, set.entries);
  EXPECT_NE(swapped.ids.at(root_ + "/app/conf.d"), set.ids.at(root_ + "/app/conf.d"));
  EXPECT_NE(swapped, set);
}

TEST_F(WatchPathsTest, PlainFile) {
  rcu_test::WriteInPlace(root_ + "/config.json", "{}");
  const WatchSet set = ResolveWatchSet(root_ + "/config.json");
  EXPECT_EQ(set.error, 0);
  EXPECT_EQ(set.resolved_path, root_ + "/config.json");
  EXPECT_THAT(Local(set), ElementsAre(Pair(root_, std::set<std::string>{"config.json"})));
}

TEST_F(WatchPathsTest, MissingFileIsWatchedForInItsDirectory) {
  const WatchSet set = ResolveWatchSet(root_ + "/config.json");
  EXPECT_EQ(set.error, ENOENT);
  EXPECT_EQ(set.resolved_path, "");
  EXPECT_EQ(set.target_directory, root_);  // its writer is tracked once it appears
  EXPECT_EQ(set.target_name, "config.json");
  EXPECT_THAT(Local(set), ElementsAre(Pair(root_, std::set<std::string>{"config.json"})));
}

TEST_F(WatchPathsTest, MissingDirectoryIsWatchedForInItsParent) {
  const WatchSet set = ResolveWatchSet(root_ + "/conf.d/config.json");
  EXPECT_EQ(set.error, ENOENT);
  EXPECT_EQ(set.target_directory, "");
  EXPECT_THAT(Local(set), ElementsAre(Pair(root_, std::set<std::string>{"conf.d"})));
}

TEST_F(WatchPathsTest, KubernetesConfigMapVolume) {
  rcu_test::ConfigMapVolume volume(root_, "config.json", "{}");
  const WatchSet set = ResolveWatchSet(volume.path());
  EXPECT_EQ(set.error, 0);
  EXPECT_EQ(set.resolved_path, root_ + "/..gen_1/config.json");
  EXPECT_EQ(set.target_directory, root_ + "/..gen_1");
  EXPECT_THAT(
      Local(set),
      UnorderedElementsAre(Pair(root_, std::set<std::string>{"..data", "..gen_1", "config.json"}),
                           Pair(root_ + "/..gen_1", std::set<std::string>{"config.json"})));
  volume.Update("{}");
  EXPECT_EQ(ResolveWatchSet(volume.path()).resolved_path, root_ + "/..gen_2/config.json");
}

TEST_F(WatchPathsTest, SymlinkChainsAcrossDirectoriesAndDotDot) {
  rcu_test::MakeDirectory(root_ + "/a");
  rcu_test::MakeDirectory(root_ + "/b");
  rcu_test::WriteInPlace(root_ + "/b/real.json", "{}");
  rcu_test::MakeSymlink(root_ + "/b/real.json", root_ + "/b/abs-link");  // absolute
  rcu_test::MakeSymlink("../b/abs-link", root_ + "/a/config.json");      // relative
  const WatchSet set = ResolveWatchSet(root_ + "/a/config.json");
  EXPECT_EQ(set.error, 0);
  EXPECT_EQ(set.resolved_path, root_ + "/b/real.json");
  EXPECT_THAT(Local(set), UnorderedElementsAre(
                              Pair(root_, std::set<std::string>{"a", "b"}),
                              Pair(root_ + "/a", std::set<std::string>{"config.json"}),
                              Pair(root_ + "/b", std::set<std::string>{"abs-link", "real.json"})));
}

TEST_F(WatchPathsTest, SymlinkedDirectoryOnTheWay) {
  rcu_test::MakeDirectory(root_ + "/v1");
  rcu_test::WriteInPlace(root_ + "/v1/config.json", "{}");
  rcu_test::MakeSymlink("v1", root_ + "/current");
  const WatchSet set = ResolveWatchSet(root_ + "/current/config.json");
  EXPECT_EQ(set.resolved_path, root_ + "/v1/config.json");
  EXPECT_THAT(Local(set),
              UnorderedElementsAre(Pair(root_, std::set<std::string>{"current", "v1"}),
                                   Pair(root_ + "/v1", std::set<std::string>{"config.json"})));
}

TEST_F(WatchPathsTest, SymlinkLoopStops) {
  rcu_test::MakeSymlink("b", root_ + "/a");
  rcu_test::MakeSymlink("a", root_ + "/b");
  const WatchSet set = ResolveWatchSet(root_ + "/a");
  EXPECT_EQ(set.error, ELOOP);
  EXPECT_THAT(Local(set), ElementsAre(Pair(root_, std::set<std::string>{"a", "b"})));
}

TEST_F(WatchPathsTest, DanglingSymlinkWatchesItsTarget) {
  rcu_test::MakeSymlink("target.json", root_ + "/config.json");
  const WatchSet set = ResolveWatchSet(root_ + "/config.json");
  EXPECT_EQ(set.error, ENOENT);
  EXPECT_THAT(Local(set),
              ElementsAre(Pair(root_, std::set<std::string>{"config.json", "target.json"})));
  EXPECT_EQ(set.target_name, "target.json");
}

TEST(MakeAbsoluteTest, NormalizesLexically) {
  EXPECT_EQ(rcu::internal::MakeAbsolute("/etc//app/./config.json"), "/etc/app/config.json");
  EXPECT_EQ(rcu::internal::MakeAbsolute("/etc/app/../x"), "/etc/app/../x");  // for resolution
  char cwd[PATH_MAX];
  ASSERT_NE(::getcwd(cwd, sizeof(cwd)), nullptr);
  EXPECT_EQ(rcu::internal::MakeAbsolute("config.json"), std::string(cwd) + "/config.json");
}

TEST(ClassifyEventTest, OverflowMeansRescan) {
  const EventEffects effects = ClassifyEvent(IN_Q_OVERFLOW, "", nullptr);
  EXPECT_TRUE(effects.overflow);
  EXPECT_TRUE(effects.reload);
  EXPECT_TRUE(effects.rewatch);
}

TEST(ClassifyEventTest, EventsForOtherEntriesAreIgnored) {
  const std::set<std::string> names = {"config.json", "..data"};
  for (std::uint32_t mask : {IN_CLOSE_WRITE, IN_MODIFY, IN_MOVED_TO, IN_CREATE, IN_DELETE}) {
    const EventEffects effects = ClassifyEvent(mask, ".config.json.swp", &names);
    EXPECT_FALSE(effects.reload || effects.rewatch || effects.overflow) << mask;
  }
}

TEST(ClassifyEventTest, ContentChangesReload) {
  const std::set<std::string> names = {"config.json"};
  for (std::uint32_t mask : {IN_CLOSE_WRITE, IN_MODIFY, IN_ATTRIB}) {
    const EventEffects effects = ClassifyEvent(mask, "config.json", &names);
    EXPECT_TRUE(effects.reload) << mask;
    EXPECT_FALSE(effects.rewatch) << mask;
  }
}

TEST(ClassifyEventTest, OpeningAndReadingDoNotReload) {
  const std::set<std::string> names = {"config.json"};
  for (std::uint32_t mask : {IN_OPEN, IN_CLOSE_NOWRITE}) {
    const EventEffects effects = ClassifyEvent(mask, "config.json", &names);
    EXPECT_FALSE(effects.reload || effects.rewatch) << mask;
  }
}

TEST(ClassifyEventTest, NameChangesReloadAndRewatch) {
  const std::set<std::string> names = {"config.json", "..data"};
  for (std::uint32_t mask : {IN_MOVED_TO, IN_MOVED_FROM, IN_CREATE, IN_DELETE}) {
    EXPECT_TRUE(ClassifyEvent(mask, "..data", &names).rewatch) << mask;
    EXPECT_TRUE(ClassifyEvent(mask, "..data", &names).reload) << mask;
  }
}

// Permissions given back to a watched directory: the only event there is a
// nameless IN_ATTRIB on the directory itself (issue 11, failure 4).
TEST(ClassifyEventTest, AttributesOfAWatchedDirectoryReloadAndRewatch) {
  const std::set<std::string> names = {"config.json"};
  const EventEffects self = ClassifyEvent(IN_ATTRIB | IN_ISDIR, "", &names);
  EXPECT_TRUE(self.reload);
  EXPECT_TRUE(self.rewatch);
  // ...and, in its parent, an IN_ATTRIB naming it.
  const std::set<std::string> parent = {"conf.d"};
  const EventEffects named = ClassifyEvent(IN_ATTRIB | IN_ISDIR, "conf.d", &parent);
  EXPECT_TRUE(named.reload);
  EXPECT_TRUE(named.rewatch);
  // Other entries' attributes mean nothing.
  EXPECT_FALSE(ClassifyEvent(IN_ATTRIB | IN_ISDIR, "other", &parent).reload);
}

TEST(ClassifyEventTest, LostWatchesRewatch) {
  const std::set<std::string> names = {"config.json"};
  for (std::uint32_t mask : {IN_DELETE_SELF, IN_MOVE_SELF, IN_IGNORED, IN_UNMOUNT}) {
    const EventEffects effects = ClassifyEvent(mask, "", &names);
    EXPECT_TRUE(effects.rewatch) << mask;
    EXPECT_TRUE(effects.reload) << mask;
  }
  // IN_IGNORED for a watch already removed on purpose means nothing.
  const EventEffects stale = ClassifyEvent(IN_IGNORED, "", nullptr);
  EXPECT_FALSE(stale.reload || stale.rewatch);
}

TEST(InotifyTest, SyncWatchesExactlyTheSetsDirectories) {
  rcu_test::TempDir dir;
  const std::string root = RealPath(dir.path());
  rcu_test::MakeDirectory(root + "/a");
  rcu_test::MakeDirectory(root + "/b");
  auto inotify = rcu::internal::Inotify::Create();
  ASSERT_TRUE(inotify.ok()) << inotify.status();
  WatchSet set;
  set.entries[root + "/a"] = {"x"};
  set.entries[root + "/b"] = {"y"};
  ASSERT_TRUE((*inotify)->Sync(set).ok());
  EXPECT_THAT((*inotify)->WatchedDirectories(), ElementsAre(root + "/a", root + "/b"));
  // Watch masks: the file's own directory also for writes.
  EXPECT_NE(rcu::internal::DirectoryWatchMask(true) & IN_CLOSE_WRITE, 0u);
  EXPECT_EQ(rcu::internal::DirectoryWatchMask(false) & (IN_MODIFY | IN_CLOSE_WRITE), 0u);
  set.entries.erase(root + "/a");
  set.entries[root + "/missing"] = {"z"};
  const absl::Status status = (*inotify)->Sync(set);
  EXPECT_TRUE(absl::IsNotFound(status)) << status;
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("cannot watch directory " + root + "/missing"));
  EXPECT_THAT((*inotify)->WatchedDirectories(), ElementsAre(root + "/b"));
  // A change to a watched entry is reported; others are not.
  rcu_test::WriteInPlace(root + "/b/other", "1");
  EXPECT_FALSE((*inotify)->ReadEvents().reload);
  rcu_test::WriteInPlace(root + "/b/y", "1");
  EXPECT_TRUE((*inotify)->ReadEvents().reload);
  // The watched directory disappears: its watch is dropped and must be re-added.
  rcu_test::RemoveTree(root + "/b");
  EXPECT_TRUE((*inotify)->ReadEvents().rewatch);
  EXPECT_THAT((*inotify)->WatchedDirectories(), ::testing::IsEmpty());
}

// A directory renamed away and replaced under the same name: the watch must
// move to the new directory, though every name is the same.
TEST(InotifyTest, SyncFollowsADirectoryReplacedUnderItsName) {
  rcu_test::TempDir dir;
  const std::string root = RealPath(dir.path());
  rcu_test::MakeDirectory(root + "/app");
  rcu_test::WriteInPlace(root + "/app/config.json", "1");
  auto inotify = rcu::internal::Inotify::Create();
  ASSERT_TRUE(inotify.ok()) << inotify.status();
  ASSERT_TRUE((*inotify)->Sync(ResolveWatchSet(root + "/app/config.json")).ok());
  (*inotify)->ReadEvents();
  ASSERT_EQ(::rename((root + "/app").c_str(), (root + "/app.old").c_str()), 0);
  rcu_test::MakeDirectory(root + "/app");
  EXPECT_TRUE((*inotify)->ReadEvents().rewatch);  // app renamed, app created in root
  ASSERT_TRUE((*inotify)->Sync(ResolveWatchSet(root + "/app/config.json")).ok());
  (*inotify)->ReadEvents();
  rcu_test::WriteInPlace(root + "/app.old/config.json", "2");  // the old tree
  EXPECT_FALSE((*inotify)->ReadEvents().reload);
  rcu_test::WriteInPlace(root + "/app/config.json", "3");  // the new one
  EXPECT_TRUE((*inotify)->ReadEvents().reload);
}

// Writers at work are tracked by the file's events: written to and not yet
// closed, or created empty.
TEST(InotifyTest, TracksTheFilesWriter) {
  rcu_test::TempDir dir;
  const std::string root = RealPath(dir.path());
  const std::string path = root + "/config.json";
  rcu_test::WriteInPlace(path, "1");
  auto created = rcu::internal::Inotify::Create();
  ASSERT_TRUE(created.ok()) << created.status();
  rcu::internal::Inotify& inotify = **created;
  ASSERT_TRUE(inotify.Sync(ResolveWatchSet(path)).ok());
  EXPECT_TRUE(inotify.watching_file_directory());
  // Reading the file leaves no trace but the count of opens.
  EXPECT_EQ(rcu_test::ReadWholeFile(path), "1");
  inotify.ReadEvents();
  EXPECT_FALSE(inotify.writer_active());
  EXPECT_EQ(inotify.foreign_opens(), 0);  // a reader, closed
  const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  inotify.ReadEvents();
  EXPECT_TRUE(inotify.writer_active());   // O_TRUNC: IN_MODIFY
  EXPECT_EQ(inotify.foreign_opens(), 1);  // IN_OPEN comes before the truncation
  const std::uint64_t writes = inotify.file_write_events();
  ASSERT_EQ(::write(fd, "22", 2), 2);
  inotify.ReadEvents();
  EXPECT_TRUE(inotify.writer_active());
  EXPECT_GT(inotify.file_write_events(), writes);
  ASSERT_EQ(::close(fd), 0);
  inotify.ReadEvents();
  EXPECT_FALSE(inotify.writer_active());  // IN_CLOSE_WRITE
  EXPECT_EQ(inotify.foreign_opens(), 0);
  // The watcher's own reads are expected, and not counted as others' opens.
  inotify.ExpectOwnRead();
  EXPECT_EQ(rcu_test::ReadWholeFile(path), "22");
  inotify.ReadEvents();
  EXPECT_EQ(inotify.foreign_opens(), 0);
  // Another process opening it for writing, even before it writes: counted
  // until it closes (IN_CLOSE_WRITE), whatever readers do meanwhile.
  const int other = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  inotify.ReadEvents();
  EXPECT_EQ(inotify.foreign_opens(), 1);
  EXPECT_FALSE(inotify.writer_active());
  inotify.ExpectOwnRead();
  EXPECT_EQ(rcu_test::ReadWholeFile(path), "22");
  inotify.ReadEvents();
  EXPECT_EQ(inotify.foreign_opens(), 1);
  ::close(other);
  inotify.ReadEvents();
  EXPECT_EQ(inotify.foreign_opens(), 0);
  // Replaced by a rename while a writer holds the old file: not at work on
  // the file the path leads to (IN_EXCL_UNLINK hides its later writes).
  const int old_fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_EQ(::write(old_fd, "3", 1), 1);
  inotify.ReadEvents();
  EXPECT_TRUE(inotify.writer_active());
  rcu_test::WriteAndRename(path, "4");
  ASSERT_EQ(::write(old_fd, "5", 1), 1);
  inotify.ReadEvents();
  EXPECT_FALSE(inotify.writer_active());
  ::close(old_fd);
  // Created empty (`render > f` before its first output): at work.
  rcu_test::RemoveFile(path);
  const int new_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  inotify.ReadEvents();
  EXPECT_TRUE(inotify.writer_active());
  ::close(new_fd);
  inotify.ReadEvents();
  EXPECT_FALSE(inotify.writer_active());
  // A symlink appearing is not a writer.
  rcu_test::RemoveFile(path);
  rcu_test::MakeSymlink("elsewhere", path);
  inotify.ReadEvents();
  EXPECT_FALSE(inotify.writer_active());
}

TEST(ReadFileLimitedTest, ReadsTheWholeFile) {
  rcu_test::TempDir dir;
  const std::string path = dir.Join("f");
  const std::string data(100000, 'x');
  rcu_test::WriteInPlace(path, data);
  auto contents = rcu::internal::ReadFileLimited(path, 100000);
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_EQ(contents->bytes, data);
  EXPECT_EQ(contents->hash, rcu::internal::ContentHash(data));
  EXPECT_EQ(contents->identity, rcu::internal::StatPath(path));
}

TEST(ReadFileLimitedTest, RejectsWhatItShouldWithThePath) {
  rcu_test::TempDir dir;
  const std::string path = dir.Join("f");
  rcu_test::WriteInPlace(path, std::string(101, 'x'));
  absl::Status status = rcu::internal::ReadFileLimited(path, 100).status();
  EXPECT_TRUE(absl::IsResourceExhausted(status));
  EXPECT_EQ(status.message(), "config file " + path +
                                  ": is 101 bytes, over the size limit of 100 bytes "
                                  "(WatchOptions::max_file_size)");
  status = rcu::internal::ReadFileLimited(dir.Join("none"), 100).status();
  EXPECT_TRUE(absl::IsNotFound(status));
  EXPECT_EQ(status.message(),
            "config file " + dir.Join("none") + ": cannot open: No such file or directory");
  status = rcu::internal::ReadFileLimited(dir.path(), 100).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(status));
  ASSERT_EQ(::mkfifo(dir.Join("fifo").c_str(), 0644), 0);
  status = rcu::internal::ReadFileLimited(dir.Join("fifo"), 100).status();  // no blocking
  EXPECT_THAT(std::string(status.message()), HasSubstr("is a FIFO, not a regular file"));
  status = rcu::internal::ReadFileLimited("/dev/zero", 100).status();  // endless
  EXPECT_THAT(std::string(status.message()), HasSubstr("is a character device"));
  status = rcu::internal::ReadFileLimited(path + "/below", 100).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;  // ENOTDIR
}

TEST(ReadFileLimitedTest, ChangedWhileBeingReadIsRecognized) {
  const absl::Status status = rcu::internal::ChangedWhileReadingError("/x");
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("/x: changed while being read"));
  EXPECT_TRUE(rcu::internal::IsChangedWhileReading(status));
  // Recognized by its mark, not its text: another error about a file whose
  // path happens to contain the words is not a reason to retry.
  EXPECT_FALSE(rcu::internal::IsChangedWhileReading(
      absl::UnavailableError("config file /changed while being read: busy")));
  EXPECT_FALSE(rcu::internal::IsChangedWhileReading(absl::UnavailableError("other")));
}

TEST(StatPathTest, TellsFilesApart) {
  rcu_test::TempDir dir;
  const std::string path = dir.Join("f");
  const auto missing = rcu::internal::StatPath(path);
  EXPECT_EQ(missing.error, ENOENT);
  rcu_test::WriteInPlace(path, "1");
  const auto first = rcu::internal::StatPath(path);
  EXPECT_EQ(first.error, 0);
  EXPECT_NE(first, missing);
  rcu_test::WriteAndRename(path, "1");  // same size, same content: new inode
  EXPECT_NE(rcu::internal::StatPath(path), first);
}

}  // namespace
