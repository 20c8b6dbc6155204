// Helpers for the config watcher tests: a private temporary directory,
// the ways programs and people change files (in place, rename over,
// Kubernetes `..data` swap), a recorder of reload results to wait on, and a
// way to be really denied permission while running as root.
#ifndef TESTS_CONFIG_WATCH_TEST_UTIL_H_
#define TESTS_CONFIG_WATCH_TEST_UTIL_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "containers/config/config_watcher_options.h"

namespace rcu_test {

// Generous: reached only when something is broken.
inline constexpr absl::Duration kTimeout = absl::Seconds(60);

// A fresh directory under $TEST_TMPDIR (or /tmp), removed with its contents
// on destruction.
class TempDir {
 public:
  TempDir();
  // A fresh directory under `base`.
  explicit TempDir(const std::string& base);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Join(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Aborts with `what` and errno's message unless `ok`: for test set-up steps
// that cannot fail on a working machine.
void SetupOrDie(bool ok, const std::string& what);
// Writes all of `contents` to `fd`, retrying short writes.
void WriteAll(int fd, const std::string& contents, const std::string& what);

// open(O_TRUNC) + write + close: an in-place write, as `echo > file` does.
void WriteInPlace(const std::string& path, const std::string& contents);
// Writes `<dir>/.<name>.tmp` and renames it over `path`, as editors and
// config management tools do.
void WriteAndRename(const std::string& path, const std::string& contents);
void MakeDirectory(const std::string& path);
// The whole file, or "" if it cannot be read.
std::string ReadWholeFile(const std::string& path);
void MakeSymlink(const std::string& target, const std::string& link);
void RemoveFile(const std::string& path);
void RemoveTree(const std::string& path);

// A Kubernetes ConfigMap volume in `dir`: `dir/<name>` -> `..data/<name>`,
// `..data` -> `..<generation>`, a directory holding the real files.
class ConfigMapVolume {
 public:
  ConfigMapVolume(std::string dir, std::string name, const std::string& contents);
  // What the kubelet does on an update: writes a new `..<generation>`
  // directory, points a `..data_tmp` symlink at it, renames that over
  // `..data`, and removes the old directory.
  void Update(const std::string& contents);
  std::string path() const { return dir_ + "/" + name_; }

 private:
  std::string dir_;
  std::string name_;
  int generation_ = 0;
};

// Records every ReloadResult passed to WatchOptions::on_reload, and lets a
// test wait for one that matches.
class ReloadLog {
 public:
  std::function<void(const rcu::ReloadResult&)> Listener();
  // Waits until some result recorded so far (including earlier ones) from
  // index `from` on satisfies `match`; returns its index, or -1 on timeout.
  int WaitFor(const std::function<bool(const rcu::ReloadResult&)>& match, int from = 0);
  int WaitForFailure(int from = 0) {
    return WaitFor([](const rcu::ReloadResult& r) { return !r.status.ok(); }, from);
  }
  std::vector<rcu::ReloadResult> results() const;
  int size() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<rcu::ReloadResult> results_;
};

// Runs `fn` on a new thread whose effective capabilities lack
// CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so that file permissions apply
// even to root. Threads that `fn` starts inherit that (capabilities are per
// thread in Linux and copied on clone). Returns false if the capabilities
// could not be dropped.
bool RunWithoutFilePermissionOverride(const std::function<void()>& fn);

// Waits until `condition` holds, checking it every few milliseconds, for at
// most `bound`. Returns whether it held. For conditions nothing signals
// (a counter in Status(), a flag set by another thread).
bool WaitUntil(const std::function<bool()>& condition, absl::Duration bound = kTimeout);

// True if the calling thread cannot open `path` for reading.
bool CannotRead(const std::string& path);

}  // namespace rcu_test

#endif  // TESTS_CONFIG_WATCH_TEST_UTIL_H_
