// Reading config files with a size limit, and their identity for polling.
#include "containers/config/internal/watch_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace rcu {
namespace internal {
namespace {

// Marks ReadFileLimited's "changed while being read" status, so that it is
// recognized by its payload rather than by its text (which holds the path).
constexpr absl::string_view kChangedWhileReadingPayload =
    "type.googleapis.com/rcu_containers.ChangedWhileReading";

std::int64_t Nanoseconds(const struct timespec& ts) {
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

FileIdentity IdentityOf(const struct stat& st) {
  FileIdentity id;
  id.device = st.st_dev;
  id.inode = st.st_ino;
  id.size = static_cast<std::int64_t>(st.st_size);
  id.mtime_ns = Nanoseconds(st.st_mtim);
  id.ctime_ns = Nanoseconds(st.st_ctim);
  return id;
}

std::string Prefix(const std::string& path) { return absl::StrCat("config file ", path, ": "); }

absl::Status ErrnoError(int error, const std::string& path, absl::string_view what) {
  return absl::ErrnoToStatus(error, absl::StrCat(Prefix(path), what));  // appends strerror
}

const char* FileTypeName(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

// Closes a descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

FileIdentity StatPath(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    FileIdentity id;
    id.error = errno;
    return id;
  }
  return IdentityOf(st);
}

std::uint64_t ContentHash(absl::string_view bytes) {
  return absl::Hash<absl::string_view>()(bytes);
}

absl::StatusOr<FileContents> ReadFileLimited(const std::string& path, std::size_t max_size,
                                             bool* opened) {
  if (opened != nullptr) *opened = false;
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is rejected
  // below. O_NOCTTY: a terminal device must not become ours.
  int raw;
  do {
    raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  } while (raw < 0 && errno == EINTR);
  if (raw < 0) return ErrnoError(errno, path, "cannot open");
  if (opened != nullptr) *opened = true;
  Fd fd(raw);

  struct stat before;
  if (::fstat(fd.get(), &before) != 0) return ErrnoError(errno, path, "cannot stat");
  if (!S_ISREG(before.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(Prefix(path), "is ", FileTypeName(before.st_mode), ", not a regular file"));
  }
  auto over_limit = [&](std::int64_t size) {
    return absl::ResourceExhaustedError(absl::StrCat(Prefix(path), "is ", size,
                                                     " bytes, over the size limit of ", max_size,
                                                     " bytes (WatchOptions::max_file_size)"));
  };
  if (static_cast<std::uint64_t>(before.st_size) > max_size) return over_limit(before.st_size);

  FileContents contents;
  // Read until EOF, up to one byte past the limit to catch a file that grew.
  std::string& bytes = contents.bytes;
  bytes.resize(static_cast<std::size_t>(before.st_size) + 1);
  std::size_t used = 0;
  for (;;) {
    if (used == bytes.size()) {
      if (used > max_size) return over_limit(static_cast<std::int64_t>(used));
      bytes.resize(std::min(max_size + 1, bytes.size() * 2 + 4096));
    }
    const ssize_t n = ::read(fd.get(), bytes.data() + used, bytes.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, path, "cannot read");
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  if (used > max_size) return over_limit(static_cast<std::int64_t>(used));
  bytes.resize(used);

  struct stat after;
  if (::fstat(fd.get(), &after) != 0) return ErrnoError(errno, path, "cannot stat");
  // A short or long read of a file whose size did not change means it was
  // truncated and rewritten meanwhile. (Files that report size 0, as in
  // /proc, are taken as read.) ctime too: a writer that restores mtime
  // (rsync -t, cp -p) cannot restore it.
  if (after.st_size != before.st_size ||
      Nanoseconds(after.st_mtim) != Nanoseconds(before.st_mtim) ||
      Nanoseconds(after.st_ctim) != Nanoseconds(before.st_ctim) ||
      (before.st_size > 0 && static_cast<std::int64_t>(used) != after.st_size)) {
    return ChangedWhileReadingError(path);
  }
  contents.identity = IdentityOf(after);
  contents.hash = ContentHash(bytes);
  return contents;
}

absl::Status ErrnoStatus(int error, absl::string_view message) {
  return absl::Status(absl::ErrnoToStatusCode(error), message);
}

absl::Status ChangedWhileReadingError(const std::string& path) {
  absl::Status status =
      absl::UnavailableError(absl::StrCat(Prefix(path), "changed while being read"));
  status.SetPayload(kChangedWhileReadingPayload, absl::Cord());
  return status;
}

bool IsChangedWhileReading(const absl::Status& status) {
  return status.GetPayload(kChangedWhileReadingPayload).has_value();
}

absl::Status AnnotateWithPath(const absl::Status& status, const std::string& path) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(Prefix(path), status.message()));
}

}  // namespace internal
}  // namespace rcu
