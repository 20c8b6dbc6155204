// containers/config/config_watcher.h: hot reload of a configuration file
// into an rcu::Snapshot<T> (containers/snapshot.h).
//
//   absl::StatusOr<Config> ParseConfig(std::string_view text);   // yours
//
//   rcu::ConfigWatcher<Config>::Options options;
//   options.validate = [](const Config& c) -> absl::Status {
//     if (c.port <= 0) return absl::InvalidArgumentError("port must be positive");
//     return absl::OkStatus();
//   };
//   absl::StatusOr<std::unique_ptr<rcu::ConfigWatcher<Config>>> watcher =
//       rcu::ConfigWatcher<Config>::Create("/etc/app/config", ParseConfig, options);
//   if (!watcher.ok()) return watcher.status();   // "config file /etc/app/config: ..."
//
//   void Serve() {                                 // any thread, never blocks
//     auto config = (*watcher)->Load();            // one consistent version
//     Use(config->port);
//   }
//
// For JSON and TOML files there are ready-made parsers and one-line set-ups:
// containers/config/json_config.h (nlohmann-json) and
// containers/config/toml_config.h (toml++). This header depends on neither.
//
// What it does. Create() loads the file once (failing, by default, if that
// fails) and starts one thread that watches with inotify and reloads after
// changes: in-place writes, editors that save by renaming a temporary file
// over the original, delete followed by re-create, Kubernetes ConfigMap
// volumes (whose `..data` symlink is swapped), symlinks re-pointed, and any
// directory on the way renamed, replaced or given new permissions (a
// release-directory swap: `mv /etc/app /etc/app.old; mkdir -p
// /etc/app/conf.d; ...`). Every directory from / to the file is watched for
// the entry on the way, and the directories of every symlink passed through;
// a directory replaced under the same name is watched afresh. Bursts of
// events are debounced (WatchOptions::debounce). Lost watches are re-added,
// a missing directory is waited for in its parent, and events lost to an
// inotify queue overflow trigger a rescan. Every poll_interval the path is
// resolved again and the file's identity checked, which catches what
// inotify never reports (a directory mounted over, a write through a hard
// link elsewhere or through mmap) within that time. Where inotify cannot be
// used (not available, the instance or watch limit reached, a directory it
// may not read, WatchOptions::force_polling), the watcher polls every
// WatchOptions::poll_interval instead, and goes back to inotify when it can.
// Polling compares inode, size, mtime and ctime, and hashes the content once
// more two seconds after each change, since coarse file system timestamps
// cannot tell two quick same-size writes apart. Status() says which and why.
//
// Each reload reads the whole file (up to WatchOptions::max_file_size),
// skips it if its content hashes the same as what is already published,
// rejects an empty file (unless WatchOptions::allow_empty_file), runs your
// parser (which returns absl::StatusOr<T>) and your validation hook, and
// only then publishes the result as the snapshot's next version. Nothing
// that fails to read, parse or validate is ever published: on such an error
// the snapshot keeps its current version, and the error is recorded in
// Status() (status, time, counters, last success time) and passed to
// WatchOptions::on_reload. The next change is tried again; content that
// already failed is not re-reported until it changes.
//
// Files being written. What is guaranteed, exactly:
//  - A file replaced by rename (editors, sed -i, rsync, config management,
//    Kubernetes) is always read whole: the rename is atomic.
//  - A file written in place is not read while inotify has seen it written
//    and not yet closed (IN_MODIFY without IN_CLOSE_WRITE), or created empty
//    and not yet closed, however slowly its writer goes: `render > f`, a
//    line-by-line writer, `rsync --inplace`. Once the writer closes it (or
//    stays silent for WatchOptions::open_writer_timeout, or truncated it by
//    path, which no close follows), it is read after the debounce delay,
//    and within WatchOptions::max_debounce of its first close even if it
//    is rewritten without pause.
//  - Every read is checked, and read again later if it fails: the file's
//    size, mtime and ctime must not change during the read; it must not
//    have changed in the last debounce delay (the kernel queues a write's
//    event only after the write took effect, and a writer can be held up
//    inside the system call, say by the file system's journal), unless it
//    has not rested for max_debounce; and, where
//    inotify watches it, no write may be seen during the read, it must be
//    as it was after the last event about it, and no other process may
//    hold it open since its last close after writing (IN_OPEN comes before
//    an O_TRUNC truncation takes effect). The last two wait at most a
//    second, counted from the first read they held back: for a change that
//    makes no event, or readers that keep the file open or keep opening
//    it.
//  - Not covered: a file written in place by two processes at once, through
//    a hard link in an unwatched directory or through mmap (no events: the
//    periodic check finds the change, but cannot tell a writer at work), one
//    whose writer began before the watcher saw the file (at start, or before
//    the path led to it) and pauses longer than the debounce delay (its
//    writes look like a truncate(2) by path, with no open seen), or whose
//    open inotify merged with another process's open that then closed, or, after an inotify queue
//    overflow, one whose writer's events were lost. And while polling: polling sees no writers,
//    only their traces, so a file is read once two polls a poll_interval apart find the same size,
//    mtime, ctime and inode and the read agrees; a writer that pauses longer than poll_interval
//    mid-file can be read half-written. Polled files should be replaced by rename.
// A half-written file that was read would, at worst, fail to parse or
// validate, or, with a lenient parser and no validation hook, be published
// until the complete file replaces it: a validation hook that checks what a
// complete file must have (a required last key, a version, a checksum) is
// the defense in depth.
//
// Reload() reloads now, in the calling thread, and returns what happened:
// call it from your SIGHUP handling (not from the signal handler itself) or
// an admin endpoint. It first resolves the path and its watches again (so a
// change that inotify could not report is watched from then on), and waits
// up to max_debounce for a writer at work on the file to close it (failing
// with Unavailable if it does not; the watcher loads the file when it is
// closed). Status() is cheap and thread-safe.
//
// Readers use Load() (or snapshot().Load()): see containers/snapshot.h.
// Subscribe to snapshot() to act on each new version.
//
// Stopping. Stop() or the destructor stops and joins the watcher thread;
// the snapshot stays readable. Both wait for a parse the thread is running
// to return: a parser that may take long can call rcu::ReloadStopRequested()
// now and then and return early (any error; it is not reported) once it is
// true. Stop() may be called from any thread, by several at once: each call
// returns only once the thread has exited. Neither Stop() nor Reload() may
// be called from on_reload; both are reported as misuse through
// rcu/diagnostics.h instead of deadlocking: Reload() there returns
// FailedPrecondition (not recorded in Status()); Stop() there from the
// watcher's own thread is fatal (it cannot join itself), and from the
// listener of a Reload() only asks the thread to stop, leaving the join to
// the next Stop() or the destructor.
//
// fork(). A watcher belongs to the process that created it. In a fork()
// child its copy keeps the snapshot as it was (Load() and Status() work),
// but has no watcher thread and watches nothing: Reload() there returns
// FailedPrecondition, and Stop() or the destructor let go of the copy
// without touching what the child shares with the parent (the parent's
// watcher goes on). Create a new watcher in the child to watch there.
//
// Alerting. A save is not instant, and for a moment the file may be missing
// (vim's rename between moving the original away and writing the new one),
// or a writer's pause may outlast open_writer_timeout: Status() then shows
// a failure for as long as the debounce delay or the pause, typically 100 to
// 500 ms, until the next reload succeeds. Alert on how long a failure has
// lasted, not on last_status alone:
//
//   rcu::WatcherStatus s = watcher->Status();
//   bool broken = !s.last_status.ok() && absl::Now() - s.failing_since > absl::Minutes(1);
//   bool degraded = s.polling && !s.watch_status.ok();   // watching slower than usual
//
// `broken` means the file has been unloadable for a minute and the service
// runs on an older version (s.version, since s.last_success_time); page on
// that. `degraded` (inotify limits, an unreadable directory) deserves a
// ticket, not a page: changes are still found, within poll_interval.
#ifndef CONTAINERS_CONFIG_CONFIG_WATCHER_H_
#define CONTAINERS_CONFIG_CONFIG_WATCHER_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "containers/config/config_watcher_options.h"
#include "containers/config/internal/reload_pipeline.h"
#include "containers/config/internal/watch_core.h"
#include "containers/config/internal/watch_paths.h"
#include "containers/snapshot.h"

