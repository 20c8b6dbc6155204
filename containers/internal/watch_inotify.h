// Internal: inotify watches on the directories of a WatchSet, and what their
// events mean for a config watcher. Part of rcu::ConfigWatcher
// (containers/config_watcher.h).
//
// Directories are watched, never the file itself: an editor that saves by
// renaming a temporary file over the original leaves a watch on the file
// following the old inode. Events per directory:
//   IN_CLOSE_WRITE   a writer finished an in-place write;
//   IN_MODIFY        a write or truncate(2) (every write restarts the
//                    debounce delay, so a writer is read once it pauses);
//   IN_MOVED_TO/FROM a rename over the file, or a Kubernetes `..data` swap;
//   IN_CREATE        recreated after a delete, or a new symlink;
//   IN_DELETE        deleted;
//   IN_ATTRIB        permissions changed (a file that was unreadable may now
//                    be readable), or a hard link count changed;
//   IN_DELETE_SELF, IN_MOVE_SELF, IN_UNMOUNT, IN_IGNORED
//                    the directory's watch is gone or follows the wrong
//                    place: re-resolve and re-add;
//   IN_Q_OVERFLOW    the kernel dropped events: rescan.
#ifndef CONTAINERS_INTERNAL_WATCH_INOTIFY_H_
#define CONTAINERS_INTERNAL_WATCH_INOTIFY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "containers/internal/watch_paths.h"

namespace rcu {
namespace internal {

// What a batch of events asks the watcher to do.
struct EventEffects {
  bool reload = false;    // something that matters changed: reload (debounced)
  bool rewatch = false;   // a directory watch is gone or stale: re-resolve
  bool overflow = false;  // events were lost: rescan everything

  EventEffects& operator|=(const EventEffects& other) {
    reload |= other.reload;
    rewatch |= other.rewatch;
    overflow |= other.overflow;
    return *this;
  }
};

// The mask every directory is watched with.
std::uint32_t DirectoryWatchMask();

// What one event means. `names` are the entries that matter in the event's
// directory, or nullptr if its watch descriptor is not (any more) ours.
// Separate from the reading so that tests can feed it any event, including
// an overflow, which cannot be provoked reliably.
EventEffects ClassifyEvent(std::uint32_t mask, absl::string_view name,
                           const std::set<std::string>* names);

class Inotify {
 public:
  // An inotify instance (non-blocking, close-on-exec). Fails when inotify is
  // unavailable (ENOSYS) or the per-user instance limit is reached (EMFILE).
  static absl::StatusOr<std::unique_ptr<Inotify>> Create();
  ~Inotify();

  Inotify(const Inotify&) = delete;
  Inotify& operator=(const Inotify&) = delete;

  // The descriptor to poll for readability.
  int fd() const { return fd_; }

  // Makes the watched directories exactly those of `set`. Returns the first
  // error (naming the directory) if some could not be watched: missing,
  // unreadable, or the per-user watch limit (ENOSPC) reached. The others stay
  // watched.
  absl::Status Sync(const WatchSet& set);

  // Reads every pending event and classifies it.
  EventEffects ReadEvents();

  // The directories watched now.
  std::vector<std::string> WatchedDirectories() const;

 private:
  explicit Inotify(int fd) : fd_(fd) {}

  const int fd_;
  std::map<int, std::string> dir_by_wd_;
  std::map<std::string, int> wd_by_dir_;
  std::map<std::string, std::set<std::string>> names_;  // from the last Sync()
};

}  // namespace internal
}  // namespace rcu

#endif  // CONTAINERS_INTERNAL_WATCH_INOTIFY_H_
