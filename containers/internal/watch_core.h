// Internal: the part of rcu::ConfigWatcher<T> that does not depend on T: the
// watcher thread (inotify or polling, debouncing, re-adding lost watches),
// the reload pipeline (read, skip if unchanged, apply, record) and the status.
// The typed half supplies `Apply`: parse, validate, publish.
//
// Not part of the public API; see containers/config_watcher.h.
#ifndef CONTAINERS_INTERNAL_WATCH_CORE_H_
#define CONTAINERS_INTERNAL_WATCH_CORE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "containers/config_watcher_options.h"
#include "containers/internal/watch_file.h"
#include "containers/internal/watch_inotify.h"
#include "rcu/mutex.h"

namespace rcu {
namespace internal {

class WatcherCore {
 public:
  // Parses, validates and publishes `bytes`; returns the version published,
  // or the parser's or validator's error (the core prefixes the path).
  using Apply = absl::AnyInvocable<absl::StatusOr<std::uint64_t>(absl::string_view bytes)>;
  // The snapshot's current version.
  using CurrentVersion = absl::AnyInvocable<std::uint64_t() const>;

  WatcherCore(std::string path, WatchOptions options, Apply apply,
              CurrentVersion current_version);
  ~WatcherCore();

  WatcherCore(const WatcherCore&) = delete;
  WatcherCore& operator=(const WatcherCore&) = delete;

  // Sets up watching (before loading, so no change can slip in between),
  // loads the file once, and starts the watcher thread. With
  // require_initial_load, a failed first load is returned and nothing runs.
  absl::Status Start();

  // Reloads now, in the calling thread. A file whose content failed before
  // is parsed and validated again (what it depends on may have changed).
  ReloadResult Reload();

  WatcherStatus Status() const;

  // Stops and joins the watcher thread. Idempotent. Reload() still works.
  void Stop();

  const std::string& path() const { return path_; }

 private:
  using Clock = std::chrono::steady_clock;

  // One attempt. Sets *changing if the file changed while being read, and
  // *repeat if it holds content that already failed (and !force).
  ReloadResult AttemptLocked(ReloadTrigger trigger, bool force, bool* changing, bool* repeat)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  // Attempts, retrying a few times while the file is being written, then
  // records the result. For the first load and Reload().
  ReloadResult AttemptWithRetriesLocked(ReloadTrigger trigger, bool force)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  void RecordLocked(const ReloadResult& result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  // Adds a whole-file read to the status counters.
  void CountRead(std::size_t bytes);

  // --- The watcher thread (and Start(), before the thread runs) ---
  void Run();
  bool Polling() const;
  // Re-resolves the path and re-syncs the inotify watches. Returns true if
  // the set of directories or entries changed.
  bool Rewatch();
  void Schedule(ReloadTrigger trigger, Clock::time_point now);
  void ReloadFromThread();
  void PollTick(Clock::time_point now);
  void PublishWatchState();

  const std::string path_;  // absolute
  const WatchOptions options_;

  // Serializes reload attempts and the on_reload listener.
  rcu::Mutex reload_mu_;
  Apply apply_ ABSL_GUARDED_BY(reload_mu_);
  const CurrentVersion current_version_;
  // The content last published by this watcher, and its version. A file
  // whose content hashes the same has nothing new (a manual reload also
  // checks that the snapshot is still at that version).
  std::optional<std::uint64_t> applied_hash_ ABSL_GUARDED_BY(reload_mu_);
  std::uint64_t applied_version_ ABSL_GUARDED_BY(reload_mu_) = 0;
  // The content of the last failed parse or validation, cleared by any other
  // outcome: seeing it again (an unrelated event) is not a new failure.
  std::optional<std::uint64_t> failed_hash_ ABSL_GUARDED_BY(reload_mu_);
  // The content of the last successful read, whatever came of it. Polling
  // compares against it when stat() alone cannot tell (see PollTick()).
  std::optional<std::uint64_t> last_read_hash_ ABSL_GUARDED_BY(reload_mu_);

  mutable rcu::Mutex state_mu_;
  WatcherStatus state_ ABSL_GUARDED_BY(state_mu_);

  // Thread control. stop_fd_ is an eventfd written by Stop(); immutable
  // after Start().
  rcu::Mutex thread_mu_;
  std::thread thread_ ABSL_GUARDED_BY(thread_mu_);
  int stop_fd_ = -1;

  // Loop state: touched only by the watcher thread, and by Start() before
  // the thread exists.
  std::unique_ptr<Inotify> inotify_;  // null: inotify unavailable, polling
  bool watches_ok_ = false;           // every directory of the set is watched
  absl::Status watch_status_;         // why not, if not (WatcherStatus::watch_status)
  WatchSet watch_set_;
  FileIdentity polled_;                // what polling saw last
  std::optional<Clock::time_point> reload_at_;    // debounce deadline
  std::optional<Clock::time_point> burst_start_;  // first event of the burst
  ReloadTrigger pending_trigger_ = ReloadTrigger::kFileChange;
  Clock::time_point next_poll_;
  int changing_retries_ = 0;  // consecutive "changed while being read"
};

}  // namespace internal
}  // namespace rcu

#endif  // CONTAINERS_INTERNAL_WATCH_CORE_H_
