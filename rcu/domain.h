// rcu/domain.h: independent, sleepable RCU domains (the kernel's SRCU).
//
// The default domain (rcu::ReadGuard, rcu::Synchronize) is one for the whole
// process: a reader that blocks in it holds up every grace period, and all
// memory reclamation with it. An `rcu::Domain` is a separate one. Its readers
// may block, sleep, wait for I/O or hop to another thread; they hold up only
// the grace periods of their own domain, and nobody else's readers hold up
// theirs.
//
//   rcu::Domain sessions_domain(rcu::Domain::Options{"sessions"});
//   rcu::OwnedRcuPtr<Table> table(sessions_domain);   // retired through it
//
//   void Handle(Request& r) {
//     rcu::Domain::ReadGuard guard(sessions_domain);
//     const Table* t = table.Dereference(guard);
//     Reply(r, t->Lookup(r.key), BlockingWrite);      // may sleep
//   }
//
//   void Reload(std::unique_ptr<Table> next) {        // writers, as usual
//     rcu::MutexLock lock(mu);
//     table.Replace(std::move(next), mu);   // freed after a *domain* grace period
//   }
//
// A section that is not tied to a thread, like the kernel's srcu_down_read()
// and srcu_up_read(), is a `ReadToken`: begun on one thread, moved anywhere
// (into a callback, across a co_await), ended on another. Grace periods of
// the domain wait for it; destroying or End()-ing it ends the section.
//
//   rcu::Domain::ReadToken token = domain.BeginRead();
//   const Table* t = table.Dereference(token);
//   pool.Submit([token = std::move(token), t] {
//     Use(*t);                                         // still protected
//   });                                                // ends with the task
//
// The update side is the core's, per domain: Synchronize(),
// SynchronizeExpedited(), CallRcu(), Retire(), Barrier(), and the polling
// cookies (GetState(), StartPoll(), PollState(), CondSynchronize(),
// CompletedState()), whose cookies belong to one domain.
//
// Cost. Each thread has its own pair of counters per domain, so readers on
// different threads never write the same cache line. Entering a section
// writes one counter, leaving writes another: no atomic read-modify-write, no
// fence (the grace period sends the fences instead, with membarrier(), as the
// default domain does). bench/domain_bench.cc measures it against ReadGuard
// and against a textbook RCU with one shared reader counter (README.md,
// "Domains"). A grace period costs the writer two membarrier() calls and two
// scans of every thread's counters; it waits for the domain's readers only.
//
// What sleeping readers cost. A grace period of the domain lasts as long as
// its longest reader: Synchronize() waits that long, and callbacks queued
// with CallRcu()/Retire() wait that long before they run, so memory retired
// in the meantime accumulates (bounded by backpressure, below). Readers of
// other domains, and of the default domain, are not affected.
//
// Plain and expedited grace periods. Synchronize() shares grace periods:
// concurrent callers queue, and every caller that arrived before a grace
// period started is served by it. While readers are busy it waits with
// growing sleeps (ten microseconds up to a millisecond), and asks nothing of
// the readers. SynchronizeExpedited() makes the grace period under way, and
// its own, drive hard: it polls the counters for a moment, then sleeps on a
// futex that every reader ending a section wakes, so it returns as soon as
// the last reader it waits for leaves. The price is paid by the readers,
// each of which then makes a wake-up system call, and by the waiter's
// membarrier() per wake-up. With idle readers both take the same few
// microseconds, and so they do when each busy reader has a core of its own
// (membarrier()'s IPIs dominate); expedited wins when the cores are
// oversubscribed (bench/domain_bench.cc, README.md "Domains").
//
// Rules:
//  - Do not call the domain's Synchronize(), SynchronizeExpedited(),
//    CondSynchronize() or Barrier() while this thread holds a ReadGuard of
//    the same domain (it would wait for itself: diagnosed, fatal). Holding a
//    ReadToken of the domain while waiting for its grace period waits
//    forever too; that one cannot be told from a token another thread holds,
//    and is reported as a stall.
//  - A ReadGuard belongs to its thread and cannot be moved; a ReadToken can.
//    Guards may end in any order on their thread; one ended on another
//    thread is diagnosed (fatal). A thread that exits with a guard still
//    open (leaked with `new`) is diagnosed, and its sections are ended.
//  - Sections may begin and end in signal handlers, as the default domain's.
//  - A ReadGuard or ReadToken must end before its domain is destroyed.
//    Destroying a domain with a section still open is diagnosed (fatal).
//  - Stall warnings are per domain: a grace period that has waited longer
//    than the domain's stall timeout reports, through rcu::SetStallHandler()
//    (rcu/stall.h), a StallReport of kind kDomainReaders that names the
//    domain and counts its open sections. Sections of a domain are not tied
//    to threads, so no thread is named.
//  - Callbacks of a domain run on that domain's own worker thread (started
//    on first use), after a grace period of that domain, in the order each
//    thread queued them. Their rules are the core's (rcu/call_rcu.h): no
//    throwing (reported and dropped), no Barrier() of their own domain and
//    no fork() from a callback (diagnosed, fatal).
//  - Backpressure is per domain: when more than `callback_backlog_limit`
//    callbacks wait, a thread that queues another waits until the worker has
//    caught up to half the limit. It never waits inside a ReadGuard of the
//    domain or in the domain's own callbacks, and it waits only while the
//    worker makes progress: once no batch has completed for the stall
//    timeout (one second at most, also with stall warnings off), or while
//    the domain's grace period is reported stalled, it stops waiting and
//    lets memory grow. The caller may be what holds the worker up: a
//    ReadToken it holds, or a lock that a callback wants. If no worker thread
//    can be created, callbacks wait for the next Barrier(), which runs them
//    in its own thread, and backpressure does not wait at all.
//  - Destruction runs every pending callback, each after a grace period,
//    including the callbacks those queue, then stops the worker.
//  - fork(): a domain is carried into the child as it is, and the child
//    starts new workers on demand. fork() waits for the batches of
//    callbacks that domain workers are running (not for grace periods), so
//    each pending callback runs in both processes, on their own copies. Sections open in threads
//    that do not exist in the child (their guards, and tokens only they could reach) never end
//    there, so the child's grace periods of that domain wait for them and
//    report a stall. Fork while no other thread is inside a section of a
//    domain the child uses, or make new domains in the child. A grace period
//    that was under way in the parent does not count in the child.
//
// The C++26 interface (rcu/std_rcu.h) covers only the default domain, as the
// standard does; a Domain has its own API, here.
#ifndef RCU_DOMAIN_H_
#define RCU_DOMAIN_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/time/time.h"
#include "rcu/call_rcu.h"
#include "rcu/internal/chrono.h"
#include "rcu/internal/domain_read_side.h"

