// The T-independent half of rcu::ConfigWatcher: watcher thread, reload
// attempts, status.
#include "containers/config/internal/watch_core.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <exception>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "rcu/diagnostics.h"
#include "rcu/internal/report.h"

namespace rcu {
namespace {

// The stop flag of the watcher whose thread is running a parse, if any.
thread_local const std::atomic<bool>* current_stop_request = nullptr;

}  // namespace

bool ReloadStopRequested() {
  return current_stop_request != nullptr && current_stop_request->load(std::memory_order_acquire);
}

namespace internal {
namespace {

// Attempts while a writer is still at work on the file, before the read is
// reported as failed.
constexpr int kMaxChangingRetries = 10;

// Rounds of resolving and watching before the watches are taken to agree
// with the path (each round is needed only if the path changed meanwhile).
constexpr int kMaxRewatchRounds = 8;

// File systems stamp files from a coarse clock (a few milliseconds; one or
// two seconds on some network and FAT file systems), so two same-size writes
// close together can leave size, mtime and ctime equal. Polling therefore
// hashes a file once more when its identity has been seen for longer than
// this, on our own clock (git re-checks "racily clean" files likewise): a
// write after that gets another timestamp, whatever the file system's clock
// says.
constexpr std::chrono::seconds kRacyWindow(2);

// inotify queues a change's event only after the change took effect: a
// writer preempted (or throttled) inside write(2) or open(O_TRUNC) has
// changed the file and not yet said so. A read that finds the file other
// than it was right after the last event about it is therefore not trusted
// until that change's event comes, or, for changes that never make one (a
// write through a hard link elsewhere), until the change is this old.
constexpr absl::Duration kUnreportedChangeWait = absl::Seconds(1);

// How far ahead of absl::Now() a file's ctime may be and still be taken as
// stamped by our own clock.
constexpr absl::Duration kClockSlack = absl::Seconds(1);

// An option's duration on the steady clock, capped so that adding it to
// now() cannot overflow (absl::InfiniteDuration() means "a century").
std::chrono::steady_clock::duration ToClock(absl::Duration d) {
  const absl::Duration century = absl::Hours(24 * 365 * 100);
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(std::clamp(d, absl::ZeroDuration(), century)));
}

// A copy of `status` that shares nothing with it. absl::Status shares its
// message between copies through a reference count; Debian's Abseil is not
// built for ThreadSanitizer, which then cannot see that count order a
// reader's last use before another thread frees the message. Status() and
// the recorded state hand out copies of their own.
absl::Status Unshared(const absl::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status copy(status.code(), std::string(status.message()));
  status.ForEachPayload([&copy](absl::string_view url, const absl::Cord& payload) {
    copy.SetPayload(url, absl::Cord(std::string(payload)));
  });
  return copy;
}

// What a write to the file changes (a chmod or a new hard link changes only
// ctime; IN_ATTRIB reports the first, nothing reports the second).
bool SameContentIdentity(const FileIdentity& a, const FileIdentity& b) {
  return a.device == b.device && a.inode == b.inode && a.size == b.size &&
         a.mtime_ns == b.mtime_ns && a.error == b.error;
}

}  // namespace

WatcherCore::WatcherCore(std::string path, WatchOptions options, Apply apply,
                         CurrentVersion current_version)
    : path_(std::move(path)),
      options_(std::move(options)),
      apply_(std::move(apply)),
      current_version_(std::move(current_version)) {
  MutexLock lock(state_mu_);
  state_.path = path_;
}

absl::Status WatcherCore::Start() {
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) {
    const int error = errno;
    return absl::ErrnoToStatus(  // appends ": " and strerror
        error, absl::StrCat("config file ", path_, ": cannot start watching: eventfd"));
  }
  {
    MutexLock loop(loop_mu_);
    if (!options_.force_polling) TryInotifyLocked();
    RewatchLocked();
    const Clock::time_point now = Clock::now();
    polled_ = StatPath(path_);
    polled_since_ = now;
    next_poll_ = now + ToClock(options_.poll_interval);
    next_audit_ = next_poll_;
    MutexLock lock(reload_mu_);
    const ReloadResult first = AttemptWithRetriesLocked(ReloadTrigger::kInitial, /*force=*/true);
    if (first.outcome == ReloadResult::Outcome::kFailed && options_.require_initial_load) {
      return first.status;
    }
  }
  {
    MutexLock lock(state_mu_);
    thread_running_ = true;
  }
  owner_pid_ = ::getpid();
  MutexLock lock(thread_mu_);
  thread_ = std::thread([this] { Run(); });
  thread_id_ = thread_.get_id();
  return absl::OkStatus();
}

