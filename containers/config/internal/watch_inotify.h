// Internal: inotify watches on the directories of a WatchSet, and what their
// events mean for a config watcher. Part of rcu::ConfigWatcher
// (containers/config/config_watcher.h).
//
// Directories are watched, never the file itself: an editor that saves by
// renaming a temporary file over the original leaves a watch on the file
// following the old inode. Every directory on the way to the file is
// watched for its entry on the way (watch_paths.h); the file's own
// directory also for writes. Events:
//   IN_MODIFY        a write or truncate: a writer is at work on the file
//                    (tracked: nothing is read until it closes the file);
//   IN_CLOSE_WRITE   the writer closed it: its content is complete;
//   IN_OPEN, IN_CLOSE_NOWRITE
//                    opened, closed: an open with O_TRUNC is reported
//                    before the truncation (whose IN_MODIFY may come much
//                    later if the opener is preempted), so a file opened and
//                    not yet closed may be changing (tracked, not reloaded);
//   IN_MOVED_TO/FROM a rename over the file, of a directory or symlink on
//                    the way (a release swap, a Kubernetes `..data` swap);
//   IN_CREATE        recreated after a delete, a new symlink or directory;
//   IN_DELETE        deleted;
//   IN_ATTRIB        permissions changed: on the file, on a directory on
//                    the way (named in its parent), or on a watched
//                    directory itself (nameless), which may make the file
//                    readable again;
//   IN_DELETE_SELF, IN_MOVE_SELF, IN_UNMOUNT, IN_IGNORED
//                    the directory's watch is gone or follows the wrong
//                    place: re-resolve and re-add;
//   IN_Q_OVERFLOW    the kernel dropped events: rescan.
// IN_EXCL_UNLINK keeps writes to a replaced (unlinked) file from counting.
#ifndef CONTAINERS_CONFIG_INTERNAL_WATCH_INOTIFY_H_
#define CONTAINERS_CONFIG_INTERNAL_WATCH_INOTIFY_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "containers/config/internal/watch_paths.h"

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

// The mask a directory is watched with: the file's own directory also for
// writes, the others for their entries only.
std::uint32_t DirectoryWatchMask(bool file_directory);

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

  // Makes the watched directories exactly those of `set`: a directory
  // whose path now leads to another directory (a renamed ancestor) is
  // watched afresh. Returns the first error (naming the directory) if some
  // could not be watched: missing, unreadable, or the per-user watch limit
  // (ENOSPC) reached. The others stay watched.
  absl::Status Sync(const WatchSet& set);

  // Reads every pending event and classifies it; tracks the file's writer.
  EventEffects ReadEvents();

  // The directories watched now.
  std::vector<std::string> WatchedDirectories() const;

  // Whether the file's events say a writer is at work on it: it was written
  // to (IN_MODIFY), or created empty, and not yet closed after writing
  // (IN_CLOSE_WRITE) nor replaced. Reset by Sync() when the file's place
  // changes, and by ForgetWriter().
  bool writer_active() const { return writer_active_; }
  void ForgetWriter() { writer_active_ = false; }
  // Whether that writer's last write came with no open of the file seen
  // since its last close: a truncate(2) by path (which no close follows),
  // or a writer that opened the file before it was watched. The watcher
  // lets such a writer go after the debounce delay of silence.
  bool writer_unopened() const { return writer_active_ && writer_unopened_; }
  // How many writes and closes-after-writing of the file were seen so far:
  // if it moved across a read, the file was written meanwhile.
  std::uint64_t file_write_events() const { return file_write_events_; }
  // Opens of the file by other processes that may still be open for
  // writing: each IN_OPEN not expected as the watcher's own counts one, each
  // IN_CLOSE_NOWRITE not its own (a read-only opener, which changes nothing)
  // takes one back, and IN_CLOSE_WRITE or another file under the name clears
  // them. Best effort: two identical events in a row make one, so an open
  // right next to the watcher's own can be missed.
  int foreign_opens() const { return foreign_opens_; }
  // Moves with every foreign open counted.
  std::uint64_t foreign_open_events() const { return foreign_open_events_; }
  // The watcher is about to open the file (and close it after reading):
  // its IN_OPEN and IN_CLOSE_NOWRITE are not counted. Cancel if the open
  // failed (no events come).
  void ExpectOwnRead() {
    ++own_opens_;
    ++own_closes_;
  }
  void CancelOwnRead() {
    --own_opens_;
    --own_closes_;
  }
  // Moves on every event that names the file, and whenever watching the
  // file's directory (re)starts: a change to the file made before the
  // moment this last moved has been reported.
  std::uint64_t file_epoch() const { return file_epoch_; }
  // Whether the file's directory is watched (so that its writers are seen).
  bool watching_file_directory() const;

 private:
  explicit Inotify(int fd) : fd_(fd) {}

  struct Watch {
    int wd = -1;
    DirectoryId id;  // what the path led to when the watch was added
    std::uint32_t mask = 0;
  };

  void TrackWriter(std::uint32_t mask, const std::string& dir, absl::string_view name);

  const int fd_;
  std::map<int, std::string> dir_by_wd_;
  std::map<std::string, Watch> watch_by_dir_;
  std::map<std::string, std::set<std::string>> names_;  // from the last Sync()
  std::string target_directory_;                        // from the last Sync()
  std::string target_name_;
  bool writer_active_ = false;
  bool writer_unopened_ = false;  // see writer_unopened()
  std::uint64_t file_write_events_ = 0;
  std::uint64_t file_epoch_ = 0;
  int foreign_opens_ = 0;
  std::uint64_t foreign_open_events_ = 0;
  int own_opens_ = 0;   // expected IN_OPEN of the watcher's own reads
  int own_closes_ = 0;  // expected IN_CLOSE_NOWRITE of the same
};

}  // namespace internal
}  // namespace rcu

#endif  // CONTAINERS_CONFIG_INTERNAL_WATCH_INOTIFY_H_
