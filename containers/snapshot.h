// containers/snapshot.h: a versioned value that many threads read and a few
// replace, such as a service's configuration.
//
//   struct Config { std::string host; int port = 0; };
//
//   rcu::Snapshot<Config> config(Config{"example.com", 80});   // version 1
//
//   void Serve() {                        // any thread; never blocks
//     auto cfg = config.Load();           // one consistent version
//     Connect(cfg->host, cfg->port);      // both fields from that version
//   }
//
//   config.Update([](Config& c) { c.port = 8080; });   // copy, modify, publish
//   config.Store(Config{"example.org", 443});           // publish a new value
//
//   auto id = config.Subscribe([](const Config& c, uint64_t version) {
//     std::cout << "config v" << version << ": port " << c.port << "\n";
//   });
//   config.WaitForVersion(4, absl::Seconds(1));   // or std::chrono::seconds(1)
//   config.Unsubscribe(id);
//
// Reading. `Load()` returns a `Snapshot<T>::Handle`: a read guard
// (rcu/read_guard.h) plus a pointer to the current value and its version. It
// costs one read-side critical section and one load, never blocks, and never
// waits for writers. The value it points to is immutable and stays valid, and
// the same, for as long as the handle lives, even if newer versions are
// published meanwhile. A handle belongs to the thread that took it; keep it
// for the duration of one request, not for long: while any handle lives, no
// retired version anywhere can be reclaimed (see rcu/read_guard.h).
//
// Writing. Writers are serialized by the snapshot's own rcu::Mutex. Each
// publish (`Store`, `Emplace`, `Update`, a successful `CompareAndSwap`) gets
// the next version number: the first value published is version 1, and every
// publish adds exactly one. Version 0 means "nothing published yet", which is
// only possible for a default-constructed snapshot. A replaced value is
// reclaimed after a grace period (rcu::Retire), once no handle can see it.
// `Update(fn)` copies the current value, lets `fn` modify the copy, and
// publishes it, all under the writers' lock, so concurrent updates never lose
// each other's changes; `fn` may return false to publish nothing.
// `CompareAndSwap(v, value)` publishes only if the current version is still
// `v`, typically the version of a handle the caller read:
//
//   for (;;) {
//     auto cur = config.Load();
//     Config next = Recompute(*cur);
//     if (config.CompareAndSwap(cur.version(), std::move(next))) break;
//   }
//
// Change notification. `Subscribe(callback)` registers `callback(value,
// version)`. Callbacks run on the snapshot's notification thread (one per
// snapshot, started by the first Subscribe), outside any read-side critical
// section, so they may block or call rcu::Synchronize(). For each subscriber
// the versions delivered only grow and calls never overlap. Notifications are
// coalesced: when several versions are published while callbacks are still
// busy, a subscriber is called once with the newest of them, so it always
// ends up seeing the latest value but may skip intermediate ones. A new
// subscriber is called for versions published after it subscribed; subscribe
// first, then Load(), and nothing is missed. Callbacks must not throw (an
// exception is reported on stderr and dropped).
//
// `Unsubscribe(id)` may be called at any time from any thread, including from
// inside a callback. When it returns, that subscriber's callback is not
// running and will not run again, and its callable has been destroyed; when
// called from inside that subscriber's own callback, it returns at once and
// the current call is the last. Because it waits, do not call it while
// holding something the callback needs (a lock, a Handle whose grace period
// the callback waits for).
//
// `WaitForVersion(v, timeout)` blocks until version `v` or a later one has
// been published, or the timeout passes. Do not call it while holding a Handle.
//
// Rules:
//  - `Update`'s function runs under the writers' lock: it must not publish to
//    the same snapshot (that would deadlock; it is diagnosed and aborts).
//  - Destroying the snapshot stops and joins its notification thread;
//    undelivered notifications are dropped. Do not destroy a snapshot from one
//    of its own callbacks (diagnosed, aborts) or while other threads still use
//    it. Handles taken earlier stay valid until they end.
#ifndef CONTAINERS_SNAPSHOT_H_
#define CONTAINERS_SNAPSHOT_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <atomic>
#include <cassert>
#include <chrono>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "containers/internal/snapshot_notifier.h"
#include "rcu/call_rcu.h"
#include "rcu/internal/chrono.h"
#include "rcu/mutex.h"
#include "rcu/rcu_ptr.h"
#include "rcu/read_guard.h"

namespace rcu {

template <typename T>
class Snapshot final : private internal::SnapshotSource {
  struct Node;

 public:
  using SubscriptionId = std::uint64_t;
  using Callback = absl::AnyInvocable<void(const T& value, std::uint64_t version)>;