namespace rcu {

template <typename T>
class ConfigWatcher {
 public:
  // Turns the file's bytes into a T, or says why it cannot.
  using Parser = std::function<absl::StatusOr<T>(std::string_view contents)>;
  // Rejects a parsed config that must not be published (ranges, references
  // between fields, files it names...).
  using Validator = std::function<absl::Status(const T& config)>;

  struct Options : WatchOptions {
    // Optional; runs after the parser, before publishing.
    Validator validate;
    // Publish into this snapshot instead of one the watcher owns. It must
    // outlive the watcher. Useful to start from built-in defaults (store
    // them first and set require_initial_load = false), or to share one
    // snapshot between a watcher and other writers: what they store stays
    // until the file's content changes or Reload() is called.
    Snapshot<T>* snapshot = nullptr;
  };

  // Watches `path` (made absolute against the current directory). Fails if
  // the parser is empty, the watcher cannot start, or the first load fails
  // while options.require_initial_load is set. Errors name the file.
  static absl::StatusOr<std::unique_ptr<ConfigWatcher>> Create(std::string path, Parser parse,
                                                               Options options = {}) {
    if (!parse) {
      return absl::InvalidArgumentError(
          absl::StrCat("config file ", path, ": ConfigWatcher needs a parser"));
    }
    std::unique_ptr<ConfigWatcher> watcher(
        new ConfigWatcher(std::move(path), std::move(parse), std::move(options)));
    absl::Status started = watcher->core_.Start();
    if (!started.ok()) return started;
    return watcher;
  }

