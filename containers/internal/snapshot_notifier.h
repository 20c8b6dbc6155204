// Internal: the change-notification half of rcu::Snapshot<T>, independent of
// T. It keeps the subscribers, runs their callbacks on one notification
// thread per snapshot, and wakes threads blocked in WaitForVersion().
//
// Not part of the public API; see containers/snapshot.h.
#ifndef CONTAINERS_INTERNAL_SNAPSHOT_NOTIFIER_H_
#define CONTAINERS_INTERNAL_SNAPSHOT_NOTIFIER_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "rcu/mutex.h"

namespace rcu {
namespace internal {

// Reports "rcu::Snapshot: <message>" through the diagnostics channel
// (rcu/diagnostics.h, kContainerMisuse, fatal). For misuse that would
// otherwise deadlock or corrupt memory.
[[noreturn]] void SnapshotMisuse(const char* message);

// A published value held so that it stays valid outside any read-side
// critical section, until SnapshotSource::Unpin().
struct PinnedValue {
  const void* value = nullptr;  // the T; nullptr if nothing was published
  std::uint64_t version = 0;
  void* token = nullptr;  // the source's own handle for Unpin()
};

// What the notifier needs from the typed snapshot.
class SnapshotSource {
 public:
  // Pins the newest published value. Called by the notification thread,
  // outside any read-side critical section.
  virtual PinnedValue PinNewest() = 0;
  virtual void Unpin(const PinnedValue& pinned) = 0;

 protected:
  ~SnapshotSource() = default;
};

class SnapshotNotifier {
 public:
  // Receives a pointer to the T and its version.
  using Callback = absl::AnyInvocable<void(const void* value, std::uint64_t version)>;

  // `initial_version` is the version the snapshot starts with (0 or 1).
  SnapshotNotifier(SnapshotSource* source, std::uint64_t initial_version)
      : source_(source), published_(initial_version) {}
  ~SnapshotNotifier() { Stop(); }

  SnapshotNotifier(const SnapshotNotifier&) = delete;
  SnapshotNotifier& operator=(const SnapshotNotifier&) = delete;

  // Records that `version` was published. Publishers call it in version
  // order, while holding the snapshot's writers' lock.
  void Published(std::uint64_t version);

  // Adds a subscriber that will see every version after the current one.
  // Starts the notification thread on first use. Returns an id > 0.
  std::uint64_t Subscribe(Callback callback);

  // Removes a subscriber. Unless called on the notification thread, waits
  // until its callback is not running. False if `id` is unknown.
  bool Unsubscribe(std::uint64_t id);

  // Blocks until `version` has been published or `timeout` has passed.
  bool WaitForVersion(std::uint64_t version, absl::Duration timeout);

  // Stops and joins the notification thread; later publishes notify nobody.
  // Idempotent. Must not be called from a callback.
  void Stop();

 private:
  // One subscriber. `callback` is set at subscription and then only invoked,
  // by the notification thread, without `mu_` held.
  struct Subscriber {
    explicit Subscriber(Callback cb) : callback(std::move(cb)) {}
    Callback callback;
  };
  struct Entry {
    std::shared_ptr<Subscriber> subscriber;
    // The last version delivered to (or skipped for) this subscriber.
    // Only ever grows; delivery targets versions above it.
    std::uint64_t last_version;
  };

  void Run();
  bool AnyBehindLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DeliverLocked(const PinnedValue& pinned) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  SnapshotSource* const source_;

  mutable rcu::Mutex mu_;
  // Signalled on every publish (if anyone listens) and on Stop().
  std::condition_variable_any wake_cv_;
  // Signalled whenever a callback returns, for Unsubscribe().
  std::condition_variable_any idle_cv_;

  // The highest version published so far. Only grows.
  std::uint64_t published_ ABSL_GUARDED_BY(mu_);
  // Threads blocked in WaitForVersion(); Published() skips notifying when
  // zero and no notification thread runs.
  int waiters_ ABSL_GUARDED_BY(mu_) = 0;
  // Keyed by id, so callbacks run in subscription order within a version.
  std::map<std::uint64_t, Entry> subscribers_ ABSL_GUARDED_BY(mu_);
  std::uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  // The subscriber whose callback is running now, or 0.
  std::uint64_t running_id_ ABSL_GUARDED_BY(mu_) = 0;
  // Started by the first Subscribe(); joinable until Stop() takes it.
  std::thread thread_ ABSL_GUARDED_BY(mu_);
  // The notification thread's id, kept after Stop() so a late Unsubscribe()
  // from a callback is still recognized.
  std::thread::id thread_id_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace internal
}  // namespace rcu

#endif  // CONTAINERS_INTERNAL_SNAPSHOT_NOTIFIER_H_
