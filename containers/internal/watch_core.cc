// The T-independent half of rcu::ConfigWatcher: watcher thread, reload
// pipeline, status.
#include "containers/internal/watch_core.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace rcu {
namespace internal {
namespace {

// Attempts while a writer is still at work on the file, before the read is
// reported as failed.
constexpr int kMaxChangingRetries = 10;

// File systems stamp mtime from a coarse clock (a few milliseconds), so two
// same-size writes close together can leave size, mtime and ctime equal.
// Polling therefore also hashes a file modified this recently (as git
// re-checks "racily clean" files).
constexpr absl::Duration kRacyWindow = absl::Seconds(2);

// An option's duration on the steady clock, capped so that adding it to
// now() cannot overflow (absl::InfiniteDuration() means "a century").
std::chrono::steady_clock::duration ToClock(absl::Duration d) {
  const absl::Duration century = absl::Hours(24 * 365 * 100);
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(std::clamp(d, absl::ZeroDuration(), century)));
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
  if (!options_.force_polling) {
    absl::StatusOr<std::unique_ptr<Inotify>> inotify = Inotify::Create();
    if (inotify.ok()) {
      inotify_ = *std::move(inotify);
    } else {
      watch_status_ = inotify.status();
    }
  }
  Rewatch();
  polled_ = StatPath(path_);
  next_poll_ = Clock::now() + ToClock(options_.poll_interval);
  {
    MutexLock lock(reload_mu_);
    const ReloadResult first =
        AttemptWithRetriesLocked(ReloadTrigger::kInitial, /*force=*/true);
    if (first.outcome == ReloadResult::Outcome::kFailed && options_.require_initial_load) {
      return first.status;
    }
  }
  MutexLock lock(thread_mu_);
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

WatcherCore::~WatcherCore() {
  Stop();
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

void WatcherCore::Stop() {
  std::thread thread;
  {
    MutexLock lock(thread_mu_);
    thread = std::move(thread_);
  }
  if (!thread.joinable()) return;
  if (thread.get_id() == std::this_thread::get_id()) {
    std::fprintf(stderr,
                 "rcu::ConfigWatcher: Stop() or the destructor called from the watcher's own "
                 "thread (an on_reload listener or a snapshot callback run by it?); it "
                 "cannot join itself\n");
    std::abort();
  }
  const std::uint64_t one = 1;
  while (::write(stop_fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
  thread.join();
}

ReloadResult WatcherCore::Reload() {
  MutexLock lock(reload_mu_);
  return AttemptWithRetriesLocked(ReloadTrigger::kManual, /*force=*/true);
}

WatcherStatus WatcherCore::Status() const {
  WatcherStatus status;
  {
    MutexLock lock(state_mu_);
    status = state_;
  }
  status.version = current_version_();
  return status;
}

ReloadResult WatcherCore::AttemptLocked(ReloadTrigger trigger, bool force, bool* changing,
                                        bool* repeat) {
  *changing = false;
  *repeat = false;
  ReloadResult result;
  result.trigger = trigger;
  result.time = absl::Now();
  result.outcome = ReloadResult::Outcome::kFailed;

  absl::StatusOr<FileContents> contents = ReadFileLimited(path_, options_.max_file_size);
  if (!contents.ok()) {
    *changing = IsChangedWhileReading(contents.status());
    failed_hash_.reset();  // whatever comes back must be looked at again
    result.status = contents.status();
    result.version = current_version_();
    return result;
  }
  result.bytes = contents->bytes.size();
  CountRead(result.bytes);
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
  ReloadResult result;
  for (int attempt = 1;; ++attempt) {
    bool changing;
    bool repeat;
    result = AttemptLocked(trigger, force, &changing, &repeat);
    if (!changing || attempt >= kMaxChangingRetries) break;
    // A writer is at work on the file: give it the debounce delay.
    absl::SleepFor(options_.debounce);
  }
  RecordLocked(result);
  return result;
}

void WatcherCore::RecordLocked(const ReloadResult& result) {
  {
    MutexLock lock(state_mu_);
    state_.last_attempt_time = result.time;
    state_.last_status = result.status;
    switch (result.outcome) {
      case ReloadResult::Outcome::kPublished:
        ++state_.reloads_published;
        state_.last_success_time = result.time;
        break;
      case ReloadResult::Outcome::kUnchanged:
        ++state_.reloads_unchanged;
        state_.last_success_time = result.time;
        break;
      case ReloadResult::Outcome::kFailed:
        ++state_.reloads_failed;
        state_.last_failure_time = result.time;
        state_.last_error = result.status;
        break;
    }
  }
  if (options_.on_reload) options_.on_reload(result);
}

// --- The watcher thread -------------------------------------------------------

bool WatcherCore::Polling() const {
  return options_.force_polling || inotify_ == nullptr || !watches_ok_;
}

void WatcherCore::PublishWatchState() {
  const bool polling = Polling();
  std::vector<std::string> dirs;
  if (inotify_ != nullptr) dirs = inotify_->WatchedDirectories();
  MutexLock lock(state_mu_);
  state_.polling = polling;
  state_.watch_status = watch_status_;
  state_.watched_directories = std::move(dirs);
}

bool WatcherCore::Rewatch() {
  WatchSet set = ResolveWatchSet(path_);
  const bool changed = !(set == watch_set_);
  const bool was_polling = Polling();
  if (inotify_ != nullptr) {
    watch_status_ = inotify_->Sync(set);
    watches_ok_ = watch_status_.ok();
  }
  watch_set_ = std::move(set);
  if (!was_polling && Polling()) {
    // Lost a directory (deleted, or the watch limit hit): from here on,
    // polling finds changes, starting from what is there now.
    polled_ = StatPath(path_);
  }
  PublishWatchState();
  return changed;
}

void WatcherCore::Schedule(ReloadTrigger trigger, Clock::time_point now) {
  if (!burst_start_) {
    burst_start_ = now;
    pending_trigger_ = trigger;
  } else if (trigger == ReloadTrigger::kRescan) {
    pending_trigger_ = trigger;
  }
  reload_at_ = std::min(now + ToClock(options_.debounce),
                        *burst_start_ + ToClock(options_.max_debounce));
}

void WatcherCore::ReloadFromThread() {
  const ReloadTrigger trigger = pending_trigger_;
  reload_at_.reset();
  burst_start_.reset();
  {
    MutexLock lock(reload_mu_);
    bool changing;
    bool repeat;
    const ReloadResult result = AttemptLocked(trigger, /*force=*/false, &changing, &repeat);
    if (changing && ++changing_retries_ < kMaxChangingRetries) {
      // A writer is still at work: try again after the debounce delay.
      Schedule(trigger, Clock::now());
      return;
    }
    changing_retries_ = 0;
    if (!repeat) RecordLocked(result);
  }
  // Symlinks may lead elsewhere now (a `..data` swap): watch where they lead.
  // If that changed, look once more, in case the new place changed between
  // the read and the new watch.
  if (Rewatch()) Schedule(ReloadTrigger::kRescan, Clock::now());
}

void WatcherCore::CountRead(std::size_t bytes) {
  MutexLock lock(state_mu_);
  ++state_.files_read;
  state_.bytes_read += bytes;
}

void WatcherCore::PollTick(Clock::time_point now) {
  next_poll_ = now + ToClock(options_.poll_interval);
  {
    MutexLock lock(state_mu_);
    ++state_.polls;
  }
  if (inotify_ != nullptr && !watches_ok_) {
    Rewatch();
    // Watching again: whatever happened meanwhile was not seen.
    if (!Polling()) Schedule(ReloadTrigger::kRescan, now);
  }
  const FileIdentity identity = StatPath(path_);
  if (identity != polled_) {
    polled_ = identity;
    Schedule(ReloadTrigger::kPoll, now);
    return;
  }
  if (reload_at_ || identity.error != 0 ||
      absl::FromUnixNanos(identity.mtime_ns) < absl::Now() - kRacyWindow) {
    return;
  }
  absl::StatusOr<FileContents> contents = ReadFileLimited(path_, options_.max_file_size);
  if (!contents.ok()) return;  // the reload that follows a change reports it
  CountRead(contents->bytes.size());
  MutexLock lock(reload_mu_);
  if (last_read_hash_ != contents->hash) Schedule(ReloadTrigger::kPoll, now);
}

void WatcherCore::Run() {
  pthread_setname_np(pthread_self(), "rcu-cfg-watch");
  for (;;) {
    Clock::time_point wake = Clock::time_point::max();
    if (reload_at_) wake = std::min(wake, *reload_at_);
    if (Polling()) wake = std::min(wake, next_poll_);
    int timeout_ms = -1;
    if (wake != Clock::time_point::max()) {
      const auto left = wake - Clock::now();
      timeout_ms = left <= Clock::duration::zero()
                       ? 0
                       : static_cast<int>(std::min<std::int64_t>(
                             std::chrono::ceil<std::chrono::milliseconds>(left).count(),
                             24 * 3600 * 1000));
    }
    struct pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {-1, POLLIN, 0}};
    if (inotify_ != nullptr) fds[1].fd = inotify_->fd();
    const int ready = ::poll(fds, inotify_ != nullptr ? 2 : 1, timeout_ms);
    if (ready < 0 && errno != EINTR) {
      // Only ENOMEM is possible with valid descriptors: wait it out.
      absl::SleepFor(absl::Milliseconds(10));
      continue;
    }
    if (ready > 0 && fds[0].revents != 0) return;  // Stop()

    const Clock::time_point now = Clock::now();
    if (ready > 0 && inotify_ != nullptr && fds[1].revents != 0) {
      if (fds[1].revents & (POLLERR | POLLNVAL)) {
        inotify_.reset();  // broken: poll from now on
        watches_ok_ = false;
        watch_status_ = absl::InternalError("the inotify descriptor failed; polling instead");
        polled_ = StatPath(path_);
        Schedule(ReloadTrigger::kRescan, now);
        PublishWatchState();
      } else {
        const EventEffects effects = inotify_->ReadEvents();
        if (effects.rewatch) Rewatch();
        if (effects.reload) {
          Schedule(effects.overflow ? ReloadTrigger::kRescan : ReloadTrigger::kFileChange, now);
        }
      }
    }
    if (Polling() && now >= next_poll_) PollTick(now);
    if (reload_at_ && Clock::now() >= *reload_at_) ReloadFromThread();
  }
}

}  // namespace internal
}  // namespace rcu