  ConfigWatcher(const ConfigWatcher&) = delete;
  ConfigWatcher& operator=(const ConfigWatcher&) = delete;
  ~ConfigWatcher() { core_.Stop(); }

  // The current config, read-guarded: see Snapshot<T>::Load().
  typename Snapshot<T>::Handle Load() const { return snapshot_->Load(); }

  // The snapshot it publishes into: subscribe to it, wait for versions.
  Snapshot<T>& snapshot() const { return *snapshot_; }

  // Re-resolves the watches and reloads now, in the calling thread; see the
  // file comment.
  ReloadResult Reload() { return core_.Reload(); }

  // Status of the last reloads and of the watching. It is updated just after
  // a reload publishes (and before on_reload runs), so a reader that already
  // sees the new version may briefly get the previous status.
  WatcherStatus Status() const { return core_.Status(); }

  // Stops watching (joins the thread, after a running parse returns; see
  // rcu::ReloadStopRequested()). Idempotent, and safe from any thread: every
  // caller returns once the thread has exited. Load() and Reload() go on
  // working.
  void Stop() { core_.Stop(); }

  // The absolute path watched.
  const std::string& path() const { return core_.path(); }

 private:
  ConfigWatcher(std::string path, Parser parse, Options options)
      : owned_(options.snapshot == nullptr ? std::make_unique<Snapshot<T>>() : nullptr),
        snapshot_(options.snapshot != nullptr ? options.snapshot : owned_.get()),
        core_(internal::MakeAbsolute(path), static_cast<WatchOptions>(options),
              internal::ReloadPipeline<T>(std::move(parse), std::move(options.validate), snapshot_),
              [snapshot = snapshot_] { return snapshot->Version(); }) {}

  const std::unique_ptr<Snapshot<T>> owned_;  // null if publishing elsewhere
  Snapshot<T>* const snapshot_;
  // Declared last: destroyed (its thread joined) before the snapshot.
  internal::WatcherCore core_;
};

}  // namespace rcu

#endif  // CONTAINERS_CONFIG_CONFIG_WATCHER_H_
