// inotify watches on config directories, and event classification.
#include "containers/config/internal/watch_inotify.h"

#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "containers/config/internal/watch_file.h"

namespace rcu {
namespace internal {

std::uint32_t DirectoryWatchMask(bool file_directory) {
  const std::uint32_t path_mask = IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB |
                                  IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK;
  return file_directory ? path_mask | IN_MODIFY | IN_CLOSE_WRITE | IN_OPEN | IN_CLOSE_NOWRITE
                        : path_mask;
}

EventEffects ClassifyEvent(std::uint32_t mask, absl::string_view name,
                           const std::set<std::string>* names) {
  EventEffects effects;
  if (mask & IN_Q_OVERFLOW) {
    effects.overflow = effects.reload = effects.rewatch = true;
    return effects;
  }
  if (names == nullptr) return effects;  // a watch we already removed
  if (mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED)) {
    // Everything under the directory may have changed with it.
    effects.reload = effects.rewatch = true;
    return effects;
  }
  if (name.empty()) {
    // The watched directory's own attributes: its permissions may have
    // been given back, so the path may resolve and the file read again.
    if (mask & IN_ATTRIB) effects.reload = effects.rewatch = true;
    return effects;
  }
  if (names->count(std::string(name)) > 0) {
    // Opening and reading change nothing (they are tracked for writers).
    if ((mask & (IN_OPEN | IN_CLOSE_NOWRITE)) &&
        !(mask & ~(IN_OPEN | IN_CLOSE_NOWRITE | IN_ISDIR))) {
      return effects;
    }
    effects.reload = true;
    // A renamed, created or deleted entry may be a directory or symlink on
    // the way; a directory's permissions decide whether resolution can go
    // on: the directories to watch may change.
    if ((mask & (IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE)) ||
        ((mask & IN_ATTRIB) && (mask & IN_ISDIR))) {
      effects.rewatch = true;
    }
  }
  return effects;
}

absl::StatusOr<std::unique_ptr<Inotify>> Inotify::Create() {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    return ErrnoStatus(
        error, absl::StrCat("inotify unavailable (", std::strerror(error),
                            error == EMFILE ? ": the per-user limit of inotify instances is "
                                              "reached, see /proc/sys/fs/inotify/max_user_instances"
                                            : "",
                            "); polling instead"));
  }
  return std::unique_ptr<Inotify>(new Inotify(fd));
}

Inotify::~Inotify() { ::close(fd_); }

absl::Status Inotify::Sync(const WatchSet& set) {
  names_ = set.entries;
  if (set.target_directory != target_directory_ || set.target_name != target_name_) {
    writer_active_ = false;  // another file now; its writer is unknown
    foreign_opens_ = own_opens_ = own_closes_ = 0;
    ++file_epoch_;
  }
  target_directory_ = set.target_directory;
  target_name_ = set.target_name;
  // Drop directories no longer needed, and those whose path now leads to
  // another directory (an ancestor renamed and replaced). The kernel then
  // queues IN_IGNORED for them, which ClassifyEvent() ignores since the
  // descriptor is no longer ours.
  for (auto it = watch_by_dir_.begin(); it != watch_by_dir_.end();) {
    auto id = set.ids.find(it->first);
    if (set.entries.count(it->first) == 0 || (id != set.ids.end() && id->second != it->second.id)) {
      ::inotify_rm_watch(fd_, it->second.wd);
      dir_by_wd_.erase(it->second.wd);
      it = watch_by_dir_.erase(it);
    } else {
      ++it;
    }
  }
  absl::Status first_error;
  for (const auto& [dir, names] : set.entries) {
    const std::uint32_t mask = DirectoryWatchMask(dir == set.target_directory);
    auto watched = watch_by_dir_.find(dir);
    if (watched != watch_by_dir_.end() && watched->second.mask == mask) continue;
    // For a directory already watched, this replaces the mask.
    const int wd = ::inotify_add_watch(fd_, dir.c_str(), mask);
    if (wd < 0) {
      const int error = errno;
      if (first_error.ok()) {
        first_error = ErrnoStatus(
            error, absl::StrCat("cannot watch directory ", dir, ": ", std::strerror(error),
                                error == ENOSPC ? " (inotify watch limit reached, see "
                                                  "/proc/sys/fs/inotify/max_user_watches)"
                                                : ""));
      }
      continue;
    }
    // Two paths can reach one directory (bind mounts); the kernel then hands
    // back the same descriptor, and the newest path is the one kept.
    auto previous = dir_by_wd_.find(wd);
    if (previous != dir_by_wd_.end() && previous->second != dir) {
      watch_by_dir_.erase(previous->second);
    }
    dir_by_wd_[wd] = dir;
    if (dir == set.target_directory && watched == watch_by_dir_.end()) ++file_epoch_;
    Watch& watch = watch_by_dir_[dir];
    watch.wd = wd;
    watch.mask = mask;
    auto id = set.ids.find(dir);
    if (id != set.ids.end()) {
      watch.id = id->second;
    } else {
      struct stat st;
      if (::stat(dir.c_str(), &st) == 0) watch.id = DirectoryId{st.st_dev, st.st_ino};
    }
  }
  return first_error;
}