  // A read-guarded view of one version. See the file comment. Cannot be
  // copied or moved: it owns the calling thread's read-side critical section.
  class Handle {
   public:
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;

    // The value, or nullptr if nothing was published yet. Valid while the
    // handle lives (clang warns when it outlives a temporary handle).
    const T* get() const ABSL_ATTRIBUTE_LIFETIME_BOUND {
      return node_ == nullptr ? nullptr : &node_->value;
    }
    const T& operator*() const ABSL_ATTRIBUTE_LIFETIME_BOUND {
      assert(node_ != nullptr && "dereferencing an empty Snapshot handle");
      return node_->value;
    }
    const T* operator->() const ABSL_ATTRIBUTE_LIFETIME_BOUND {
      assert(node_ != nullptr && "dereferencing an empty Snapshot handle");
      return &node_->value;
    }
    explicit operator bool() const { return node_ != nullptr; }
    // The value's version; 0 if nothing was published yet.
    std::uint64_t version() const { return node_ == nullptr ? 0 : node_->version; }

   private:
    friend class Snapshot;
    explicit Handle(const RcuPtr<Node>& current) : node_(current.Dereference(guard_)) {}

    ReadGuard guard_;  // declared first: constructed before node_ is loaded
    const Node* const node_;
  };

  // Empty: version 0 until the first publish.
  Snapshot() : notifier_(this, 0) {}
  // Starts at version 1 with `initial`.
  explicit Snapshot(T initial) : Snapshot(std::in_place, std::move(initial)) {}
  template <typename... Args>
  explicit Snapshot(std::in_place_t, Args&&... args)
      : version_(1), current_(new Node(1, std::forward<Args>(args)...)), notifier_(this, 1) {}

  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  ~Snapshot() {
    notifier_.Stop();
    Node* last;
    {
      MutexLock lock(mu_);
      last = current_.Exchange(nullptr, mu_);
    }
    Unref(last);
  }

  // --- Reading --------------------------------------------------------------

  // The current version, read-guarded. Never blocks.
  [[nodiscard]] Handle Load() const { return Handle(current_); }

  // The current value under a guard the caller already holds, or nullptr if
  // nothing was published yet.
  const T* Dereference(const ReadGuard& guard ABSL_ATTRIBUTE_LIFETIME_BOUND) const {
    const Node* node = current_.Dereference(guard);
    return node == nullptr ? nullptr : &node->value;
  }

  // The current version number (0 if nothing was published yet).
  std::uint64_t Version() const { return Load().version(); }

  // --- Writing --------------------------------------------------------------
  // Each returns the version it published.

  std::uint64_t Store(const T& value) { return Emplace(value); }
  std::uint64_t Store(T&& value) { return Emplace(std::move(value)); }
  // Publishes `*value`, moved into the snapshot. `value` must not be null.
  std::uint64_t Store(std::unique_ptr<T> value) { return Emplace(std::move(*NotNull(value))); }

  // Publishes a T constructed from `args`.
  template <typename... Args>
  std::uint64_t Emplace(Args&&... args) {
    std::unique_ptr<Node> next = std::make_unique<Node>(0, std::forward<Args>(args)...);
    Node* old;
    std::uint64_t version;
    {
      CheckNotReentrant();
      MutexLock lock(mu_);
      version = PublishLocked(std::move(next), &old);
    }
    Unref(old);
    return version;
  }

  // Copies the current value (T() if nothing was published yet), calls
  // `fn(T& copy)` under the writers' lock, and publishes the copy. If `fn`
  // returns bool, false publishes nothing. Returns the version published, or
  // 0 if nothing was. If `fn` throws, nothing is published and the exception
  // propagates.
  template <typename F>
  std::uint64_t Update(F&& fn) {
    Node* old;
    std::uint64_t version;
    {
      CheckNotReentrant();
      MutexLock lock(mu_);
      std::unique_ptr<Node> next = CopyCurrentLocked();
      if constexpr (std::is_same_v<std::invoke_result_t<F&, T&>, bool>) {
        if (!fn(next->value)) return 0;
      } else {
        fn(next->value);
      }
      version = PublishLocked(std::move(next), &old);
    }
    Unref(old);
    return version;
  }

  // Publishes `value` only if the current version is `expected_version`
  // (0: only if nothing was published yet). True if it did; the new version
  // is then expected_version + 1.
  bool CompareAndSwap(std::uint64_t expected_version, T value) {
    return CompareAndSwapNode(expected_version, std::make_unique<Node>(0, std::move(value)));
  }
  bool CompareAndSwap(std::uint64_t expected_version, std::unique_ptr<T> value) {
    return CompareAndSwap(expected_version, std::move(*NotNull(value)));
  }

  // --- Notification ---------------------------------------------------------

