// containers/intrusive_rcu_list.h: an RCU list of your own objects, linked
// through a hook embedded in them, like the kernel's `struct list_head`.
//
// The list allocates nothing and owns nothing: you create the objects, link
// them, and decide what happens to them after they are removed. Readers walk
// it exactly as they walk an rcu::RcuList (containers/rcu_list.h).
//
//   struct Session {
//     std::string user;
//     std::atomic<std::int64_t> last_seen{0};  // readers may update it
//     rcu::IntrusiveListHook hook;             // the list's links
//   };
//
//   rcu::Mutex mu;                             // serializes writers
//   rcu::IntrusiveRcuList<Session, &Session::hook> sessions;
//
//   void Open(std::unique_ptr<Session> s) {
//     rcu::MutexLock lock(mu);
//     sessions.push_back(mu, *s.release());    // the list does not own it
//   }
//
//   bool Active(std::string_view user) {       // readers: any thread
//     rcu::ReadGuard guard;
//     for (const Session& s : sessions.Iterate(guard)) {
//       if (s.user == user) return true;
//     }
//     return false;
//   }
//
//   void Close(Session& s) {
//     Session* removed;
//     {
//       rcu::MutexLock lock(mu);
//       removed = sessions.erase(mu, s);       // handed back to you
//     }
//     rcu::Retire(removed);                    // deleted after a grace period
//   }
//
//   void CloseIdle() {                         // bulk removal with a disposer,
//     rcu::MutexLock lock(mu);                 // called after a grace period
//     sessions.remove_if(mu, [](const Session& s) { return Idle(s); },
//                        std::default_delete<Session>());
//   }
//
// Ownership:
//  - The list never allocates, copies, moves or destroys your objects. An
//    object must stay alive, at the same address, while it is linked, and
//    for a grace period after it is removed, because readers may still be
//    standing on it.
//  - erase() and replace() hand the removed object back (a T*; nullptr if it
//    was not in the list). It is yours again, but readers may still see it
//    until a grace period has elapsed: free it with rcu::Retire(p) (or
//    rcu::Retire(p, deleter)), or call rcu::Synchronize() first. Do not link
//    it again before that grace period either: a reader standing on it would
//    follow it to its new position and could then skip or repeat elements.
//  - remove_if() and clear() take a disposer instead, called as
//    `disposer(T*)` for each removed object AFTER a grace period, on the RCU
//    callback thread, in no particular order. Until it has run, the object
//    must stay alive and must not be linked again (its hook still chains the
//    removal batch): linking it in any list before that is reported as
//    misuse (rcu/diagnostics.h, kContainerMisuse, fatal) instead of
//    corrupting the batch. The callback resets the hook first; when the
//    disposer runs, no reader can reach the object and its hook is unlinked:
//    it may delete the object, recycle it, or link it again (taking the
//    writers' lock). It must
//    not throw (one that does is reported by the core, rcu/diagnostics.h; the
//    other objects are still disposed of). Each such call allocates one small
//    record (before changing anything: if that throws, nothing changes) and
//    queues one callback, however many objects it removed.
//  - Destroying a list that still has elements is a bug (debug builds
//    abort): clear() it first. A hook destroyed while linked is a bug too
//    (debug builds abort).
//  - An object may be in several lists at once, with one hook per list; a
//    hook is in at most one list at a time. Passing an object or position
//    that belongs to another list is undefined (not detected).
//
// Writers hold the lock that serializes this list's writers (any lock type;
// rcu::Mutex is TSan-visible and can tell its holder) and pass it as the first
// argument of every writer method, as evidence: the methods are annotated
// ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) for clang's -Wthread-safety and check it
// in debug builds when the lock has HeldByCurrentThread(). Readers never
// take it. Do not wait for a grace period while holding it (a reader may be
// waiting for the lock inside its read-side section).
//
// The list never waits. In particular the callback that remove_if() and
// clear() queue skips the callback backlog's backpressure (rcu/call_rcu.h):
// they run under your lock, and a disposer may take that lock on the
// callback thread, so waiting there for the callback thread to catch up
// could deadlock. Each call adds one callback however many objects it
// removed; nothing throttles a storm of them. If a thread removes in a storm
// while a reader may stall, release the lock now and then and call
// rcu::Barrier() there (outside read-side sections), or retire through
// erase() and rcu::Retire() after unlocking, which backpressure does cover.
//
// Everything else works as in rcu::RcuList: the traversal guarantee (every
// object linked throughout a traversal is seen exactly once, in order),
// positional methods that return false or nullptr when their position was
// removed meanwhile, size() semantics, and non-copyable, non-movable lists.
// Readers see `const T&`; change objects in place only through fields that
// readers are designed to see change (atomics).
//
// Memory: the hook is 16 bytes (two pointers) on 64-bit targets; the list
// is 24 bytes.
#ifndef CONTAINERS_INTRUSIVE_RCU_LIST_H_
#define CONTAINERS_INTRUSIVE_RCU_LIST_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <atomic>
#include <cstddef>
#include <cstring>
#include <exception>
#include <memory>
#include <type_traits>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/base/thread_annotations.h"
#include "absl/cleanup/cleanup.h"
#include "containers/internal/rcu_list_links.h"
#include "rcu/call_rcu.h"
#include "rcu/internal/callbacks.h"
#include "rcu/internal/checks.h"
#include "rcu/internal/negative_control.h"
#include "rcu/internal/report.h"
#include "rcu/rcu_ptr.h"
#include "rcu/read_guard.h"