WatcherCore::~WatcherCore() {
  Stop();
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

void WatcherCore::RequestStop() {
  // A parse running now may see this and give up; the thread stops after it.
  stop_requested_.store(true, std::memory_order_release);
  const std::uint64_t one = 1;
  while (::write(stop_fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

void WatcherCore::AbandonInForkChild() {
  {
    MutexLock lock(thread_mu_);
    if (!thread_.joinable()) return;
    new (&abandoned_) std::thread(std::move(thread_));
  }
  {
    MutexLock lock(state_mu_);
    thread_running_ = false;
    state_.writer_active = false;
  }
  writer_cv_.notify_all();
}

void WatcherCore::Stop() {
  if (InForkChild()) {
    // The thread, stop_fd_ and the inotify instance are the parent's: a
    // write to stop_fd_ would stop the parent's watcher.
    AbandonInForkChild();
    return;
  }
  std::thread thread;
  {
    MutexLock lock(thread_mu_);
    if (thread_id_ == std::thread::id()) return;  // never started, or joined
    if (thread_id_ == std::this_thread::get_id()) {
      Report(Diagnostic::Kind::kContainerMisuse, true,
             "rcu::ConfigWatcher: Stop() or the destructor called from the watcher's own "
             "thread (an on_reload listener or a snapshot callback run by it?); it cannot "
             "join itself");
    }
    if (ReloadingOnThisThread()) {
      // An on_reload listener run by Reload() (or Start()) on this thread:
      // the watcher thread needs the locks this thread holds to leave its
      // loop, so it cannot be joined here.
      Report(Diagnostic::Kind::kContainerMisuse, false,
             "rcu::ConfigWatcher: Stop() called from an on_reload listener during Reload(); "
             "listeners must not call Stop(). The watcher thread is asked to stop and is "
             "joined by the next Stop() or the destructor");
      RequestStop();
      return;
    }
    if (!thread_.joinable()) {
      // Another caller is joining it: return only once it has.
      while (joining_) joined_cv_.wait(thread_mu_);
      return;
    }
    thread = std::move(thread_);
    joining_ = true;
  }
  RequestStop();
  thread.join();
  {
    MutexLock lock(state_mu_);
    thread_running_ = false;
    state_.writer_active = false;
  }
  writer_cv_.notify_all();
  {
    MutexLock lock(thread_mu_);
    joining_ = false;
    thread_id_ = std::thread::id();
  }
  joined_cv_.notify_all();
}

ReloadResult WatcherCore::Reload() {
  if (InForkChild() || ReloadingOnThisThread()) {
    ReloadResult refused;
    refused.outcome = ReloadResult::Outcome::kFailed;
    refused.trigger = ReloadTrigger::kManual;
    refused.time = absl::Now();
    refused.version = current_version_();
    if (InForkChild()) {
      // The inotify instance is shared with the parent: reading its events
      // here would take them from the parent's watcher.
      refused.status = absl::FailedPreconditionError(absl::StrCat(
          "config file ", path_,
          ": Reload() in a fork() child; a watcher belongs to the process that created it "
          "(create another one in the child)"));
      return refused;
    }
    refused.status = absl::FailedPreconditionError(absl::StrCat(
        "config file ", path_, ": Reload() called from an on_reload listener; not reloaded"));
    Report(Diagnostic::Kind::kContainerMisuse, false,
           "rcu::ConfigWatcher: Reload() called from an on_reload listener (it would wait "
           "for itself); listeners must not call Reload(). Refused with FailedPrecondition");
    return refused;
  }
  const Clock::time_point give_up = Clock::now() + ToClock(options_.max_debounce);
  bool rewatched = false;
  for (int attempt = 1;; ++attempt) {
    bool writer_active = false;
    {
      MutexLock loop(loop_mu_);
      bool watching;
      {
        MutexLock lock(state_mu_);
        watching = thread_running_;
      }
      const Clock::time_point now = Clock::now();
      if (watching) {
        if (!rewatched) {
          // Directories on the way may have been renamed, replaced or
          // mounted over: watch what the path leads to now, so that later
          // changes are seen too.
          rewatched = true;
          if (RewatchLocked()) ScheduleLocked(ReloadTrigger::kRescan, now);
        }
        // The writer as of now, not as of the watcher thread's last look.
        ProcessEventsLocked(now);
        writer_active = WriterAtWorkLocked(now);
      }
      if (!writer_active) {
        const std::uint64_t writes_before = inotify_ != nullptr ? inotify_->file_write_events() : 0;
        bool wait_more = false;
        const ReadCheck check = [&](const FileContents& contents) {
          loop_mu_.AssertHeld();
          return ReadSettledLocked(contents, writes_before, give_up, &wait_more);
        };
        MutexLock lock(reload_mu_);
        bool changing;
        bool repeat;
        const ReloadResult result =
            AttemptLocked(ReloadTrigger::kManual, /*force=*/true, check, &changing, &repeat);
        // Bounded by max_debounce and kUnreportedChangeWait instead.
        if (wait_more && Clock::now() < give_up) --attempt;
        if (!changing || attempt >= kMaxChangingRetries) {
          unsettled_since_.reset();
          RecordLocked(result);
          return result;
        }
      }
    }
    if (!writer_active) {
      // Changed while being read, or too recently to tell: give the writer
      // the debounce delay (at least a little, if it is zero).
      absl::SleepFor(std::max(options_.debounce, absl::Milliseconds(1)));
      continue;
    }
    if (Clock::now() < give_up) {
      MutexLock lock(state_mu_);
      if (state_.writer_active) writer_cv_.wait_until(state_mu_, give_up);
      continue;
    }
    MutexLock lock(reload_mu_);
    ReloadResult result;
    result.outcome = ReloadResult::Outcome::kFailed;
    result.trigger = ReloadTrigger::kManual;
    result.time = absl::Now();
    result.version = current_version_();
    result.status = absl::UnavailableError(absl::StrCat(
        "config file ", path_,
        ": is being written (a process wrote to it and has not closed it); it is loaded "
        "when closed"));
    RecordLocked(result);
    return result;
  }
}

WatcherStatus WatcherCore::Status() const {
  WatcherStatus status;
  {
    MutexLock lock(state_mu_);
    status = state_;
    status.last_status = Unshared(state_.last_status);
    status.last_error = Unshared(state_.last_error);
    status.watch_status = Unshared(state_.watch_status);
  }
  status.version = current_version_();
  return status;
}

ReloadResult WatcherCore::AttemptLocked(ReloadTrigger trigger, bool force, const ReadCheck& check,
                                        bool* changing, bool* repeat) {
  *changing = false;
  *repeat = false;
  ReloadResult result;
  result.trigger = trigger;
  result.time = absl::Now();
  result.outcome = ReloadResult::Outcome::kFailed;

  absl::StatusOr<FileContents> contents = ReadOwnLocked();
  if (!contents.ok()) {
    *changing = IsChangedWhileReading(contents.status());
    failed_hash_.reset();  // whatever comes back must be looked at again
    attempted_identity_ = StatPath(path_);
    result.status = contents.status();
    result.version = current_version_();
    return result;
  }
  result.bytes = contents->bytes.size();
  CountRead(result.bytes);
  if (check && !check(*contents)) {
    *changing = true;
    result.status = ChangedWhileReadingError(path_);
    result.version = current_version_();
    return result;
  }
  attempted_identity_ = contents->identity;
  last_read_hash_ = contents->hash;
  const std::uint64_t current = current_version_();
  // Same content as last published: nothing to do. Unless a manual reload
  // finds that someone else has published into the snapshot since; then the
  // file wins again.
  if (applied_hash_ == contents->hash && (!force || applied_version_ == current)) {
    failed_hash_.reset();
    result.outcome = ReloadResult::Outcome::kUnchanged;
    result.version = current;
    return result;
  }
  if (!force && failed_hash_ == contents->hash) {
    *repeat = true;
    result.status = absl::OkStatus();
    result.version = current;
    return result;
  }
  if (!options_.allow_empty_file && absl::StripAsciiWhitespace(contents->bytes).empty()) {
    failed_hash_ = contents->hash;
    result.status = absl::InvalidArgumentError(absl::StrCat(
        "config file ", path_, ": is empty", contents->bytes.empty() ? "" : " (only whitespace)",
        "; an empty file is taken as a mistake unless WatchOptions::allow_empty_file is set"));
    result.version = current;
    return result;
  }

  absl::StatusOr<std::uint64_t> version;
  try {
    version = apply_(contents->bytes);
  } catch (const std::exception& e) {
    version = absl::InternalError(absl::StrCat("the parser or validator threw: ", e.what()));
  } catch (...) {
    version = absl::InternalError("the parser or validator threw");
  }
  if (!version.ok()) {
    failed_hash_ = contents->hash;
    result.status = AnnotateWithPath(version.status(), path_);
    result.version = current_version_();
    return result;
  }
  failed_hash_.reset();
  applied_hash_ = contents->hash;
  applied_version_ = *version;
  result.outcome = ReloadResult::Outcome::kPublished;
  result.version = *version;
  return result;
}

ReloadResult WatcherCore::AttemptWithRetriesLocked(ReloadTrigger trigger, bool force) {
  const Clock::time_point give_up = Clock::now() + ToClock(options_.max_debounce);
  ReloadResult result;
  for (int attempt = 1;; ++attempt) {
    bool changing;
    bool repeat;
    bool wait_more = false;
    ProcessEventsLocked(Clock::now());  // others' opens first, not merged with ours
    const std::uint64_t writes_before = inotify_ != nullptr ? inotify_->file_write_events() : 0;
    const ReadCheck check = [&](const FileContents& contents) {
      loop_mu_.AssertHeld();
      return ReadSettledLocked(contents, writes_before, give_up, &wait_more);
    };
    result = AttemptLocked(trigger, force, check, &changing, &repeat);
    // Bounded by max_debounce and kUnreportedChangeWait instead.
    if (wait_more && Clock::now() < give_up) --attempt;
    if (!changing || attempt >= kMaxChangingRetries) break;
    // A writer is at work on the file: give it the debounce delay.
    absl::SleepFor(std::max(options_.debounce, absl::Milliseconds(1)));
  }
  unsettled_since_.reset();
  RecordLocked(result);
  return result;
}

void WatcherCore::RecordLocked(const ReloadResult& result) {
  {
    MutexLock lock(state_mu_);
    state_.last_attempt_time = result.time;
    switch (result.outcome) {
      case ReloadResult::Outcome::kPublished:
        ++state_.reloads_published;
        state_.last_success_time = result.time;
        state_.failing_since = absl::InfinitePast();
        break;
      case ReloadResult::Outcome::kUnchanged:
        ++state_.reloads_unchanged;
        state_.last_success_time = result.time;
        state_.failing_since = absl::InfinitePast();
        break;
      case ReloadResult::Outcome::kFailed:
        ++state_.reloads_failed;
        state_.last_failure_time = result.time;
        state_.last_error = Unshared(result.status);
        if (state_.failing_since == absl::InfinitePast()) state_.failing_since = result.time;
        break;
    }
    state_.last_status = Unshared(result.status);
  }
  if (!options_.on_reload) return;
  try {
    options_.on_reload(result);
  } catch (const std::exception& e) {
    Report(Diagnostic::Kind::kListenerThrew, false,
           absl::StrCat("rcu::ConfigWatcher: the on_reload listener threw (", e.what(),
                        "); listeners must not throw. Ignored."));
  } catch (...) {
    Report(Diagnostic::Kind::kListenerThrew, false,
           "rcu::ConfigWatcher: the on_reload listener threw; listeners must not throw. "
           "Ignored.");
  }
}

void WatcherCore::CountRead(std::size_t bytes) {
  MutexLock lock(state_mu_);
  ++state_.files_read;
  state_.bytes_read += bytes;
}

void WatcherCore::SetWriterActive(bool active) {
  {
    MutexLock lock(state_mu_);
    if (state_.writer_active == active) return;
    state_.writer_active = active;
  }
  if (!active) writer_cv_.notify_all();
}

// --- The watcher thread -------------------------------------------------------

bool WatcherCore::PollingLocked() const {
  return options_.force_polling || inotify_ == nullptr || !watches_ok_;
}

void WatcherCore::PublishWatchStateLocked() {
  const bool polling = PollingLocked();
  std::vector<std::string> dirs;
  if (inotify_ != nullptr) dirs = inotify_->WatchedDirectories();
  MutexLock lock(state_mu_);
  state_.polling = polling;
  state_.watch_status = Unshared(watch_status_);
  state_.watched_directories = std::move(dirs);
}

void WatcherCore::TryInotifyLocked() {
  absl::StatusOr<std::unique_ptr<Inotify>> inotify = Inotify::Create();
  if (inotify.ok()) {
    inotify_ = *std::move(inotify);
    retry_inotify_ = false;
    watch_status_ = absl::OkStatus();
    writer_events_seen_ = 0;
  } else {
    watch_status_ = inotify.status();
    // ENOSYS will not pass; the instance limit (EMFILE) and memory may.
    retry_inotify_ = !absl::IsUnimplemented(inotify.status());
  }
}

bool WatcherCore::RewatchLocked() {
  const bool was_polling = PollingLocked();
  bool changed = false;
  for (int round = 0; round < kMaxRewatchRounds; ++round) {
    WatchSet set = ResolveWatchSet(path_);
    // Resolved again after the watches were in place and found the same:
    // any later change produces an event.
    if (round > 0 && set == watch_set_) break;
    if (set != watch_set_) changed = true;
    if (inotify_ != nullptr) {
      const absl::Status status = inotify_->Sync(set);
      watch_status_ = status;
      watches_ok_ = status.ok();
    }
    watch_set_ = std::move(set);
    if (inotify_ == nullptr) break;
  }
  if (!was_polling && PollingLocked()) {
    // Lost a directory (deleted, unreadable, or the watch limit hit): from
    // here on, polling finds changes, starting from what is there now.
    polled_ = StatPath(path_);
    polled_since_ = Clock::now();
    poll_change_pending_ = false;
    racy_checked_ = false;
  }
  if (inotify_ != nullptr) SetWriterActive(inotify_->writer_active());
  NoteFileEventsLocked();
  PublishWatchStateLocked();
  return changed;
}

void WatcherCore::ProcessEventsLocked(Clock::time_point now) {
  if (inotify_ == nullptr) return;
  const bool was_active = inotify_->writer_active();
  const EventEffects effects = inotify_->ReadEvents();
  if (effects.rewatch) RewatchLocked();
  const bool active = inotify_->writer_active();
  if (active && (!was_active || inotify_->file_write_events() != writer_events_seen_)) {
    writer_last_seen_ = now;  // the writer is (still) at work
  }
  writer_events_seen_ = inotify_->file_write_events();
  NoteFileEventsLocked();
  SetWriterActive(active);
  if (effects.reload) {
    if (was_active && !active && !closed_in_change_) {
      // The writer closed the file: debounce from here. Only the first
      // close of a change does so: were every close to, a file rewritten
      // without pause would never come due.
      closed_in_change_ = true;
      burst_start_.reset();
      change_since_.reset();
    }
    ScheduleLocked(effects.overflow ? ReloadTrigger::kRescan : ReloadTrigger::kFileChange, now);
  }
}

absl::StatusOr<FileContents> WatcherCore::ReadOwnLocked() {
  if (inotify_ != nullptr) inotify_->ExpectOwnRead();
  bool opened = false;
  absl::StatusOr<FileContents> contents = ReadFileLimited(path_, options_.max_file_size, &opened);
  if (!opened && inotify_ != nullptr) inotify_->CancelOwnRead();
  return contents;
}

void WatcherCore::NoteFileEventsLocked() {
  if (inotify_ != nullptr && inotify_->foreign_open_events() != foreign_open_events_seen_) {
    foreign_open_events_seen_ = inotify_->foreign_open_events();
    foreign_open_at_ = absl::Now();
  }
  // (A file that could not be looked at, say while its directory was not
  // searchable, is looked at again after every batch of events.)
  if (inotify_ == nullptr ||
      (inotify_->file_epoch() == file_epoch_seen_ && file_known_.error == 0)) {
    return;
  }
  file_epoch_seen_ = inotify_->file_epoch();
  file_known_ = StatPath(path_);  // after the events were read
}

bool WatcherCore::ReadSettledLocked(const FileContents& contents, std::uint64_t writes_before,
                                    Clock::time_point overdue_at, bool* wait_more) {
  const Clock::time_point now = Clock::now();
  // Refused for kUnreportedChangeWait already: a change that makes no event,
  // or readers that keep opening the file, no longer hold the read up.
  const bool waited_enough =
      unsettled_since_ && now - *unsettled_since_ >= ToClock(kUnreportedChangeWait);
  // How long ago the file last changed. A ctime slightly ahead of our clock
  // is "just now" (absl::Now() and the kernel's clock differ by a little); one
  // far ahead comes from another clock (NFS) and says nothing.
  const absl::Duration age = absl::Now() - absl::FromUnixNanos(contents.identity.ctime_ns);
  const bool our_clock = age > -kClockSlack;
  // Changed less than the debounce delay ago: its writer may still be at
  // work, or inside the system call whose event is not queued yet.
  // Past max_debounce, a file that never rests is read anyway (the checks
  // for a write during the read still hold).
  const bool fresh = our_clock && age < options_.debounce && now < overdue_at;
  if (inotify_ != nullptr && inotify_->watching_file_directory()) {
    ProcessEventsLocked(Clock::now());
    if (inotify_ == nullptr || inotify_->file_write_events() != writes_before) return false;
    // Not as it was after the last event about it: that change's event is
    // on its way, unless it never makes one (kUnreportedChangeWait).
    const bool unreported = contents.identity != file_known_ && our_clock &&
                            age < kUnreportedChangeWait && !waited_enough;
    // Opened by another process and not closed after writing since: the
    // opener may have changed it and not said so yet (IN_OPEN comes before
    // an O_TRUNC truncation, whose IN_MODIFY may come long after).
    // Bounded from the first refusal, not from the latest open: readers
    // that keep opening it must not postpone the read for ever.
    const bool opened = inotify_->foreign_opens() > 0 &&
                        absl::Now() - foreign_open_at_ < kUnreportedChangeWait && !waited_enough;
    if (fresh || unreported || opened) {
      if (!unsettled_since_) unsettled_since_ = now;
      *wait_more = true;
      return false;
    }
    unsettled_since_.reset();
    return true;
  }
  if (fresh) {
    if (!unsettled_since_) unsettled_since_ = now;
    *wait_more = true;
    return false;
  }
  unsettled_since_.reset();
  return true;
}

WatcherCore::Clock::duration WatcherCore::WriterTimeoutLocked() const {
  // A write with no open of the file seen is a truncate(2) by path, which
  // no close follows (or a writer that opened it before it was watched):
  // it is read after the debounce delay of silence.
  return ToClock(inotify_ != nullptr && inotify_->writer_unopened() ? options_.debounce
                                                                    : options_.open_writer_timeout);
}

bool WatcherCore::WriterAtWorkLocked(Clock::time_point now) {
  if (inotify_ == nullptr || !inotify_->writer_active()) return false;
  if (now - writer_last_seen_ < WriterTimeoutLocked()) return true;
  // Silent for long with the file open, or truncated by path: take what is
  // there.
  inotify_->ForgetWriter();
  SetWriterActive(false);
  return false;
}

void WatcherCore::ScheduleLocked(ReloadTrigger trigger, Clock::time_point now) {
  if (!change_since_) change_since_ = now;
  if (!burst_start_) {
    burst_start_ = now;
    pending_trigger_ = trigger;
  } else if (trigger == ReloadTrigger::kRescan) {
    pending_trigger_ = trigger;
  }
  reload_at_ =
      std::min(now + ToClock(options_.debounce), *burst_start_ + ToClock(options_.max_debounce));
}

void WatcherCore::ReloadFromThreadLocked() {
  if (stop_requested_.load(std::memory_order_acquire)) return;
  // Catch up with the events first: a writer may have started, or the file
  // changed again (then wait the debounce delay from that change).
  ProcessEventsLocked(Clock::now());
  if (WriterAtWorkLocked(Clock::now())) return;  // read once it closes the file
  if (reload_at_ && *reload_at_ > Clock::now()) return;
  const ReloadTrigger trigger = pending_trigger_;
  reload_at_.reset();
  burst_start_.reset();
  // max_debounce after the first event of the change being loaded.
  const Clock::time_point overdue_at =
      change_since_.value_or(Clock::now()) + ToClock(options_.max_debounce);
  const std::uint64_t writes_before = inotify_ != nullptr ? inotify_->file_write_events() : 0;
  bool changed_since_poll = false;
  bool wait_more = false;
  // Between the read and the parse: was the file written meanwhile?
  const ReadCheck check = [&](const FileContents& contents) {
    loop_mu_.AssertHeld();
    if (trigger == ReloadTrigger::kPoll && contents.identity != polled_) {
      // Not what two polls agreed on: the next polls will see it settle.
      changed_since_poll = true;
      return false;
    }
    return ReadSettledLocked(contents, writes_before, overdue_at, &wait_more);
  };
  {
    MutexLock lock(reload_mu_);
    bool changing;
    bool repeat;
    current_stop_request = &stop_requested_;
    const ReloadResult result = AttemptLocked(trigger, /*force=*/false, check, &changing, &repeat);
    current_stop_request = nullptr;
    if (changing && changed_since_poll) return;
    if (changing && wait_more) {
      // Changed too recently to tell whether a writer is at work: look
      // again after the debounce delay (fresh files until overdue_at, the
      // rest for kUnreportedChangeWait after the first refusal).
      ScheduleLocked(trigger, Clock::now());
      return;
    }
    if (changing && ++changing_retries_ < kMaxChangingRetries) {
      // A writer is still at work: try again after the debounce delay (or,
      // if its events were seen, once it closes the file).
      ScheduleLocked(trigger, Clock::now());
      return;
    }
    changing_retries_ = 0;
    change_since_.reset();
    closed_in_change_ = false;
    unsettled_since_.reset();
    // A parser that gave up on a stop request has nothing to report.
    if (result.outcome == ReloadResult::Outcome::kFailed &&
        stop_requested_.load(std::memory_order_acquire)) {
      return;
    }
    if (!repeat) RecordLocked(result);
  }
  // Symlinks may lead elsewhere now (a `..data` swap): watch where they lead.
  // If that changed, look once more, in case the new place changed between
  // the read and the new watch.
  if (RewatchLocked()) ScheduleLocked(ReloadTrigger::kRescan, Clock::now());
}

void WatcherCore::PollTickLocked(Clock::time_point now) {
  next_poll_ = now + ToClock(options_.poll_interval);
  {
    MutexLock lock(state_mu_);
    ++state_.polls;
  }
  if (!options_.force_polling && (inotify_ == nullptr ? retry_inotify_ : !watches_ok_)) {
    if (inotify_ == nullptr) TryInotifyLocked();
    if (inotify_ != nullptr) RewatchLocked();
    PublishWatchStateLocked();
    if (!PollingLocked()) {
      // Watching again: whatever happened meanwhile was not seen.
      ScheduleLocked(ReloadTrigger::kRescan, now);
      return;
    }
  }
  const FileIdentity identity = StatPath(path_);
  if (identity != polled_) {
    // Changed. Read it once a poll finds it the same again: a writer may be
    // at work (polling cannot see writers, only their traces).
    polled_ = identity;
    polled_since_ = now;
    poll_change_pending_ = true;
    racy_checked_ = false;
    return;
  }
  if (poll_change_pending_) {
    poll_change_pending_ = false;
    ScheduleLocked(ReloadTrigger::kPoll, now);
    return;
  }
  // Unchanged for stat(). A write within the same timestamp tick as the one
  // that made this identity could hide behind it, and would have come within
  // kRacyWindow of our first seeing the identity: hash the content once, after
  // that window, on our own clock (a file's clock may be ahead: NFS). Any
  // later write gets another timestamp.
  if (reload_at_ || identity.error != 0 || racy_checked_) return;
  if (now - polled_since_ <= kRacyWindow) return;
  racy_checked_ = true;
  absl::StatusOr<FileContents> contents = ReadOwnLocked();
  if (!contents.ok()) return;  // the reload that follows a change reports it
  CountRead(contents->bytes.size());
  MutexLock lock(reload_mu_);
  if (last_read_hash_ != contents->hash) ScheduleLocked(ReloadTrigger::kPoll, now);
}

void WatcherCore::AuditLocked(Clock::time_point now) {
  next_audit_ = now + ToClock(options_.poll_interval);
  if (reload_at_) return;  // a reload is coming anyway
  if (ResolveWatchSet(path_) != watch_set_) {
    RewatchLocked();
    ScheduleLocked(ReloadTrigger::kRescan, now);
    return;
  }
  if (WriterAtWorkLocked(now)) return;
  const FileIdentity identity = StatPath(path_);
  bool differs;
  {
    MutexLock lock(reload_mu_);
    differs = !SameContentIdentity(identity, attempted_identity_);
  }
  if (differs) ScheduleLocked(ReloadTrigger::kRescan, now);
}

void WatcherCore::Run() {
  pthread_setname_np(pthread_self(), "rcu-cfg-watch");
  loop_mu_.Lock();
  for (;;) {
    const Clock::time_point before = Clock::now();
    Clock::time_point wake = Clock::time_point::max();
    if (reload_at_) {
      // While a writer is at work, nothing is read: wake when it may be
      // taken as gone (its close wakes us earlier).
      wake = WriterAtWorkLocked(before) ? writer_last_seen_ + WriterTimeoutLocked() : *reload_at_;
    }
    wake = std::min(wake, PollingLocked() ? next_poll_ : next_audit_);
    int timeout_ms = -1;
    if (wake != Clock::time_point::max()) {
      const auto left = wake - before;
      timeout_ms =
          left <= Clock::duration::zero()
              ? 0
              : static_cast<int>(std::min<std::int64_t>(
                    std::chrono::ceil<std::chrono::milliseconds>(left).count(), 24 * 3600 * 1000));
    }
    struct pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {-1, POLLIN, 0}};
    const bool have_inotify = inotify_ != nullptr;
    if (have_inotify) fds[1].fd = inotify_->fd();
    loop_mu_.Unlock();
    const int ready = ::poll(fds, have_inotify ? 2 : 1, timeout_ms);
    const int poll_error = errno;
    loop_mu_.Lock();
    if (ready < 0 && poll_error != EINTR) {
      // Only ENOMEM is possible with valid descriptors: wait it out.
      loop_mu_.Unlock();
      absl::SleepFor(absl::Milliseconds(10));
      loop_mu_.Lock();
      continue;
    }
    if (ready > 0 && fds[0].revents != 0) break;  // Stop()

    const Clock::time_point now = Clock::now();
    if (ready > 0 && have_inotify && inotify_ != nullptr && fds[1].revents != 0) {
      if (fds[1].revents & (POLLERR | POLLNVAL)) {
        inotify_.reset();  // broken: poll from now on, and try a new one
        retry_inotify_ = true;
        watches_ok_ = false;
        watch_status_ = absl::InternalError("the inotify descriptor failed; polling instead");
        polled_ = StatPath(path_);
        polled_since_ = now;
        SetWriterActive(false);
        ScheduleLocked(ReloadTrigger::kRescan, now);
        PublishWatchStateLocked();
      } else {
        ProcessEventsLocked(now);
      }
    }
    if (PollingLocked()) {
      if (now >= next_poll_) PollTickLocked(now);
    } else if (now >= next_audit_) {
      AuditLocked(now);
    }
    if (reload_at_ && Clock::now() >= *reload_at_) ReloadFromThreadLocked();
  }
  loop_mu_.Unlock();
}

}  // namespace internal
}  // namespace rcu
