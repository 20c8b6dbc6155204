// The notification thread and version waiters of rcu::Snapshot<T>.
#include "containers/internal/snapshot_notifier.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <string>
#include <utility>

#include "rcu/diagnostics.h"
#include "rcu/internal/report.h"

namespace rcu {
namespace internal {

void SnapshotMisuse(const char* message) {
  Report(Diagnostic::Kind::kContainerMisuse, true, std::string("rcu::Snapshot: ") + message);
  std::abort();  // Report() has aborted already; this tells the compiler so
}

void SnapshotNotifier::Published(std::uint64_t version) {
  rcu::MutexLock lock(mu_);
  published_ = std::max(published_, version);
  if (waiters_ > 0 || thread_.joinable()) wake_cv_.notify_all();
}

std::uint64_t SnapshotNotifier::Subscribe(Callback callback) {
  rcu::MutexLock lock(mu_);
  const std::uint64_t id = next_id_++;
  subscribers_.emplace(id, Entry{std::make_shared<Subscriber>(std::move(callback)), published_});
  if (!thread_.joinable() && !stop_) {
    thread_ = std::thread([this] { Run(); });
    thread_id_ = thread_.get_id();
  }
  return id;
}

bool SnapshotNotifier::Unsubscribe(std::uint64_t id) {
  std::shared_ptr<Subscriber> removed;  // destroyed after mu_ is released
  {
    rcu::MutexLock lock(mu_);
    auto it = subscribers_.find(id);
    if (it == subscribers_.end()) return false;
    removed = std::move(it->second.subscriber);
    subscribers_.erase(it);
    // On the notification thread, the callback running now (if it is this
    // subscriber's) is our caller: waiting would deadlock, and no other
    // callback can be running.
    if (std::this_thread::get_id() != thread_id_) {
      while (running_id_ == id) idle_cv_.wait(mu_);
    }
  }
  return true;
}

bool SnapshotNotifier::WaitForVersion(std::uint64_t version, absl::Duration timeout) {
  using Clock = std::chrono::steady_clock;
  // Beyond about a century a deadline would overflow the clock: wait forever.
  const bool forever = timeout > absl::Hours(24 * 365 * 100);
  const Clock::time_point deadline =
      forever
          ? Clock::time_point::max()
          : Clock::now() + std::chrono::duration_cast<Clock::duration>(
                               absl::ToChronoNanoseconds(std::max(timeout, absl::ZeroDuration())));
  rcu::MutexLock lock(mu_);
  ++waiters_;
  while (published_ < version) {
    if (forever) {
      wake_cv_.wait(mu_);
    } else if (wake_cv_.wait_until(mu_, deadline) == std::cv_status::timeout) {
      break;
    }
  }
  --waiters_;
  return published_ >= version;
}

void SnapshotNotifier::Stop() {
  std::thread thread;
  {
    rcu::MutexLock lock(mu_);
    stop_ = true;
    wake_cv_.notify_all();
    if (thread_.joinable() && std::this_thread::get_id() == thread_id_) {
      SnapshotMisuse(
          "a Snapshot was destroyed from one of its own subscriber callbacks; "
          "its notification thread cannot join itself");
    }
    thread = std::move(thread_);
  }
  if (thread.joinable()) thread.join();
}

bool SnapshotNotifier::AnyBehindLocked() const {
  for (const auto& [id, entry] : subscribers_) {
    if (entry.last_version < published_) return true;
  }
  return false;
}

void SnapshotNotifier::Run() {
  pthread_setname_np(pthread_self(), "rcu-snapshot");
  mu_.Lock();
  for (;;) {
    while (!stop_ && !AnyBehindLocked()) wake_cv_.wait(mu_);
    if (stop_) break;
    // Pinning enters a read-side critical section briefly; do it without
    // the lock so publishers are never held up by it.
    mu_.Unlock();
    const PinnedValue pinned = source_->PinNewest();
    mu_.Lock();
    if (pinned.token == nullptr) continue;  // cannot happen once published_ > 0
    DeliverLocked(pinned);
    mu_.Unlock();
    source_->Unpin(pinned);
    mu_.Lock();
  }
  mu_.Unlock();
}

void SnapshotNotifier::DeliverLocked(const PinnedValue& pinned) {
  // Walk the subscribers in id order. The map may change while a callback
  // runs (the lock is released), so resume after the last id visited.
  std::uint64_t after_id = 0;
  while (!stop_) {
    auto it = subscribers_.upper_bound(after_id);
    while (it != subscribers_.end() && it->second.last_version >= pinned.version) ++it;
    if (it == subscribers_.end()) return;
    const std::uint64_t id = it->first;
    after_id = id;
    std::shared_ptr<Subscriber> subscriber = it->second.subscriber;
    running_id_ = id;
    mu_.Unlock();
    try {
      subscriber->callback(pinned.value, pinned.version);
    } catch (const std::exception& e) {
      Report(Diagnostic::Kind::kListenerThrew, false,
             "rcu::Snapshot: subscriber " + std::to_string(id) + "'s callback threw (" + e.what() +
                 ") for version " + std::to_string(pinned.version) +
                 "; callbacks must not throw. Ignored.");
    } catch (...) {
      Report(Diagnostic::Kind::kListenerThrew, false,
             "rcu::Snapshot: subscriber " + std::to_string(id) + "'s callback threw for version " +
                 std::to_string(pinned.version) + "; callbacks must not throw. Ignored.");
    }
    // If the callback unsubscribed, this drops the last reference and
    // destroys the callback here, before running_id_ is cleared, so that
    // Unsubscribe() returns only after it is gone.
    subscriber.reset();
    mu_.Lock();
    running_id_ = 0;
    auto again = subscribers_.find(id);
    if (again != subscribers_.end()) {
      again->second.last_version = std::max(again->second.last_version, pinned.version);
    }
    idle_cv_.notify_all();
  }
}

}  // namespace internal
}  // namespace rcu