void Inotify::TrackWriter(std::uint32_t mask, const std::string& dir, absl::string_view name) {
  if (dir != target_directory_) return;
  if (name.empty()) {
    // The directory itself is gone or moved: whatever wrote in it, the
    // file's place must be resolved again.
    if (mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED)) writer_active_ = false;
    return;
  }
  if (name != target_name_) return;
  if (mask & IN_OPEN) {
    if (own_opens_ > 0) {
      --own_opens_;
    } else {
      ++foreign_opens_;
      ++foreign_open_events_;
    }
  }
  if (mask & IN_CLOSE_NOWRITE) {
    if (own_closes_ > 0) {
      --own_closes_;
    } else if (foreign_opens_ > 0) {
      --foreign_opens_;  // a reader, done
    }
  }
  if (mask & IN_CLOSE_WRITE) foreign_opens_ = 0;    // the writer, done
  if (mask & (IN_OPEN | IN_CLOSE_NOWRITE)) return;  // nothing changed
  ++file_epoch_;
  if (mask & IN_MODIFY) {
    writer_active_ = true;
    writer_unopened_ = foreign_opens_ == 0;
    ++file_write_events_;
  }
  if (mask & IN_CLOSE_WRITE) {
    writer_active_ = false;
    ++file_write_events_;
  }
  if (mask & IN_CREATE) {
    // Created by open(O_CREAT) and still empty: its creator holds it open
    // and is likely about to write (`render > f` before the first output).
    // Anything else (a symlink, a hard link, a file already written) is
    // not a writer at work; later writes say so themselves.
    struct stat st;
    const std::string path = dir + "/" + std::string(name);
    writer_active_ = ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0;
    writer_unopened_ = false;  // its creator opened it: wait for its close
  }
  if (mask & (IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE)) {
    writer_active_ = false;  // another file, or none, under the name
    foreign_opens_ = 0;
  }
}

EventEffects Inotify::ReadEvents() {
  EventEffects effects;
  alignas(struct inotify_event) char buffer[16 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd_, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // EAGAIN: drained
    }
    if (n == 0) break;
    for (ssize_t offset = 0; offset < n;) {
      struct inotify_event event;
      std::memcpy(&event, buffer + offset, sizeof(event));
      const char* name_start = buffer + offset + sizeof(event);
      const absl::string_view name =
          event.len > 0 ? absl::string_view(name_start, ::strnlen(name_start, event.len))
                        : absl::string_view();
      offset += static_cast<ssize_t>(sizeof(event) + event.len);

      const std::set<std::string>* names = nullptr;
      auto dir = dir_by_wd_.find(event.wd);
      if (dir != dir_by_wd_.end()) {
        auto found = names_.find(dir->second);
        static const std::set<std::string> kNone;
        names = found != names_.end() ? &found->second : &kNone;
        TrackWriter(event.mask, dir->second, name);
      }
      if (event.mask & IN_Q_OVERFLOW) writer_active_ = false;  // unknown: rescan decides
      effects |= ClassifyEvent(event.mask, name, names);

      if (dir != dir_by_wd_.end() &&
          (event.mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT))) {
        // The watch is gone, or follows a directory that moved away from
        // the path: forget it so that the next Sync() adds it afresh.
        if (!(event.mask & IN_IGNORED)) ::inotify_rm_watch(fd_, event.wd);
        watch_by_dir_.erase(dir->second);
        dir_by_wd_.erase(dir);
      }
    }
  }
  return effects;
}

bool Inotify::watching_file_directory() const {
  return !target_directory_.empty() && watch_by_dir_.count(target_directory_) > 0;
}

std::vector<std::string> Inotify::WatchedDirectories() const {
  std::vector<std::string> dirs;
  for (const auto& [dir, watch] : watch_by_dir_) dirs.push_back(dir);
  return dirs;
}

}  // namespace internal
}  // namespace rcu