namespace rcu {

namespace internal {
struct HookAccess;
}  // namespace internal

// The links an object needs to be in one IntrusiveRcuList. Copying an object
// copies no links: a copy's hook starts unlinked, and assigning to a hook
// leaves it as it is.
class IntrusiveListHook {
 public:
  IntrusiveListHook() noexcept = default;
  IntrusiveListHook(const IntrusiveListHook&) noexcept : IntrusiveListHook() {}
  IntrusiveListHook& operator=(const IntrusiveListHook&) noexcept { return *this; }
  ~IntrusiveListHook() {
    RCU_INTERNAL_DCHECK(!links_.IsLinked(),
                        "rcu::IntrusiveListHook destroyed while its object is still "
                        "in a list");
  }

  // True while the object is in a list. Only meaningful to a writer holding
  // that list's lock (or when no writer runs).
  bool is_linked() const noexcept { return links_.IsLinked(); }

 private:
  friend struct internal::HookAccess;
  // Written only by the writers of the list the hook is in; see ListLinks.
  internal::ListLinks links_;
};

namespace internal {

struct HookAccess {
  static ListLinks* Links(IntrusiveListHook& hook) noexcept { return &hook.links_; }
  static IntrusiveListHook* FromLinks(ListLinks* links) noexcept {
    static_assert(std::is_standard_layout_v<IntrusiveListHook>,
                  "links_ must be pointer-interconvertible with the hook");
    return reinterpret_cast<IntrusiveListHook*>(links);
  }
};

// The byte offset of the hook within T. A pointer to data member holds that
// offset in the Itanium C++ ABI (GCC and clang on every Unix-like target);
// IntrusiveRcuList checks it against real objects in debug builds.
template <typename T, IntrusiveListHook T::*Hook>
std::ptrdiff_t HookOffset() noexcept {
  static_assert(sizeof(Hook) == sizeof(std::ptrdiff_t),
                "rcu::IntrusiveRcuList needs the Itanium C++ ABI's member pointers");
  constexpr IntrusiveListHook T::*member = Hook;
  std::ptrdiff_t offset;
  std::memcpy(&offset, &member, sizeof offset);
  return offset;
}

template <typename T, IntrusiveListHook T::*Hook>
struct IntrusiveListTraits {
  static T* Project(ListLinks* links) noexcept {
    char* hook = reinterpret_cast<char*>(HookAccess::FromLinks(links));
    return reinterpret_cast<T*>(hook - HookOffset<T, Hook>());
  }
  static ListLinks* LinksOf(const T& obj) noexcept {
    ListLinks* links = HookAccess::Links(const_cast<T&>(obj).*Hook);
    RCU_INTERNAL_DCHECK(Project(links) == &obj,
                        "rcu::IntrusiveRcuList: hook offset does not match the object");
    return links;
  }
};

// The record behind a bulk removal: the disposer and the chain of removed
// objects, queued as one RCU callback.
template <typename T, IntrusiveListHook T::*Hook, typename Disposer>
class DisposalBatch final : public RcuHead {
 public:
  explicit DisposalBatch(Disposer disposer) : disposer_(std::move(disposer)) {}

  RemovalChain& chain() noexcept { return chain_; }

  // Queues the disposal of everything in the chain (or frees the record if
  // the chain is empty). Consumes the batch. Called under the writers' lock,
  // which the disposer may take: so it never waits for the callback backlog
  // (the callback thread may be blocked on that lock in an earlier disposer).
  static void Submit(std::unique_ptr<DisposalBatch> batch) noexcept {
    if (batch->chain_.empty()) return;
    DisposalBatch* raw = batch.release();
#if RCU_BUG_PUT_BACK(LIST_SKIP_GRACE_PERIOD)
    Run(raw);  // the stress test's negative control: no grace period
#else
    CallRcuWithoutBackpressure(raw, &Run);
#endif
  }

