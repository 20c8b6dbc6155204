// Resolving a config path into the directories and entries to watch.
#include "containers/config/internal/watch_paths.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <deque>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace rcu {
namespace internal {
namespace {

constexpr int kMaxSymlinks = 40;  // the kernel's MAXSYMLINKS

std::string Join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

std::string Parent(const std::string& dir) {
  const std::string::size_type slash = dir.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : dir.substr(0, slash);
}

std::string Base(const std::string& dir) {
  const std::string::size_type slash = dir.rfind('/');
  return slash == std::string::npos ? dir : dir.substr(slash + 1);
}

std::vector<std::string> Components(const std::string& path) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (part != ".") out.emplace_back(part);
  }
  return out;
}

bool ReadLink(const std::string& path, std::string* target) {
  std::string buffer(PATH_MAX, '\0');
  const ssize_t n = ::readlink(path.c_str(), buffer.data(), buffer.size());
  if (n < 0) return false;
  if (static_cast<std::size_t>(n) == buffer.size()) {
    errno = ENAMETOOLONG;
    return false;
  }
  buffer.resize(static_cast<std::size_t>(n));
  *target = std::move(buffer);
  return true;
}

}  // namespace

std::string MakeAbsolute(const std::string& path) {
  std::string base;
  if (path.empty() || path[0] != '/') {
    std::string cwd(PATH_MAX, '\0');
    if (::getcwd(cwd.data(), cwd.size()) != nullptr) base = cwd.c_str();
  }
  const std::vector<std::string> parts = Components(base + "/" + path);
  return "/" + absl::StrJoin(parts, "/");
}

WatchSet ResolveWatchSet(const std::string& absolute_path) {
  WatchSet set;
  std::deque<std::string> pending;
  for (std::string& part : Components(absolute_path)) pending.push_back(std::move(part));
  std::string dir = "/";  // resolved so far: a real directory
  auto record_directory = [&set](const std::string& path, const struct stat& st) {
    set.ids[path] = DirectoryId{st.st_dev, st.st_ino};
  };
  struct stat st;
  if (::stat("/", &st) == 0) record_directory("/", st);
  int symlinks = 0;
  while (!pending.empty()) {
    const std::string name = std::move(pending.front());
    pending.pop_front();
    if (name == "..") {
      dir = Parent(dir);
      continue;
    }
    const std::string full = Join(dir, name);
    const bool last = pending.empty();
    // Every lookup matters: renaming, replacing or deleting this entry
    // changes what the path leads to.
    set.entries[dir].insert(name);
    if (last) {
      set.target_directory = dir;
      set.target_name = name;
    }
    if (::lstat(full.c_str(), &st) != 0) {
      set.error = errno;
      return set;  // its creation is watched for
    }
    if (S_ISLNK(st.st_mode)) {
      set.target_directory.clear();
      set.target_name.clear();
      std::string target;
      if (++symlinks > kMaxSymlinks) {
        set.error = ELOOP;
        return set;
      }
      if (!ReadLink(full, &target)) {
        set.error = errno;
        return set;
      }
      const std::vector<std::string> parts = Components(target);
      pending.insert(pending.begin(), parts.begin(), parts.end());
      if (!target.empty() && target[0] == '/') dir = "/";
      continue;
    }
    if (last) {
      set.resolved_path = full;
      return set;
    }
    if (!S_ISDIR(st.st_mode)) {
      set.error = ENOTDIR;
      return set;
    }
    dir = full;
    record_directory(dir, st);
  }
  // The path ended in ".." or named "/": it resolves to a directory, whose
  // entry is watched in its parent; reading it fails with a clear error.
  set.resolved_path = dir;
  if (dir != "/") {
    set.entries[Parent(dir)].insert(Base(dir));
    set.target_directory = Parent(dir);
    set.target_name = Base(dir);
  }
  return set;
}

}  // namespace internal
}  // namespace rcu