  // Registers `callback(const T& value, uint64_t version)` for versions
  // published from now on. Returns an id for Unsubscribe(), never 0.
  SubscriptionId Subscribe(Callback callback) {
    return notifier_.Subscribe(
        [cb = std::move(callback)](const void* value, std::uint64_t version) mutable {
          cb(*static_cast<const T*>(value), version);
        });
  }

  // Removes a subscriber; see the file comment for what it waits for.
  // Returns false if `id` is not subscribed (any more).
  bool Unsubscribe(SubscriptionId id) { return notifier_.Unsubscribe(id); }

  // Waits until version `version` (or a later one) is published. Returns
  // false on timeout. absl::InfiniteDuration() waits forever.
  bool WaitForVersion(std::uint64_t version, absl::Duration timeout) const {
    return notifier_.WaitForVersion(version, timeout);
  }
  // The same with a std::chrono duration; `duration::max()` waits forever.
  template <typename Rep, typename Period>
  bool WaitForVersion(std::uint64_t version, std::chrono::duration<Rep, Period> timeout) const {
    return WaitForVersion(version, internal::FromChrono(timeout));
  }

 private:
  // One published version. Immutable once published, except `refs`.
  struct Node : RcuObjBase<Node> {
    template <typename... Args>
    explicit Node(std::uint64_t v, Args&&... args)
        : value(std::forward<Args>(args)...), version(v) {}

    // Readers see it only through const access; Update() modifies its copy
    // before publication.
    T value;
    // Assigned under the writers' lock before publication; then fixed.
    std::uint64_t version;
    // References that keep the node from being retired: one while it is
    // published, plus one per notifier pin. Retired (rcu::Retire) when it
    // drops to zero; never incremented from zero.
    std::atomic<std::uint32_t> refs{1};
  };

  static T* NotNull(const std::unique_ptr<T>& value) {
    if (value == nullptr) internal::SnapshotMisuse("Store/CompareAndSwap given a null unique_ptr");
    return value.get();
  }

  void CheckNotReentrant() const {
    if (mu_.HeldByCurrentThread()) {
      internal::SnapshotMisuse(
          "publishing from inside Update()'s function on the same snapshot "
          "would deadlock");
    }
  }

  std::unique_ptr<Node> CopyCurrentLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const Node* current = current_.Protected(mu_);
    if (current != nullptr) return std::make_unique<Node>(0, current->value);
    if constexpr (std::is_default_constructible_v<T>) {
      return std::make_unique<Node>(0);
    } else {
      internal::SnapshotMisuse(
          "Update() on an empty snapshot of a type that is not "
          "default-constructible: Store() a first value instead");
    }
  }

  // Publishes `next` as the next version; the caller Unref()s `*old` after
  // releasing the lock.
  std::uint64_t PublishLocked(std::unique_ptr<Node> next, Node** old)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::uint64_t version = ++version_;
    next->version = version;
    *old = current_.Exchange(next.release(), mu_);
    notifier_.Published(version);
    return version;
  }

  bool CompareAndSwapNode(std::uint64_t expected_version, std::unique_ptr<Node> next) {
    Node* old;
    {
      CheckNotReentrant();
      MutexLock lock(mu_);
      if (version_ != expected_version) return false;
      PublishLocked(std::move(next), &old);
    }
    Unref(old);
    return true;
  }

  static void Unref(Node* node) {
    if (node != nullptr && node->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      Retire(node);
    }
  }

  // internal::SnapshotSource, for the notification thread.
  internal::PinnedValue PinNewest() override {
    ReadGuard guard;
    for (;;) {
      Node* node = current_.Dereference(guard);
      if (node == nullptr) return {};
      std::uint32_t refs = node->refs.load(std::memory_order_relaxed);
      while (refs != 0) {
        if (node->refs.compare_exchange_weak(refs, refs + 1, std::memory_order_acquire,
                                             std::memory_order_relaxed)) {
          return {&node->value, node->version, node};
        }
      }
      // Its last reference was dropped after we loaded it: it has been
      // replaced, and the newer node is already visible. Load again.
    }
  }
  void Unpin(const internal::PinnedValue& pinned) override {
    Unref(static_cast<Node*>(pinned.token));
  }

  // Serializes writers.
  mutable Mutex mu_;
  // The last version published; equals current_'s version.
  std::uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  // Readers load it under a guard; writers exchange it holding mu_. Holds one
  // reference to the node it points to.
  RcuPtr<Node> current_;
  // Subscribers and version waiters. Mutable: waiting does not change the
  // snapshot.
  mutable internal::SnapshotNotifier notifier_;
};

}  // namespace rcu

#endif  // CONTAINERS_SNAPSHOT_H_
