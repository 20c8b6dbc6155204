// containers/config/config_watcher_options.h: how rcu::ConfigWatcher watches
// a file, and what it reports. Included by containers/config/config_watcher.h;
// see there for how to use them.
//
//   rcu::ConfigWatcher<Config>::Options options;
//   options.debounce = absl::Milliseconds(250);   // editors that write slowly
//   options.set_debounce(std::chrono::milliseconds(250));   // the same
//   options.on_reload = [](const rcu::ReloadResult& r) {
//     if (!r.status.ok()) LOG(ERROR) << r.status;  // names the file and the error
//   };
//
//   rcu::WatcherStatus s = watcher->Status();      // for a status page or metrics
//   std::string metrics = rcu::ConfigWatcherPrometheusText(s);   // Prometheus:
//                                  // containers/config/config_watcher_prometheus.h
#ifndef CONTAINERS_CONFIG_CONFIG_WATCHER_OPTIONS_H_
#define CONTAINERS_CONFIG_CONFIG_WATCHER_OPTIONS_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "rcu/internal/chrono.h"

namespace rcu {

// Why a reload was attempted.
enum class ReloadTrigger {
  kInitial,     // the first load, by Create()
  kFileChange,  // an inotify event, after the debounce delay
  kPoll,        // polling saw the file's size, mtime, ctime or inode change
  kRescan,      // inotify dropped events (queue overflow) or lost a watch
  kManual,      // Reload()
};

// "initial", "file change", "poll", "rescan", "manual".
const char* ReloadTriggerName(ReloadTrigger trigger);

// What one reload attempt did.
struct ReloadResult {
  enum class Outcome {
    kPublished,  // a new version was published
    kUnchanged,  // the file holds what was last published: nothing to do
    kFailed,     // read, parse or validation failed; the snapshot was kept
  };
  Outcome outcome = Outcome::kUnchanged;
  // OK unless kFailed. Errors start with "config file <path>: ".
  absl::Status status;
  // The snapshot's version after the attempt (the new one if kPublished).
  std::uint64_t version = 0;
  ReloadTrigger trigger = ReloadTrigger::kManual;
  absl::Time time;        // when the attempt was made
  std::size_t bytes = 0;  // size of the content read (0 if it was not read)
};

// "published", "unchanged", "failed".
const char* ReloadOutcomeName(ReloadResult::Outcome outcome);

// The watcher's state, for status pages and metrics (for Prometheus,
// rcu::ConfigWatcherPrometheusText() writes it as `rcu_config_...` metrics:
// containers/config/config_watcher_prometheus.h).
struct WatcherStatus {
  std::string path;           // absolute
  std::uint64_t version = 0;  // the snapshot's current version
  // The last attempt's status: OK if it published or found nothing new.
  absl::Status last_status;
  // The most recent failure, kept after later successes; OK if none yet.
  absl::Status last_error;
  // When the current run of failures began (the first failed attempt since
  // the last successful one); absl::InfinitePast() while the last attempt
  // succeeded. Alert on how long this has lasted, not on last_status alone:
  // see "Alerting" in config_watcher.h.
  absl::Time failing_since = absl::InfinitePast();
  absl::Time last_attempt_time = absl::InfinitePast();
  absl::Time last_success_time = absl::InfinitePast();  // last kPublished or kUnchanged
  absl::Time last_failure_time = absl::InfinitePast();
  std::uint64_t reloads_published = 0;
  std::uint64_t reloads_unchanged = 0;
  std::uint64_t reloads_failed = 0;
  // True while changes are found by polling (inotify unavailable, a
  // directory that cannot be watched yet, or WatchOptions::force_polling).
  bool polling = false;
  // Why inotify is not (fully) used, naming the directory or the limit hit;
  // OK when it is, or when polling was asked for.
  absl::Status watch_status;
  std::vector<std::string> watched_directories;  // empty while polling only
  // True while a process is writing the file in place: inotify saw it
  // written to and not yet closed. Nothing is read until it is closed.
  bool writer_active = false;
  // The work done so far, for cost metrics: stat() checks made by polling,
  // and whole-file reads (to load the file, or, while polling, to hash one
  // whose timestamps cannot tell two writes apart) and their bytes.
  std::uint64_t polls = 0;
  std::uint64_t files_read = 0;
  std::uint64_t bytes_read = 0;
};

// How a ConfigWatcher watches and loads its file. The defaults suit a
// configuration file edited by people, editors, config management or
// Kubernetes.
struct WatchOptions {
  // Reload this long after the last event of a burst: every event restarts
  // the delay, so an editor's write+rename+chmod or a script's many writes
  // cause one reload.
  absl::Duration debounce = absl::Milliseconds(100);
  // ...but never postpone a reload longer than this after the first event
  // of a burst (or the first close of a writer at work during it), so a
  // file that changes without pause still gets loaded: once this has
  // passed, the file is read as soon as no writer holds it open and is
  // taken if no write comes during the read, however recently it changed.
  // Reload() and Create() likewise wait at most this long for the file to
  // rest (plus, for a reader that keeps the file open, the at most a
  // second config_watcher.h describes).
  absl::Duration max_debounce = absl::Seconds(1);
  // Polling period when inotify cannot be used, and how often an
  // unwatchable directory (say, one that does not exist yet) is retried.
  absl::Duration poll_interval = absl::Seconds(1);
  // Poll even if inotify works: for file systems whose changes inotify does
  // not report (NFS, FUSE, some overlay set-ups).
  bool force_polling = false;
  // A file written in place is read once its writer closes it (inotify's
  // IN_CLOSE_WRITE). A writer that keeps it open without writing for this
  // long is taken as done. A write with no open of the file seen before it
  // (a truncate(2) by path, which no close follows) is taken as done after
  // the debounce delay of silence instead.
  absl::Duration open_writer_timeout = absl::Seconds(10);
  // A larger file is rejected with ResourceExhausted, naming both sizes.
  std::size_t max_file_size = 16 * 1024 * 1024;
  // An empty file (no bytes, or only whitespace) is rejected with
  // InvalidArgument before the parser sees it: it is far more often a
  // mistake (`: > f`, a failed `render > f`) than a config, and some
  // formats (TOML) would parse it as a document of defaults. Set this if an
  // empty file is a valid config for your parser.
  bool allow_empty_file = false;
  // If true, Create() fails when the first load fails. If false, the watcher
  // starts anyway: the snapshot stays as it was (empty, or the defaults
  // already stored in a snapshot passed in) until a good file appears.
  bool require_initial_load = true;
  // Called after every reload attempt that read the file, on the thread that
  // made it (the watcher's, or Reload()'s caller), one at a time. It must not
  // call Reload() or Stop(), or destroy the watcher (Reload() and Stop()
  // there are reported as misuse: see config_watcher.h).
  std::function<void(const ReloadResult&)> on_reload;

