#include "tests/config/scenario_writers.h"

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tests/config/watch_test_util.h"

extern char** environ;

namespace rcu_test {
namespace {

std::string Join(const std::string& dir, const std::string& name) { return dir + "/" + name; }

bool ReadLink(const std::string& path, std::string* target) {
  char buffer[4096];
  const ssize_t n = ::readlink(path.c_str(), buffer, sizeof(buffer));
  if (n < 0) return false;
  target->assign(buffer, static_cast<std::size_t>(n));
  return true;
}

std::set<std::string> ListDirectory(const std::string& dir) {
  std::set<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (const struct dirent* entry = ::readdir(d)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.insert(name);
  }
  ::closedir(d);
  return names;
}

}  // namespace

std::string FindProgram(const std::string& name) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir :
       absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':', absl::SkipEmpty())) {
    const std::string candidate = absl::StrCat(dir, "/", name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

int RunProgram(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid;
  const int error = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    std::fprintf(stderr, "cannot run %s: %s\n", argv[0].c_str(), std::strerror(error));
    return -1;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (!WIFEXITED(status)) {
    std::fprintf(stderr, "%s was killed by signal %d\n", argv[0].c_str(), WTERMSIG(status));
    return -1;
  }
  if (WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "%s exited with status %d\n", absl::StrJoin(argv, " ").c_str(),
                 WEXITSTATUS(status));
  }
  return WEXITSTATUS(status);
}

int RunShell(const std::string& script, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/bin/sh", "-c", script, "sh"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProgram(argv);
}

void StageFile(const std::string& path, const std::string& contents) {
  WriteInPlace(path, contents);
}

bool VimSave(const std::string& vim, const std::string& path, const std::string& source,
             const std::string& backupcopy) {
  // -u NONE -i NONE: no vimrc, no viminfo; -N: Vim defaults; -es: silent Ex
  // mode, no terminal. The swap file is made as usual.
  return RunProgram({vim, "-u", "NONE", "-i", "NONE", "-N", "-es", "-c", "set backupskip=", "-c",
                     "set backupcopy=" + backupcopy, "-c", "%d_", "-c", "0r " + source, "-c", "wq",
                     path}) == 0;
}

void EmacsSave(const std::string& path, const std::string& contents, bool first_save) {
  const std::string dir = path.substr(0, path.rfind('/'));
  const std::string name = path.substr(path.rfind('/') + 1);
  const std::string lock = Join(dir, ".#" + name);
  SetupOrDie(
      ::symlink(absl::StrCat("user@host.", ::getpid(), ":1700000000").c_str(), lock.c_str()) == 0,
      "symlink " + lock);
  struct stat original;
  const bool existed = ::stat(path.c_str(), &original) == 0;
  if (first_save && existed) {
    SetupOrDie(::rename(path.c_str(), (path + "~").c_str()) == 0, "rename to backup " + path);
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  SetupOrDie(fd >= 0, "open " + path);
  // Emacs writes the buffer in chunks of 16 KiB.
  for (std::size_t offset = 0; offset < contents.size(); offset += 16384) {
    WriteAll(fd, contents.substr(offset, 16384), path);
  }
  SetupOrDie(::fsync(fd) == 0, "fsync " + path);
  SetupOrDie(::close(fd) == 0, "close " + path);
  if (first_save && existed) {
    SetupOrDie(::chmod(path.c_str(), original.st_mode & 07777) == 0, "chmod " + path);
  }
  SetupOrDie(::unlink(lock.c_str()) == 0, "unlink " + lock);
}

void AtomicWriter::Write(const std::map<std::string, std::string>& payload) {
  const std::string data = Join(dir_, "..data");
  // (1) The current timestamped directory.
  std::string old_ts;
  if (!ReadLink(data, &old_ts)) {
    SetupOrDie(errno == ENOENT, "readlink " + data);
    old_ts.clear();
  }
  // (2) What to remove, and whether anything changed.
  std::set<std::string> to_remove;
  if (!old_ts.empty()) {
    bool changed = false;
    for (const std::string& name : ListDirectory(Join(dir_, old_ts))) {
      if (payload.count(name) == 0) to_remove.insert(name);
    }
    for (const auto& [name, contents] : payload) {
      struct stat st;
      if (::lstat(Join(Join(dir_, old_ts), name).c_str(), &st) != 0 ||
          ReadWholeFile(Join(Join(dir_, old_ts), name)) != contents) {
        changed = true;
      }
    }
    if (!changed && to_remove.empty()) return;
  }
  // (3) A new timestamped directory holding the payload.
  const std::time_t now = std::time(nullptr);
  struct tm utc;
  ::gmtime_r(&now, &utc);
  char stamp[64];
  std::strftime(stamp, sizeof(stamp), "..%Y_%m_%d_%H_%M_%S.", &utc);
  std::string ts_path = Join(dir_, std::string(stamp) + "XXXXXX");
  SetupOrDie(::mkdtemp(ts_path.data()) != nullptr, "mkdtemp " + ts_path);
  SetupOrDie(::chmod(ts_path.c_str(), 0755) == 0, "chmod " + ts_path);
  const std::string ts_name = ts_path.substr(ts_path.rfind('/') + 1);
  for (const auto& [name, contents] : payload) {
    const std::string file = Join(ts_path, name);
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    SetupOrDie(fd >= 0, "open " + file);
    WriteAll(fd, contents, file);
    SetupOrDie(::close(fd) == 0, "close " + file);
    SetupOrDie(::chmod(file.c_str(), 0644) == 0, "chmod " + file);
  }
  // (4) Swap `..data` atomically.
  const std::string data_tmp = Join(dir_, "..data_tmp");
  SetupOrDie(::symlink(ts_name.c_str(), data_tmp.c_str()) == 0, "symlink " + data_tmp);
  SetupOrDie(::rename(data_tmp.c_str(), data.c_str()) == 0, "rename " + data_tmp);
  // (5) User-visible symlinks for new keys.
  for (const auto& [name, contents] : payload) {
    std::string target;
    const std::string visible = Join(dir_, name);
    if (!ReadLink(visible, &target) && errno == ENOENT) {
      SetupOrDie(::symlink(("..data/" + name).c_str(), visible.c_str()) == 0, "symlink " + visible);
    }
  }
  // (6) User-visible symlinks of removed keys.
  for (const std::string& name : to_remove) {
    SetupOrDie(::unlink(Join(dir_, name).c_str()) == 0, "unlink " + name);
  }
  // (7) The old timestamped directory.
  if (!old_ts.empty()) RemoveTree(Join(dir_, old_ts));
}

}  // namespace rcu_test
