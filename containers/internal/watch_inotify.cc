// inotify watches on config directories, and event classification.
#include "containers/internal/watch_inotify.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "containers/internal/watch_file.h"

namespace rcu {
namespace internal {

std::uint32_t DirectoryWatchMask() {
  return IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB |
         IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
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
  if (!name.empty() && names->count(std::string(name)) > 0) {
    effects.reload = true;
    // A renamed, created or deleted entry may be a symlink on the way (a
    // `..data` swap): the directories to watch may change.
    if (mask & (IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE)) effects.rewatch = true;
  }
  return effects;
}

absl::StatusOr<std::unique_ptr<Inotify>> Inotify::Create() {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    return ErrnoStatus(error, absl::StrCat("inotify unavailable (", std::strerror(error),
                                                   "); polling instead"));
  }
  return std::unique_ptr<Inotify>(new Inotify(fd));
}

Inotify::~Inotify() { ::close(fd_); }

absl::Status Inotify::Sync(const WatchSet& set) {
  names_ = set.entries;
  // Drop directories no longer needed. The kernel then queues IN_IGNORED for
  // them, which ClassifyEvent() ignores since the descriptor is no longer
  // ours.
  for (auto it = wd_by_dir_.begin(); it != wd_by_dir_.end();) {
    if (set.entries.count(it->first) == 0) {
      ::inotify_rm_watch(fd_, it->second);
      dir_by_wd_.erase(it->second);
      it = wd_by_dir_.erase(it);
    } else {
      ++it;
    }
  }
  absl::Status first_error;
  for (const auto& [dir, names] : set.entries) {
    if (wd_by_dir_.count(dir) > 0) continue;
    const int wd = ::inotify_add_watch(fd_, dir.c_str(), DirectoryWatchMask());
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
    if (previous != dir_by_wd_.end()) wd_by_dir_.erase(previous->second);
    dir_by_wd_[wd] = dir;
    wd_by_dir_[dir] = wd;
  }
  return first_error;
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
      }
      effects |= ClassifyEvent(event.mask, name, names);

      if (dir != dir_by_wd_.end() &&
          (event.mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT))) {
        // The watch is gone, or follows a directory that moved away from
        // the path: forget it so that the next Sync() adds it afresh.
        if (!(event.mask & IN_IGNORED)) ::inotify_rm_watch(fd_, event.wd);
        wd_by_dir_.erase(dir->second);
        dir_by_wd_.erase(dir);
      }
    }
  }
  return effects;
}

std::vector<std::string> Inotify::WatchedDirectories() const {
  std::vector<std::string> dirs;
  for (const auto& [dir, wd] : wd_by_dir_) dirs.push_back(dir);
  return dirs;
}

}  // namespace internal
}  // namespace rcu
