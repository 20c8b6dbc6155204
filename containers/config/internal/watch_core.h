// Internal: the part of rcu::ConfigWatcher<T> that does not depend on T: the
// watcher thread (inotify or polling, debouncing, waiting for writers,
// re-adding lost watches), the reload attempts (read, skip if unchanged,
// reject an empty file, apply, record) and the status. The typed half
// supplies `Apply`: parse, validate, publish (internal::ReloadPipeline<T>;
// reload_pipeline.h describes the whole pipeline and its failures).
//
// Not part of the public API; see containers/config/config_watcher.h.
#ifndef CONTAINERS_CONFIG_INTERNAL_WATCH_CORE_H_
#define CONTAINERS_CONFIG_INTERNAL_WATCH_CORE_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <sys/types.h>
#include <unistd.h>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "containers/config/config_watcher_options.h"
#include "containers/config/internal/watch_file.h"
#include "containers/config/internal/watch_inotify.h"
#include "containers/config/internal/watch_paths.h"
#include "rcu/mutex.h"

namespace rcu {
namespace internal {

class WatcherCore {
 public:
  // Parses, validates and publishes `bytes` (a ReloadPipeline<T>); returns
  // the version published, or the parser's or validator's error (the core
  // prefixes the path).
  using Apply = absl::AnyInvocable<absl::StatusOr<std::uint64_t>(absl::string_view bytes)>;
  // The snapshot's current version.
  using CurrentVersion = absl::AnyInvocable<std::uint64_t() const>;

  WatcherCore(std::string path, WatchOptions options, Apply apply, CurrentVersion current_version);
  ~WatcherCore();

  WatcherCore(const WatcherCore&) = delete;
  WatcherCore& operator=(const WatcherCore&) = delete;

  // Sets up watching (before loading, so no change can slip in between),
  // loads the file once, and starts the watcher thread. With
  // require_initial_load, a failed first load is returned and nothing runs.
  absl::Status Start();

  // Re-resolves the path and its watches, catches up with their events,
  // waits (up to max_debounce) for a writer at work on the file to close it,
  // and reloads in the calling thread, dropping a read during which the file
  // was written. A file whose content failed before is parsed and validated
  // again (what it depends on may have changed).
  ReloadResult Reload();

  WatcherStatus Status() const;

  // Stops and joins the watcher thread, after any parse it is running
  // returns (a parser may check ReloadStopRequested()). Idempotent; every
  // caller returns only once the thread has exited, however many call it at
  // once. Reload() still works. Misuse is reported (rcu/diagnostics.h): from
  // the watcher's own thread (fatal: it cannot join itself); from an
  // on_reload listener run by Reload() or Start() on the calling thread (the
  // stop is requested and the join left to the next Stop() or the
  // destructor). In a fork() child it only lets go of the parent's thread
  // (see config_watcher.h, "fork()").
  void Stop();

  const std::string& path() const { return path_; }

 private:
  using Clock = std::chrono::steady_clock;

  // Whether a read may be applied: called between reading the file and
  // parsing it. False means the file changed meanwhile.
  using ReadCheck = std::function<bool(const FileContents& contents)>;

