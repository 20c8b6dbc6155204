// Internal: reading a config file safely, and the identity that polling
// compares. Part of rcu::ConfigWatcher (containers/config/config_watcher.h).
#ifndef CONTAINERS_CONFIG_INTERNAL_WATCH_FILE_H_
#define CONTAINERS_CONFIG_INTERNAL_WATCH_FILE_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rcu {
namespace internal {

// What stat() says about a file. Polling compares it between ticks: an
// in-place write changes size or mtime (and always ctime), a rename or
// delete+recreate changes the inode, a symlink swap changes dev/inode.
struct FileIdentity {
  dev_t device = 0;
  ino_t inode = 0;
  std::int64_t size = -1;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  // errno of a failed stat() (0 if it succeeded), so that "still missing"
  // and "appeared" are told apart.
  int error = 0;

  friend bool operator==(const FileIdentity& a, const FileIdentity& b) {
    return a.device == b.device && a.inode == b.inode && a.size == b.size &&
           a.mtime_ns == b.mtime_ns && a.ctime_ns == b.ctime_ns && a.error == b.error;
  }
  friend bool operator!=(const FileIdentity& a, const FileIdentity& b) { return !(a == b); }
};

// stat(2) of `path`, following symlinks. Never fails: a failure is recorded
// in `error`.
FileIdentity StatPath(const std::string& path);

// A file's bytes and the identity they were read under.
struct FileContents {
  std::string bytes;
  FileIdentity identity;
  std::uint64_t hash = 0;  // ContentHash(bytes)
};

// A 64-bit hash of the bytes, stable within the process.
std::uint64_t ContentHash(absl::string_view bytes);

// Reads `path` (following symlinks) in full. Errors, each naming the path as
// "config file <path>: ...":
//  - the errno of open/read, mapped to a status code (NotFound,
//    PermissionDenied, ...);
//  - FailedPrecondition if it is not a regular file (a directory, FIFO,
//    socket or device: a FIFO would block and a device may never end);
//  - ResourceExhausted if it is larger than `max_size` bytes;
//  - Unavailable with "changed while being read" if its size, mtime or ctime
//    changed during the read (a writer is still at work): retry later.
// If `opened` is not null, it is set to whether the file was opened (and so
// an IN_OPEN reported).
absl::StatusOr<FileContents> ReadFileLimited(const std::string& path, std::size_t max_size,
                                             bool* opened = nullptr);

// The Unavailable status ReadFileLimited returns when the file changed while
// being read, and the test for it (by a payload, not by the message).
absl::Status ChangedWhileReadingError(const std::string& path);
bool IsChangedWhileReading(const absl::Status& status);

// A status with the code that matches `error` (an errno value) and
// `message` as is (absl::ErrnoToStatus would append strerror again).
absl::Status ErrnoStatus(int error, absl::string_view message);

// "config file <path>: <message>", keeping `status`'s code.
absl::Status AnnotateWithPath(const absl::Status& status, const std::string& path);

}  // namespace internal
}  // namespace rcu

#endif  // CONTAINERS_CONFIG_INTERNAL_WATCH_FILE_H_
