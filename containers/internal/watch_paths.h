// Internal: which directories to watch for a config path, and which entries
// in them matter. Part of rcu::ConfigWatcher (containers/config_watcher.h).
//
// A path is resolved one component at a time, as the kernel does, and every
// symlink met on the way is recorded: replacing any of them changes what the
// path leads to. For a Kubernetes ConfigMap volume,
//
//   /etc/app/config.json -> ..data/config.json
//   /etc/app/..data      -> ..2024_01_01_00_00_00.123
//
// the set is {/etc/app: {config.json, ..data},
//             /etc/app/..2024_01_01_00_00_00.123: {config.json}},
// so the swap of `..data` (IN_MOVED_TO "..data" in /etc/app) is seen, and so is
// an in-place write to the real file.
#ifndef CONTAINERS_INTERNAL_WATCH_PATHS_H_
#define CONTAINERS_INTERNAL_WATCH_PATHS_H_

#include <map>
#include <set>
#include <string>

namespace rcu {
namespace internal {

struct WatchSet {
  // Directory (absolute, free of symlinks) -> entry names in it that matter.
  std::map<std::string, std::set<std::string>> entries;
  // Where the path leads now, free of symlinks; empty if it does not resolve.
  std::string resolved_path;
  // errno where resolution stopped (ENOENT for a missing file or directory,
  // ELOOP, ENOTDIR, EACCES), or 0. The missing entry is still in `entries`,
  // so that its creation is seen.
  int error = 0;

  friend bool operator==(const WatchSet& a, const WatchSet& b) {
    return a.entries == b.entries && a.resolved_path == b.resolved_path && a.error == b.error;
  }
};

// Resolves `absolute_path` (see the file comment). Follows at most 40
// symlinks, like the kernel.
WatchSet ResolveWatchSet(const std::string& absolute_path);

// `path` made absolute against the current directory, with empty and "."
// components removed (".." is left for resolution: it follows symlinks).
std::string MakeAbsolute(const std::string& path);

}  // namespace internal
}  // namespace rcu

#endif  // CONTAINERS_INTERNAL_WATCH_PATHS_H_