namespace rcu {

class Domain {
 public:
  struct Options {
    // Names the domain in stall reports and diagnostics.
    std::string name = "rcu::Domain";
    // Grace periods waiting longer than this are reported. Zero: follow
    // rcu::StallTimeout(); negative or absl::InfiniteDuration(): never.
    absl::Duration stall_timeout = absl::ZeroDuration();
    // Backpressure threshold for this domain's callbacks (see above).
    std::size_t callback_backlog_limit = 100000;

    // stall_timeout from a std::chrono::duration (`duration::max()` is
    // absl::InfiniteDuration()), for code that does not use Abseil's time:
    //   rcu::Domain::Options{"jobs"}.set_stall_timeout(std::chrono::seconds(2))
    template <typename Rep, typename Period>
    Options& set_stall_timeout(std::chrono::duration<Rep, Period> timeout) {
      stall_timeout = internal::FromChrono(timeout);
      return *this;
    }
  };

  class ReadGuard;
  class ReadToken;
  class Cookie;

  Domain() : Domain(Options()) {}
  explicit Domain(Options options);
  // Runs the pending callbacks and stops the worker. See "Rules".
  ~Domain();

  Domain(const Domain&) = delete;
  Domain& operator=(const Domain&) = delete;

  // srcu_down_read(): begins a section that any thread may end.
  ABSL_MUST_USE_RESULT ReadToken BeginRead();

  // Waits until every section of this domain that began before the call has
  // ended. See "Plain and expedited grace periods".
  void Synchronize();
  void SynchronizeExpedited();

  // The core's deferred reclamation (rcu/call_rcu.h), after a grace period
  // of this domain. Retire(obj) of an rcu::RcuObjBase<T> allocates nothing
  // and never fails, as does CallRcu(RcuHead*, fn); the others allocate one
  // node, and throw std::bad_alloc having done nothing (the caller still
  // owns what it passed) if they cannot.
  void CallRcu(RcuHead* head, void (*callback)(RcuHead*));
  template <typename F>
  void CallRcu(F&& fn);
  template <typename T>
  void Retire(T* ptr);
  template <typename T, typename Deleter>
  void Retire(T* ptr, Deleter deleter);
  // Waits until every callback queued on this domain before the call has run.
  void Barrier();

  // Polling (rcu/grace_period.h's, per domain). A cookie remembers its
  // domain: passing it to another domain is diagnosed (fatal).
  Cookie GetState();
  Cookie StartPoll();  // also makes sure a grace period starts; never blocks
  bool PollState(const Cookie& cookie);
  void CondSynchronize(const Cookie& cookie);
  Cookie CompletedState() const;