  // One attempt. Sets *changing if the file changed while being read (or
  // `check` said so), and *repeat if it holds content that already failed
  // (and !force).
  ReloadResult AttemptLocked(ReloadTrigger trigger, bool force, const ReadCheck& check,
                             bool* changing, bool* repeat)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(loop_mu_, reload_mu_);
  // Attempts, retrying a few times while the file is being written, then
  // records the result. For the first load.
  ReloadResult AttemptWithRetriesLocked(ReloadTrigger trigger, bool force)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(loop_mu_, reload_mu_);
  void RecordLocked(const ReloadResult& result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  // Adds a whole-file read to the status counters.
  void CountRead(std::size_t bytes);
  // Records whether a writer is at work on the file, for Status() and for
  // Reload(), which waits for it.
  void SetWriterActive(bool active);

  // --- The watcher thread (and Start() and Reload(), holding loop_mu_) ---
  void Run();
  bool PollingLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(loop_mu_);
  // Re-resolves the path and re-syncs the inotify watches until they agree
  // with a resolution made after they were in place. Returns true if the
  // set of directories, their identities or the entries changed.
  bool RewatchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(loop_mu_);
  // Reads and acts on pending inotify events.
  void ProcessEventsLocked(Clock::time_point now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(loop_mu_);
  // Whether a read of the file may be trusted: called between reading it and
  // parsing it. False if it was written during the read, or, with
  // *wait_more set, if it changed too recently to tell (see the .cc).
  // From `overdue_at` on (max_debounce after the change began, or after
  // Reload() or Start() began), a file that keeps changing is read anyway.
  bool ReadSettledLocked(const FileContents& contents, std::uint64_t writes_before,
                         Clock::time_point overdue_at, bool* wait_more)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(loop_mu_);
  // Takes note of the events about the file processed so far.
  void NoteFileEventsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(loop_mu_);
  // ReadFileLimited, counting the watcher's own open of the file.
  absl::StatusOr<FileContents> ReadOwnLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(loop_mu_);
  // Whether inotify says a writer is at work on the file, and has not been
  // silent for WriterTimeoutLocked().
  bool WriterAtWorkLocked(Clock::time_point now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(loop_mu_);
  // How long a silent writer is waited for: open_writer_timeout, or the
  // debounce delay after a truncate(2) by path.
  Clock::duration WriterTimeoutLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(loop_mu_);
  void ScheduleLocked(ReloadTrigger trigger, Clock::time_point now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(loop_mu_);
  void ReloadFromThreadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(loop_mu_);
  void PollTickLocked(Clock::time_point now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(loop_mu_);
  // While inotify is used: re-resolves the path and checks the file's
  // identity, in case a change produced no event (a mount over a
  // directory, a write through a hard link or mmap).
  void AuditLocked(Clock::time_point now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(loop_mu_);
  void TryInotifyLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(loop_mu_);
  void PublishWatchStateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(loop_mu_);
  // Asks the watcher thread to leave its loop (stop_requested_, stop_fd_).
  void RequestStop();
  // True in a fork() child of the process that started the watcher.
  bool InForkChild() const { return owner_pid_ != 0 && ::getpid() != owner_pid_; }
  // Stop() in a fork() child: lets go of the parent's thread without
  // touching it or the descriptors shared with the parent.
  void AbandonInForkChild();
  // Whether the calling thread is inside this watcher's reload or on_reload
  // listener (it holds loop_mu_ or reload_mu_): Reload() and Stop() from
  // there would deadlock.
  bool ReloadingOnThisThread() const {
    return loop_mu_.HeldByCurrentThread() || reload_mu_.HeldByCurrentThread();
  }

  const std::string path_;  // absolute
  const WatchOptions options_;

  // Lock order: loop_mu_, then reload_mu_, then state_mu_.

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
  // The file's identity at the last reload attempt (an error if it was
  // missing), for the audit.
  FileIdentity attempted_identity_ ABSL_GUARDED_BY(reload_mu_);

  mutable rcu::Mutex state_mu_;
  WatcherStatus state_ ABSL_GUARDED_BY(state_mu_);
  // Signalled when state_.writer_active turns false or the thread stops.
  std::condition_variable_any writer_cv_;
  bool thread_running_ ABSL_GUARDED_BY(state_mu_) = false;

  // Thread control. stop_fd_ is an eventfd written by Stop(); immutable
  // after Start(). stop_requested_ is what ReloadStopRequested() reports to
  // parsers run by the watcher thread. owner_pid_ is the process that
  // started the thread (0 before Start()): a fork() child shares stop_fd_
  // and the inotify descriptor with it, and has no watcher thread.
  rcu::Mutex thread_mu_;
  std::thread thread_ ABSL_GUARDED_BY(thread_mu_);
  // The watcher thread's id while it may run (joined or not yet): Stop()
  // from it is misuse.
  std::thread::id thread_id_ ABSL_GUARDED_BY(thread_mu_);
  // A Stop() has taken thread_ and is joining it. Other Stop() callers wait
  // on joined_cv_ until it is false, so none returns before the thread ends.
  bool joining_ ABSL_GUARDED_BY(thread_mu_) = false;
  std::condition_variable_any joined_cv_;
  // In a fork() child, thread_ is moved here and never destroyed: the
  // thread it names belongs to the parent, so it can be neither joined nor
  // detached (the union keeps its destructor from running).
  union {
    std::thread abandoned_;
  };
  pid_t owner_pid_ = 0;
  int stop_fd_ = -1;
  std::atomic<bool> stop_requested_{false};

  // Loop state: the watcher thread holds loop_mu_ except while it waits in
  // poll(); Start() and Reload() take it too.
  rcu::Mutex loop_mu_;
  // Null: inotify unavailable (polling). Replaced only by the watcher
  // thread and Start().
  std::unique_ptr<Inotify> inotify_ ABSL_GUARDED_BY(loop_mu_);
  // Creating an instance failed for a reason that may pass (the instance
  // limit): retried on every poll.
  bool retry_inotify_ ABSL_GUARDED_BY(loop_mu_) = false;
  bool watches_ok_ ABSL_GUARDED_BY(loop_mu_) = false;    // every directory of the set is watched
  absl::Status watch_status_ ABSL_GUARDED_BY(loop_mu_);  // why not, if not
  WatchSet watch_set_ ABSL_GUARDED_BY(loop_mu_);
  // Polling: what the last tick saw, since when, whether that was a change
  // not yet confirmed by a tick that saw the same, and whether the content
  // was hashed once the identity could no longer hide a same-timestamp write.
  FileIdentity polled_ ABSL_GUARDED_BY(loop_mu_);
  Clock::time_point polled_since_ ABSL_GUARDED_BY(loop_mu_);
  bool poll_change_pending_ ABSL_GUARDED_BY(loop_mu_) = false;
  bool racy_checked_ ABSL_GUARDED_BY(loop_mu_) = false;
  // Debouncing.
  std::optional<Clock::time_point> reload_at_ ABSL_GUARDED_BY(loop_mu_);
  std::optional<Clock::time_point> burst_start_ ABSL_GUARDED_BY(loop_mu_);
  // The first event of the change the pending reload is to load, or the
  // first close of a writer since (kept across retries; cleared once an
  // attempt is recorded): max_debounce counts from it.
  std::optional<Clock::time_point> change_since_ ABSL_GUARDED_BY(loop_mu_);
  // A writer closed the file since change_since_ was set: that first close
  // restarted change_since_ and the burst; later ones do not.
  bool closed_in_change_ ABSL_GUARDED_BY(loop_mu_) = false;
  // When ReadSettledLocked() first refused a read of the current attempts
  // as too recent (cleared when it accepts one, or the attempts end): the
  // waits for unreported changes and foreign opens count from it.
  std::optional<Clock::time_point> unsettled_since_ ABSL_GUARDED_BY(loop_mu_);
  ReloadTrigger pending_trigger_ ABSL_GUARDED_BY(loop_mu_) = ReloadTrigger::kFileChange;
  Clock::time_point next_poll_ ABSL_GUARDED_BY(loop_mu_);
  Clock::time_point next_audit_ ABSL_GUARDED_BY(loop_mu_);
  int changing_retries_ ABSL_GUARDED_BY(loop_mu_) = 0;  // consecutive "changed while being read"
  // The writer inotify saw at work on the file: when its last write was
  // seen (to let a silent one go after open_writer_timeout).
  std::uint64_t writer_events_seen_ ABSL_GUARDED_BY(loop_mu_) = 0;
  Clock::time_point writer_last_seen_ ABSL_GUARDED_BY(loop_mu_);
  // The file as it was right after the events about it processed so far
  // (or when its directory began to be watched): a read that finds it
  // otherwise found a change whose event is still on its way.
  std::uint64_t file_epoch_seen_ ABSL_GUARDED_BY(loop_mu_) = 0;
  FileIdentity file_known_ ABSL_GUARDED_BY(loop_mu_);
  // When another process last opened the file (Inotify::foreign_opens()):
  // it may have changed the file and not said so yet (ReadSettledLocked).
  std::uint64_t foreign_open_events_seen_ ABSL_GUARDED_BY(loop_mu_) = 0;
  absl::Time foreign_open_at_ ABSL_GUARDED_BY(loop_mu_) = absl::InfinitePast();
};

}  // namespace internal
}  // namespace rcu

#endif  // CONTAINERS_CONFIG_INTERNAL_WATCH_CORE_H_