  // The durations above from std::chrono, for code that does not use
  // Abseil's time types. Each returns *this:
  //
  //   options.set_debounce(std::chrono::milliseconds(250))
  //       .set_poll_interval(std::chrono::seconds(5));
  //
  // `duration::max()` is absl::InfiniteDuration().
  template <typename Rep, typename Period>
  WatchOptions& set_debounce(std::chrono::duration<Rep, Period> d) {
    debounce = internal::FromChrono(d);
    return *this;
  }
  template <typename Rep, typename Period>
  WatchOptions& set_max_debounce(std::chrono::duration<Rep, Period> d) {
    max_debounce = internal::FromChrono(d);
    return *this;
  }
  template <typename Rep, typename Period>
  WatchOptions& set_poll_interval(std::chrono::duration<Rep, Period> d) {
    poll_interval = internal::FromChrono(d);
    return *this;
  }
  template <typename Rep, typename Period>
  WatchOptions& set_open_writer_timeout(std::chrono::duration<Rep, Period> d) {
    open_writer_timeout = internal::FromChrono(d);
    return *this;
  }
};

// How deeply the ready-made JSON and TOML parsers (json_config.h,
// toml_config.h) let arrays and objects or tables nest, counting the
// outermost one: a deeper document is rejected with a clear error, since
// copying, walking or destroying it recursively could overflow a thread's
// stack. Far more than any real config needs.
inline constexpr int kMaxConfigDepth = 256;

// True when called from a parser or validator that a ConfigWatcher runs on
// its own thread, once that watcher's Stop() or destructor has been called.
// They wait for a running parse to return; a parse that takes long may check
// this now and then and give up with any error, which is then not reported.
// False anywhere else (Create() and Reload() run in your thread).
bool ReloadStopRequested();

}  // namespace rcu

#endif  // CONTAINERS_CONFIG_CONFIG_WATCHER_OPTIONS_H_