  // True if the calling thread holds a ReadGuard of this domain.
  bool InReadSection() const;

  const std::string& name() const;

 private:
  friend struct internal::DomainAccess;

  ABSL_ATTRIBUTE_ALWAYS_INLINE internal::DomainSlot* ThisThreadSlot() {
    internal::DomainSlot* chunk =
        chunks_[internal::domain_slot_index / internal::kDomainChunkSlots].load(
            std::memory_order_acquire);
    if (ABSL_PREDICT_FALSE(chunk == nullptr)) return ThisThreadSlotSlow();
    return chunk + internal::domain_slot_index % internal::kDomainChunkSlots;
  }
  internal::DomainSlot* ThisThreadSlotSlow();

  ABSL_ATTRIBUTE_ALWAYS_INLINE unsigned Lock(internal::DomainSlot* slot) {
    const unsigned index = current_index_.load(std::memory_order_relaxed) & 1;
    if (ABSL_PREDICT_FALSE(slot == shared_slot_)) {
      shared_slot_->locks[index].fetch_add(1, std::memory_order_relaxed);
    } else {
      internal::IncrementOwnCounter<std::memory_order_relaxed>(slot->locks[index]);
    }
    internal::DomainReaderFence();
    return index;
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Unlock(internal::DomainSlot* slot, unsigned index) {
    if (ABSL_PREDICT_FALSE(slot == shared_slot_)) {
      shared_slot_->unlocks[index].fetch_add(1, std::memory_order_release);
    } else {
      internal::IncrementOwnCounter<std::memory_order_release>(slot->unlocks[index]);
    }
    // Leaving before looking for a waiting expedited grace period (the
    // waiter's membarrier() orders its side).
    internal::DomainReaderFence();
    if (ABSL_PREDICT_FALSE(gp_waiter_.load(std::memory_order_relaxed) != 0)) {
      WakeGracePeriodWaiter();
    }
  }
  void WakeGracePeriodWaiter();

  void QueueCallback(RcuHead* head, void (*callback)(RcuHead*));
  void CheckNotInOwnSection(const char* what) const;

  // Which pair of counters new sections take (its low bit); a grace period
  // flips it (rcu/domain.cc, "The grace period").
  std::atomic<unsigned> current_index_{0};
  // Nonzero while an expedited grace period sleeps (on this word, a futex)
  // waiting for readers: each reader that ends a section then wakes it.
  std::atomic<int> gp_waiter_{0};
  // Per-thread counters, by internal::domain_slot_index: chunk i holds
  // slots [i * kDomainChunkSlots, (i + 1) * kDomainChunkSlots), allocated
  // when a thread in that range first reads. Installed once, with release;
  // freed by the destructor. The last entry is always null: threads without
  // a slot index have the index that points at it.
  std::atomic<internal::DomainSlot*> chunks_[internal::kDomainMaxChunks + 1] = {};
  // For threads without a slot of their own (no index left, a chunk that
  // could not be allocated, a thread that has run its exit hook): shared,
  // so updated with atomic read-modify-writes. On the heap, so that a Domain
  // needs no more than the usual alignment (AddressSanitizer's fake stack
  // frames give no more than 32 bytes).
  internal::DomainSlot* const shared_slot_;
  // Everything else: the grace-period state, the callback queue and worker.
  std::unique_ptr<internal::DomainState> state_;
};

// RAII read-side section of a domain, on the calling thread. It is the
// evidence that RcuPtr<T>::Dereference() and OwnedRcuPtr<T>::Dereference()
// take for the domain's pointers. Guards nest, of one domain and of several.
class Domain::ReadGuard {
 public:
  ABSL_ATTRIBUTE_ALWAYS_INLINE explicit ReadGuard(Domain& domain ABSL_ATTRIBUTE_LIFETIME_BOUND)
      : domain_(domain),
        slot_(domain.ThisThreadSlot()),
        index_(domain.Lock(slot_)),
        outer_(static_cast<const ReadGuard*>(internal::domain_guards)) {
    internal::domain_guards = this;
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE ~ReadGuard() {
    if (ABSL_PREDICT_TRUE(internal::domain_guards == this)) {
      internal::domain_guards = outer_;
    } else {
      Unlink();  // not the innermost: ended out of order, or on another thread
    }
    domain_.Unlock(slot_, index_);
  }

  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;

  Domain& domain() const { return domain_; }

 private:
  friend struct internal::DomainAccess;
  // Takes this guard out of the middle of the thread's stack; fatal if it is
  // not there (a guard ended on another thread than its own).
  void Unlink();

  Domain& domain_;
  internal::DomainSlot* slot_;  // this thread's counters in domain_
  unsigned index_;              // which of them the section took
  // The thread's guards form a stack (internal::domain_guards), so that
  // Domain::InReadSection() can answer without touching the counters.
  // Changed only by Unlink() of the guard inside it.
  mutable const ReadGuard* outer_;
};

// A section that is not tied to a thread (srcu_down_read/srcu_up_read).
// Movable; the section ends when End() is called or the token is destroyed,
// on whichever thread that happens. An empty (default-constructed or
// moved-from) token holds no section. It refers to its domain, which must
// outlive the section.
class [[nodiscard]] Domain::ReadToken {
 public:
  ReadToken() noexcept = default;
  ReadToken(ReadToken&& other) noexcept
      : domain_(std::exchange(other.domain_, nullptr)), index_(other.index_) {}
  ReadToken& operator=(ReadToken&& other) noexcept {
    if (this != &other) {
      End();
      domain_ = std::exchange(other.domain_, nullptr);
      index_ = other.index_;
    }
    return *this;
  }
  ~ReadToken() { End(); }

