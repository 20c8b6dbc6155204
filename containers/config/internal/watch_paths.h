// Internal: which directories to watch for a config path, and which entries
// in them matter. Part of rcu::ConfigWatcher
// (containers/config/config_watcher.h).
//
// A path is resolved one component at a time, as the kernel does. Every
// directory passed through is recorded with the entry taken in it, and so is
// every symlink met on the way: renaming, replacing or deleting any of them
// changes what the path leads to. For /etc/app/conf.d/config.json that is
//
//   {/: {etc}, /etc: {app}, /etc/app: {conf.d}, /etc/app/conf.d: {config.json}}
//
// so that `mv /etc/app /etc/app.old` (IN_MOVED_FROM "app" in /etc) is seen.
// For a Kubernetes ConfigMap volume,
//
//   /etc/app/config.json -> ..data/config.json
//   /etc/app/..data      -> ..2024_01_01_00_00_00.123
//
// the set also holds {/etc/app: {config.json, ..data},
// /etc/app/..2024_01_01_00_00_00.123: {config.json}}, so the swap of `..data`
// (IN_MOVED_TO "..data" in /etc/app) is seen, and so is an in-place write to
// the real file.
//
// Directory names alone cannot tell a directory from the one that replaced
// it under the same name, so each directory's device and inode are recorded
// too.
#ifndef CONTAINERS_CONFIG_INTERNAL_WATCH_PATHS_H_
#define CONTAINERS_CONFIG_INTERNAL_WATCH_PATHS_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <sys/types.h>

#include <map>
#include <set>
#include <string>

namespace rcu {
namespace internal {

// A directory's identity.
struct DirectoryId {
  dev_t device = 0;
  ino_t inode = 0;
  friend bool operator==(const DirectoryId& a, const DirectoryId& b) {
    return a.device == b.device && a.inode == b.inode;
  }
  friend bool operator!=(const DirectoryId& a, const DirectoryId& b) { return !(a == b); }
};

struct WatchSet {
  // Directory (absolute, free of symlinks) -> entry names in it that matter.
  std::map<std::string, std::set<std::string>> entries;
  // The identity of each directory in `entries`, as resolution found it.
  std::map<std::string, DirectoryId> ids;
  // Where the path leads now, free of symlinks; empty if it does not resolve.
  std::string resolved_path;
  // The directory and name of the file itself (the last component, symlinks
  // followed), whether or not it exists; empty if resolution stopped before
  // it. Writers of the file are tracked by the events on this entry.
  std::string target_directory;
  std::string target_name;
  // errno where resolution stopped (ENOENT for a missing file or directory,
  // ELOOP, ENOTDIR, EACCES), or 0. The missing entry is still in `entries`,
  // so that its creation is seen.
  int error = 0;

  friend bool operator==(const WatchSet& a, const WatchSet& b) {
    return a.entries == b.entries && a.ids == b.ids && a.resolved_path == b.resolved_path &&
           a.target_directory == b.target_directory && a.target_name == b.target_name &&
           a.error == b.error;
  }
  friend bool operator!=(const WatchSet& a, const WatchSet& b) { return !(a == b); }
};

// Resolves `absolute_path` (see the file comment). Follows at most 40
// symlinks, like the kernel.
WatchSet ResolveWatchSet(const std::string& absolute_path);

// `path` made absolute against the current directory, with empty and "."
// components removed (".." is left for resolution: it follows symlinks).
std::string MakeAbsolute(const std::string& path);

}  // namespace internal
}  // namespace rcu

#endif  // CONTAINERS_CONFIG_INTERNAL_WATCH_PATHS_H_