 private:
  // The RCU callback. Resets each hook to unlinked before handing the object
  // to the disposer. If a disposer throws, the rest are still disposed and
  // the first exception is rethrown for the core to report.
  static void Run(RcuHead* head) {
    std::unique_ptr<DisposalBatch> batch(static_cast<DisposalBatch*>(head));
    std::exception_ptr first_error;
    for (ListLinks* links = batch->chain_.Release(); links != nullptr;) {
      ListLinks* next = RemovalChain::Next(links);
      links->next.store(nullptr, std::memory_order_relaxed);
      links->prev = 0;
      try {
        batch->disposer_(IntrusiveListTraits<T, Hook>::Project(links));
      } catch (...) {
        if (!first_error) first_error = std::current_exception();
      }
      links = next;
    }
    if (first_error) std::rethrow_exception(first_error);
  }

  Disposer disposer_;
  RemovalChain chain_;
};

}  // namespace internal

// An RCU list of objects of type T linked through their member `Hook`. See
// the file comment.
template <typename T, IntrusiveListHook T::*Hook>
class IntrusiveRcuList {
  using Traits = internal::IntrusiveListTraits<T, Hook>;

 public:
  using value_type = T;
  using size_type = std::size_t;
  using reference = T&;
  using const_reference = const T&;
  using iterator = internal::ListIterator<Traits, T>;
  using const_iterator = internal::ListIterator<Traits, const T>;
  // What Iterate() returns: begin(), end() and empty(), for range-for.
  using ReadRange = internal::ListRange<const_iterator>;
  // What Protected() returns: mutable iteration for a writer.
  using WriteRange = internal::ListRange<iterator>;

  IntrusiveRcuList() noexcept = default;
  IntrusiveRcuList(const IntrusiveRcuList&) = delete;
  IntrusiveRcuList& operator=(const IntrusiveRcuList&) = delete;
  ~IntrusiveRcuList() {
    RCU_INTERNAL_DCHECK(size() == 0,
                        "rcu::IntrusiveRcuList destroyed with objects still linked; "
                        "clear() it first");
  }

  // --- Readers: any thread, never block. ---

  // The objects, for range-for; valid while `guard` lives.
  ReadRange Iterate(const ReadGuard& guard ABSL_ATTRIBUTE_LIFETIME_BOUND) const
      ABSL_ATTRIBUTE_LIFETIME_BOUND {
    (void)guard;
    internal::DebugCheckIterateGuarded();
    return ReadRange(head());
  }

  // As for rcu::RcuList: exact for a writer holding the lock, otherwise the
  // size as of some recent writer operation.
  size_type size() const noexcept { return list_.size(); }
  bool empty() const noexcept { return size() == 0; }

  // A position for `obj`, for the positional writer methods. Meaningful only
  // if `obj` is in this list (they check that it is linked).
  static iterator iterator_to(T& obj) noexcept { return iterator(Traits::LinksOf(obj)); }
  static const_iterator iterator_to(const T& obj) noexcept {
    return const_iterator(Traits::LinksOf(obj));
  }

  // --- Writers: hold `lock`, the lock that serializes this list's writers. ---

  // The objects, mutable, valid while `lock` is held; no read guard needed.
  template <typename Lock>
  WriteRange Protected(const Lock& lock) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    internal::DebugCheckListLockHeld(lock);
    return WriteRange(head());
  }