  // srcu_up_read(): ends the section, on the calling thread. Idempotent.
  void End() noexcept {
    if (domain_ != nullptr) {
      Domain* domain = std::exchange(domain_, nullptr);
      domain->Unlock(domain->ThisThreadSlot(), index_);
    }
  }

  // True while the token holds a section.
  bool active() const { return domain_ != nullptr; }
  explicit operator bool() const { return active(); }
  // The domain of the section; nullptr if none.
  Domain* domain() const { return domain_; }

 private:
  friend class Domain;
  ReadToken(Domain* domain, unsigned index) : domain_(domain), index_(index) {}

  Domain* domain_ = nullptr;  // null: no section
  unsigned index_ = 0;
};

// A grace-period cookie of one domain (see rcu/grace_period.h for the
// meaning of each call). Copyable; the default cookie reads as completed.
class Domain::Cookie {
 public:
  Cookie() = default;
  friend bool operator==(const Cookie& a, const Cookie& b) {
    return a.domain_serial_ == b.domain_serial_ && a.completed_ == b.completed_ &&
           (a.completed_ || a.sequence_ == b.sequence_);
  }
  friend bool operator!=(const Cookie& a, const Cookie& b) { return !(a == b); }

 private:
  friend class Domain;
  friend struct internal::DomainAccess;
  std::uint64_t domain_serial_ = 0;  // 0: any domain (completed cookies only)
  std::uint64_t sequence_ = 0;       // the grace-period sequence that completes it
  bool completed_ = true;
};

// ---------------------------------------------------------------------------
// Implementation details.

namespace internal {
// What rcu/domain.cc and the debug checks reach of a Domain.
struct DomainAccess {
  static std::atomic<DomainSlot*>* Chunks(Domain& d) { return d.chunks_; }
  static DomainSlot& SharedSlot(Domain& d) { return *d.shared_slot_; }
  static std::atomic<unsigned>& CurrentIndex(Domain& d) { return d.current_index_; }
  static std::atomic<int>& GracePeriodWaiter(Domain& d) { return d.gp_waiter_; }
  // Walking the calling thread's stack of Domain::ReadGuards.
  static bool GuardIsOf(const void* guard, const Domain& domain);
  static const void* OuterGuard(const void* guard);
  // Ends a leaked guard's section (its thread is exiting).
  static void EndSection(const void* guard);
};
}  // namespace internal

inline Domain::ReadToken Domain::BeginRead() { return ReadToken(this, Lock(ThisThreadSlot())); }

template <typename F>
void Domain::CallRcu(F&& fn) {
  using Node = internal::CallbackNode<std::decay_t<F>>;
  auto* node = new Node(std::forward<F>(fn));
  CallRcu(static_cast<RcuHead*>(node), &Node::Run);
}

template <typename T, typename Deleter>
void Domain::Retire(T* ptr, Deleter deleter) {
  if (ptr == nullptr) return;
  // Out of memory, this throws std::bad_alloc having done nothing: waiting
  // for a grace period here instead (as rcu::Retire() does outside a
  // section) could wait forever for a ReadToken the caller holds.
  CallRcu([ptr, d = std::move(deleter)]() mutable { d(ptr); });
}

template <typename T>
void Domain::Retire(T* ptr) {
  if (ptr == nullptr) return;
  if constexpr (internal::IsRcuObj<T>::value) {
    CallRcu(internal::RcuObjAccess::Head(ptr), &internal::RcuObjAccess::Delete<T>);
  } else {
    Retire(ptr, std::default_delete<T>());
  }
}

}  // namespace rcu

#endif  // RCU_DOMAIN_H_
