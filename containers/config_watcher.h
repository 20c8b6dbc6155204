// containers/config_watcher.h: hot reload of a configuration file into an
// rcu::Snapshot<T> (containers/snapshot.h).
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
// containers/json_config.h (nlohmann-json) and containers/toml_config.h
// (toml++). This header depends on neither.
//
// What it does. Create() loads the file once (failing, by default, if that
// fails) and starts one thread that watches the file's directory with inotify
// and reloads after changes: in-place writes, editors that save by renaming a
// temporary file over the original, delete followed by re-create, and
// Kubernetes ConfigMap volumes, whose `..data` symlink is swapped. Symlinks
// are followed, and the directories of everything they pass through are
// watched. Bursts of events are debounced (WatchOptions::debounce). Watches
// that disappear (a deleted directory) are re-added, and a missing directory
// is waited for in its parent; events lost to an inotify queue overflow
// trigger a rescan. Where inotify cannot be used (not available, the watch
// limit reached, a directory it may not read, WatchOptions::force_polling),
// the watcher polls every WatchOptions::poll_interval: the file's size, mtime,
// ctime and inode, and the content hash of a file modified in the last two
// seconds (file system timestamps are too coarse to tell two quick writes
// apart). Status() says which and why.
//
// Each reload reads the whole file (up to WatchOptions::max_file_size),
// skips it if its content hashes the same as what is already published, runs
// your parser (which returns absl::StatusOr<T>) and your validation hook, and
// only then publishes the result as the snapshot's next version. Nothing that
// fails to read, parse or validate is ever published: on such an error
// the snapshot keeps its current version, and the error is recorded in
// Status() (status, time, counters, last success time) and passed to
// WatchOptions::on_reload. The next change is tried again; content that
// already failed is not re-reported until it changes. A file caught while a
// writer is still at work (its size or mtime changed during the read) is
// read again after the debounce delay.
//
// Reload() reloads now, in the calling thread, and returns what happened: call
// it from your SIGHUP handling (not from the signal handler itself) or an
// admin endpoint. Status() is cheap and thread-safe.
//
// Readers use Load() (or snapshot().Load()): see containers/snapshot.h.
// Subscribe to snapshot() to act on each new version.
//
// Stopping. Stop() or the destructor stops and joins the watcher thread;
// the snapshot stays readable. They must not be called from on_reload.
//
// In-place writes are not atomic. Every write restarts the debounce delay and
// the file is read again when its writer closes it, so a half-written file is
// only read if its writer pauses longer than the delay; if it then parses and
// validates, it is published until the complete file replaces it a moment
// later. Writers that must never expose a partial file should do what editors,
// config management and Kubernetes do: write a temporary file and rename it
// over the original (rename is atomic).
#ifndef CONTAINERS_CONFIG_WATCHER_H_
#define CONTAINERS_CONFIG_WATCHER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "containers/config_watcher_options.h"
#include "containers/internal/watch_core.h"
#include "containers/internal/watch_paths.h"
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

  // Reloads now, in the calling thread; see the file comment.
  ReloadResult Reload() { return core_.Reload(); }

  // Status of the last reloads and of the watching. It is updated just after
  // a reload publishes (and before on_reload runs), so a reader that already
  // sees the new version may briefly get the previous status.
  WatcherStatus Status() const { return core_.Status(); }

  // Stops watching (joins the thread). Idempotent. Load() and Reload() go on
  // working.
  void Stop() { core_.Stop(); }

  // The absolute path watched.
  const std::string& path() const { return core_.path(); }

 private:
  ConfigWatcher(std::string path, Parser parse, Options options)
      : owned_(options.snapshot == nullptr ? std::make_unique<Snapshot<T>>() : nullptr),
        snapshot_(options.snapshot != nullptr ? options.snapshot : owned_.get()),
        core_(internal::MakeAbsolute(path), static_cast<WatchOptions>(options),
              [parse = std::move(parse), validate = std::move(options.validate),
               snapshot = snapshot_](absl::string_view bytes) -> absl::StatusOr<std::uint64_t> {
                absl::StatusOr<T> config = parse(std::string_view(bytes.data(), bytes.size()));
                if (!config.ok()) return config.status();
                if (validate) {
                  absl::Status valid = validate(*config);
                  if (!valid.ok()) {
                    return absl::Status(valid.code(),
                                        absl::StrCat("rejected by validation: ", valid.message()));
                  }
                }
                return snapshot->Store(*std::move(config));
              },
              [snapshot = snapshot_] { return snapshot->Version(); }) {}

  const std::unique_ptr<Snapshot<T>> owned_;  // null if publishing elsewhere
  Snapshot<T>* const snapshot_;
  // Declared last: destroyed (its thread joined) before the snapshot.
  internal::WatcherCore core_;
};

}  // namespace rcu

#endif  // CONTAINERS_CONFIG_WATCHER_H_