  // Links `obj` (not in any list through this hook) at the front or back.
  template <typename Lock>
  void push_front(const Lock& lock, T& obj) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    internal::DebugCheckListLockHeld(lock);
    Link(obj, [this](internal::ListLinks* links) { internal::LinkAfter(head(), links); });
  }
  template <typename Lock>
  void push_back(const Lock& lock, T& obj) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    internal::DebugCheckListLockHeld(lock);
    Link(obj, [this](internal::ListLinks* links) { internal::LinkBefore(head(), links); });
  }

  // Links `obj` after the object at `pos` (not end()). False, and `obj` not
  // linked, if the object at `pos` is no longer in the list.
  template <typename Lock>
  bool insert_after(const Lock& lock, const_iterator pos, T& obj)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    internal::DebugCheckListLockHeld(lock);
    internal::ListLinks* at = pos.links();
    RCU_INTERNAL_DCHECK(at != head(), "rcu::IntrusiveRcuList: insert_after(end())");
    if (!internal::IsLiveElement(at, head())) return false;
    Link(obj, [at](internal::ListLinks* links) { internal::LinkAfter(at, links); });
    return true;
  }

  // Links `obj` before the object at `pos`, or at the back if `pos` is end().
  // False, and `obj` not linked, if the object at `pos` is no longer in the
  // list.
  template <typename Lock>
  bool insert_before(const Lock& lock, const_iterator pos, T& obj)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    internal::DebugCheckListLockHeld(lock);
    internal::ListLinks* at = pos.links();
    if (!internal::IsLiveInsertionPoint(at, head())) return false;
    Link(obj, [at](internal::ListLinks* links) { internal::LinkBefore(at, links); });
    return true;
  }

  // Unlinks the object at `pos` (not end()) and hands it back, or returns
  // nullptr if it is no longer in the list. Readers may still see it until a
  // grace period has elapsed: see "Ownership" in the file comment.
  template <typename Lock>
  T* erase(const Lock& lock, const_iterator pos) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    internal::DebugCheckListLockHeld(lock);
    internal::ListLinks* at = pos.links();
    RCU_INTERNAL_DCHECK(at != head(), "rcu::IntrusiveRcuList: erase(end())");
    if (!internal::IsLiveElement(at, head())) return nullptr;
    internal::Unlink(at);
    SetSize(size() - 1);
    return Traits::Project(at);
  }
  // Unlinks `obj`: returns &obj, or nullptr if it was not linked.
  template <typename Lock>
  T* erase(const Lock& lock, T& obj) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    return erase(lock, iterator_to(obj));
  }

  // Links `obj` in place of the object at `pos` (not end()) and hands that
  // one back; a reader sees one or the other there, never both. Returns
  // nullptr, and `obj` is not linked, if the object at `pos` is no longer in
  // the list.
  template <typename Lock>
  T* replace(const Lock& lock, const_iterator pos, T& obj) noexcept
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    internal::DebugCheckListLockHeld(lock);
    internal::ListLinks* at = pos.links();
    RCU_INTERNAL_DCHECK(at != head(), "rcu::IntrusiveRcuList: replace(end())");
    if (!internal::IsLiveElement(at, head())) return nullptr;
    internal::ListLinks* links = Traits::LinksOf(obj);
    RCU_INTERNAL_DCHECK(!links->IsLinked(),
                        "rcu::IntrusiveRcuList: replacing with an object that is "
                        "already linked");
    CheckNotPendingDisposal(*links);
    internal::ReplaceLinked(at, links);
    return Traits::Project(at);
  }

  // Unlinks every object for which `pred(const T&)` is true and calls
  // `disposer(T*)` for each after a grace period (see "Ownership"). Returns
  // how many. If `pred` throws, the objects unlinked before are still
  // disposed of.
  template <typename Lock, typename Pred, typename Disposer>
  size_type remove_if(const Lock& lock, Pred pred, Disposer disposer)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    internal::DebugCheckListLockHeld(lock);
    auto batch = std::make_unique<Batch<Disposer>>(std::move(disposer));
    // Submitted when the scope ends, even by an exception.
    absl::Cleanup submit = [&batch] { Batch<Disposer>::Submit(std::move(batch)); };
    return list_.RemoveIf(
        [&pred](internal::ListLinks* links) {
          return pred(std::as_const(*Traits::Project(links)));
        },
        [&batch](internal::ListLinks* links) { batch->chain().Push(links); });
  }

  // Unlinks every object and calls `disposer(T*)` for each after a grace
  // period (see "Ownership"). Returns how many. Safe while readers run.
  template <typename Lock, typename Disposer>
  size_type clear(const Lock& lock, Disposer disposer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    internal::DebugCheckListLockHeld(lock);
    auto batch = std::make_unique<Batch<Disposer>>(std::move(disposer));
    const size_type removed = size();
    internal::UnlinkAll(head(), batch->chain());
    SetSize(0);
    Batch<Disposer>::Submit(std::move(batch));
    return removed;
  }

 private:
  template <typename Disposer>
  using Batch = internal::DisposalBatch<T, Hook, std::decay_t<Disposer>>;

  template <typename LinkFn>
  void Link(T& obj, LinkFn link) noexcept {
    internal::ListLinks* links = Traits::LinksOf(obj);
    RCU_INTERNAL_DCHECK(!links->IsLinked(),
                        "rcu::IntrusiveRcuList: linking an object whose hook is "
                        "already in a list");
    CheckNotPendingDisposal(*links);
    link(links);
    SetSize(size() + 1);
  }

  // Linking an object that remove_if() or clear() removed, before its
  // disposer has run, would overwrite the link that chains its removal
  // batch: the batch would then dispose of linked objects and skip others.
  static void CheckNotPendingDisposal(const internal::ListLinks& links) noexcept {
    if (ABSL_PREDICT_FALSE(links.InRemovalBatch())) {
      internal::Report(Diagnostic::Kind::kContainerMisuse, /*fatal=*/true,
                       "rcu::IntrusiveRcuList: linking an object that remove_if() or "
                       "clear() removed before its disposer has run; link it again "
                       "from the disposer, or after it has run");
    }
  }

  internal::ListLinks* head() const noexcept { return list_.head(); }
  void SetSize(size_type n) noexcept { list_.SetSize(n); }

  // The objects' links, threaded from a sentinel, and their count.
  internal::ListHead list_;
};

}  // namespace rcu

#endif  // CONTAINERS_INTRUSIVE_RCU_LIST_H_
