// containers/rcu_list.h: a doubly linked list that readers walk without locks.
//
// The C++ counterpart of the Linux kernel's list_add_rcu(), list_del_rcu() and
// list_for_each_entry_rcu(). Readers iterate under an rcu::ReadGuard: they
// never block, never wait for writers, and never see a freed or half-built
// element. Writers are serialized by a mutex, and what they remove is freed
// only after a grace period.
//
//   struct Rule { std::string user; bool allow; };
//   rcu::RcuList<Rule> rules;                     // owns its writers' mutex
//
//   bool Allowed(std::string_view user) {         // readers: any thread
//     rcu::ReadGuard guard;
//     for (const Rule& rule : rules.Iterate(guard)) {
//       if (rule.user == user) return rule.allow;
//     }
//     return false;
//   }
//
//   rules.push_back({"root", true});              // writers lock internally
//   rules.remove_if([](const Rule& r) { return r.user.empty(); });
//
//   void Deny(std::string_view user) {            // read, copy, update
//     rcu::ReadGuard guard;
//     auto all = rules.Iterate(guard);
//     for (auto it = all.begin(); it != all.end(); ++it) {
//       if (it->user != user) continue;
//       Rule denied = *it;
//       denied.allow = false;
//       rules.replace(it, std::move(denied));     // false: `it` was removed
//     }                                           // meanwhile (retry, or not)
//   }
//
// Readers. `Iterate(guard)` returns a range of `const T&`. The references, the
// iterators and the range are valid while `guard` lives (clang warns when they
// outlive a temporary guard). A traversal is not a snapshot: every element
// that stays in the list for the whole traversal is seen exactly once and in
// list order; elements inserted, removed or replaced meanwhile may or may not
// be seen (a replaced element is seen either as its old or as its new value,
// never both). An element a reader has reached stays valid and unchanged
// until its guard ends, even if it is removed meanwhile. The iterators are
// input iterators (one pass; a second pass may differ), so every standard
// algorithm that accepts them (std::vector's range constructor,
// std::distance, std::copy, std::find_if...) is safe while writers run.
//
// Writers. Every writer method of RcuList takes the list's own rcu::Mutex,
// which readers never touch. Values are constructed before anything changes,
// by push_* and emplace_* outside the lock. Positional methods (insert_after,
// insert_before, erase, replace) take a `const_iterator` found under a read
// guard that is still alive; another writer may have removed that element in
// between, in which case they change nothing and return false. That makes
// `replace` a compare-and-swap for read-copy-update loops: it succeeds only if
// the element read is still the one in the list.
//
// Compound updates. `Update(fn)` runs `fn(RcuList<T>::Writer&)` under the
// lock. The writer offers the same operations plus mutable iteration, so a
// decision and the change it leads to happen atomically with respect to other
// writers (readers may see intermediate states):
//
//   rules.Update([&](rcu::RcuList<Rule>::Writer& w) {   // keep sorted by user
//     for (auto it = w.begin(); it != w.end(); ++it) {
//       if (it->user > rule.user) return w.insert_before(it, rule);
//     }
//     w.push_back(rule);
//     return true;
//   });
//
// Your own lock. `ExternallyLockedRcuList<T>` has no mutex: each writer method
// takes the lock that serializes its writers as its first argument, as
// evidence (annotated ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) for clang's
// -Wthread-safety, checked at run time in debug builds for lock types with
// HeldByCurrentThread(), like rcu::Mutex and absl::Mutex), so one lock can
// protect the list together with other state:
//
//   rcu::Mutex mu;
//   rcu::ExternallyLockedRcuList<Rule> rules;
//   int generation ABSL_GUARDED_BY(mu) = 0;
//
//   void Add(Rule rule) {
//     rcu::MutexLock lock(mu);
//     rules.push_back(mu, std::move(rule));
//     ++generation;
//   }
//
// Reclamation. Removed and replaced elements are reclaimed through the RCU
// core (rcu/call_rcu.h) after a grace period, on its callback thread: one
// callback per element, with no allocation (each node carries its own
// rcu::RcuHead), so the backlog limit counts elements, however many one
// call removes. So T's destructor runs
// on that thread, later than the removal, and must not throw. clear() and the
// list's destructor work the same way, so both are safe while readers still
// hold elements. rcu::Barrier() waits until everything retired so far is gone.
//
// size() is a counter that writers update after each change: exact for a
// writer holding the lock (in Update, or under an ExternallyLockedRcuList's
// lock) and whenever no writer runs; otherwise the size as of some recent
// writer operation, which need not match what a concurrent traversal sees.
// empty() is size() == 0.
//
// Exceptions. A throwing value constructor (or allocation) leaves the list
// unchanged and unlocked. remove_if's predicate and Update's function may
// throw: the lock is released, and what was removed before the throw stays
// removed (and is retired); Update is not a transaction.
//
// Rules:
//  - Do not call a writer method of an RcuList from inside its own Update()
//    function or remove_if() predicate (self-deadlock; debug builds abort
//    with a message). Use the Writer passed to the function instead.
//  - Do not wait for a grace period (rcu::Synchronize, rcu::Barrier) while
//    holding a list's writers' lock: a reader may be waiting for that lock
//    inside its read-side section. The lists never wait under it: an RcuList
//    retires after unlocking (and may then wait for the callback backlog,
//    rcu/call_rcu.h, so a removal storm cannot grow memory without bound).
//    An ExternallyLockedRcuList retires under your lock, so it never waits
//    for the backlog: T's destructor, run on the callback thread, may take
//    your lock, and waiting for that thread while holding it could deadlock.
//    Backpressure therefore does not throttle its removals (each element
//    still counts toward the backlog other threads wait for); to bound memory in a removal storm
//    while a reader may stall, release your lock now and then and call rcu::Barrier() there.
//  - A position belongs to one list: passing another list's iterator is
//    undefined (not detected).
//  - Lists are neither copyable nor movable (readers hold the address of the
//    list's head). Destroying a list requires that no reader can still reach
//    it and no writer uses it; elements readers already hold stay valid.
//
// Cost: a reader pays one acquire load (a plain load on x86-64) per element.
// Memory: one allocation per element, of sizeof(T) plus two links (16 bytes
// on 64-bit targets) plus an rcu::RcuHead (16 bytes today), rounded up to
// T's alignment; an empty RcuList is an rcu::Mutex plus 24 bytes (the head
// and the counter; 72 bytes in all with libstdc++), an empty
// ExternallyLockedRcuList 24 bytes.
// Not a snapshot, not sorted, no random access: for lookups by key use the
// concurrent hash map.
#ifndef CONTAINERS_RCU_LIST_H_
#define CONTAINERS_RCU_LIST_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <cstddef>
#include <initializer_list>
#include <type_traits>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/thread_annotations.h"
#include "containers/internal/rcu_list_core.h"
#include "containers/internal/rcu_list_links.h"
#include "rcu/internal/checks.h"
#include "rcu/mutex.h"
#include "rcu/rcu_ptr.h"
#include "rcu/read_guard.h"

namespace rcu {

template <typename T>
class RcuList;
template <typename T>
class ExternallyLockedRcuList;

namespace internal {

template <typename T>
struct RcuListTypes {
  static_assert(std::is_object_v<T> && !std::is_const_v<T> && !std::is_volatile_v<T>,
                "rcu::RcuList holds non-const object types");
  static_assert(std::is_nothrow_destructible_v<T>,
                "rcu::RcuList values are destroyed on the RCU callback thread, "
                "where an exception has nowhere to go: ~T() must not throw");

  using iterator = ListIterator<RcuListNodeTraits<T>, T>;
  using const_iterator = ListIterator<RcuListNodeTraits<T>, const T>;
  using ReadRange = ListRange<const_iterator>;
  using WriteRange = ListRange<iterator>;
};

}  // namespace internal

// The writers' view of an RcuList: every operation, for a caller that holds
// the list's writers' lock. RcuList::Update() passes one to its function; it
// cannot be created otherwise and must not be kept after the function
// returns. Elements removed through it are retired only after Update()
// releases the lock, so within one Update() a position stays valid (and
// positional methods return false for it) even after its element is removed.
// Positions found under a read guard may be passed too, while it lives.
template <typename T>
class RcuListWriter {
  using Types = internal::RcuListTypes<T>;
  using Node = internal::RcuListNode<T>;

 public:
  using value_type = T;
  using size_type = std::size_t;
  using reference = T&;
  using const_reference = const T&;
  // Mutable, for writers: readers may be looking at the element, so change in
  // place only what readers are designed to see change (atomics); otherwise
  // use replace().
  using iterator = typename Types::iterator;
  using const_iterator = typename Types::const_iterator;

  RcuListWriter(const RcuListWriter&) = delete;
  RcuListWriter& operator=(const RcuListWriter&) = delete;

  iterator begin() noexcept { return iterator(core_->head()->NextProtected()); }
  iterator end() noexcept { return iterator(core_->head()); }
  const_iterator begin() const noexcept { return cbegin(); }
  const_iterator end() const noexcept { return cend(); }
  const_iterator cbegin() const noexcept { return const_iterator(core_->head()->NextProtected()); }
  const_iterator cend() const noexcept { return const_iterator(core_->head()); }

  // Exact: writers are serialized.
  size_type size() const noexcept { return core_->size(); }
  bool empty() const noexcept { return size() == 0; }

  void push_front(const T& value) { emplace_front(value); }
  void push_front(T&& value) { emplace_front(std::move(value)); }
  // Returns the new element, valid while the lock is held.
  template <typename... Args>
  T& emplace_front(Args&&... args) {
    Node* node = internal::MakeListNode<T>(std::forward<Args>(args)...).release();
    core_->LinkAfter(core_->head(), node);
    return node->value;
  }

  void push_back(const T& value) { emplace_back(value); }
  void push_back(T&& value) { emplace_back(std::move(value)); }
  template <typename... Args>
  T& emplace_back(Args&&... args) {
    Node* node = internal::MakeListNode<T>(std::forward<Args>(args)...).release();
    core_->LinkBefore(core_->head(), node);
    return node->value;
  }

  // Inserts after the element at `pos`. False, and nothing constructed, if
  // that element is no longer in the list. `pos` must not be end().
  bool insert_after(const_iterator pos, const T& value) { return emplace_after(pos, value); }
  bool insert_after(const_iterator pos, T&& value) { return emplace_after(pos, std::move(value)); }
  template <typename... Args>
  bool emplace_after(const_iterator pos, Args&&... args) {
    internal::ListLinks* links = pos.links();
    RCU_INTERNAL_DCHECK(links != core_->head(), "rcu::RcuList: insert_after(end())");
    if (!internal::IsLiveElement(links, core_->head())) return false;
    core_->LinkAfter(links, internal::MakeListNode<T>(std::forward<Args>(args)...).release());
    return true;
  }

  // Inserts before the element at `pos`, or at the end if `pos` is end().
  // False, and nothing constructed, if that element is no longer in the list.
  bool insert_before(const_iterator pos, const T& value) { return emplace_before(pos, value); }
  bool insert_before(const_iterator pos, T&& value) {
    return emplace_before(pos, std::move(value));
  }
  template <typename... Args>
  bool emplace_before(const_iterator pos, Args&&... args) {
    internal::ListLinks* links = pos.links();
    if (!internal::IsLiveInsertionPoint(links, core_->head())) return false;
    core_->LinkBefore(links, internal::MakeListNode<T>(std::forward<Args>(args)...).release());
    return true;
  }

  // Removes the element at `pos`; it is destroyed after a grace period. False
  // if it was already removed. `pos` must not be end().
  bool erase(const_iterator pos) noexcept {
    internal::ListLinks* links = pos.links();
    RCU_INTERNAL_DCHECK(links != core_->head(), "rcu::RcuList: erase(end())");
    if (!internal::IsLiveElement(links, core_->head())) return false;
    core_->Erase(links, *batch_);
    return true;
  }

  // Puts a new element holding `value` in place of the one at `pos`, which
  // is destroyed after a grace period. A reader sees one or the other there,
  // never both. False, and nothing constructed, if the element at `pos` is no
  // longer in the list (it was erased or replaced meanwhile).
  bool replace(const_iterator pos, const T& value) { return emplace_replace(pos, value); }
  bool replace(const_iterator pos, T&& value) { return emplace_replace(pos, std::move(value)); }
  template <typename... Args>
  bool emplace_replace(const_iterator pos, Args&&... args) {
    internal::ListLinks* links = pos.links();
    RCU_INTERNAL_DCHECK(links != core_->head(), "rcu::RcuList: replace(end())");
    if (!internal::IsLiveElement(links, core_->head())) return false;
    core_->Replace(links, internal::MakeListNode<T>(std::forward<Args>(args)...).release(),
                   *batch_);
    return true;
  }

  // Removes every element for which `pred(const T&)` is true; returns how
  // many. If `pred` throws, what it removed before stays removed.
  template <typename Pred>
  size_type remove_if(Pred pred) {
    return core_->RemoveIf(pred, *batch_);
  }
  // Removes every element equal to `value`.
  template <typename U>
  size_type remove(const U& value) {
    return remove_if([&value](const T& x) { return x == value; });
  }

  // Removes every element; returns how many. O(size()).
  size_type clear() noexcept { return core_->Clear(*batch_); }

 private:
  friend class RcuList<T>;
  friend class ExternallyLockedRcuList<T>;

  RcuListWriter(internal::RcuListCore<T>* core, internal::NodeRetireBatch<T>* batch) noexcept
      : core_(core), batch_(batch) {}

  internal::RcuListCore<T>* const core_;
  // Where removed nodes go; the owner retires them, after unlocking if it can.
  internal::NodeRetireBatch<T>* const batch_;
};

// An RCU list that owns the mutex serializing its writers. See the file
// comment.
template <typename T>
class RcuList {
  using Types = internal::RcuListTypes<T>;

 public:
  using value_type = T;
  using size_type = std::size_t;
  using const_reference = const T&;
  using const_iterator = typename Types::const_iterator;
  // What Iterate() returns: begin(), end() and empty(), for range-for.
  using ReadRange = typename Types::ReadRange;
  using Writer = RcuListWriter<T>;

  RcuList() = default;
  RcuList(std::initializer_list<T> values) {
    for (const T& value : values) push_back(value);
  }
  RcuList(const RcuList&) = delete;
  RcuList& operator=(const RcuList&) = delete;
  // Retires the remaining elements (see the file comment, "Reclamation").
  ~RcuList() = default;

  // --- Readers: any thread, never block. ---

  // The elements, for range-for; valid while `guard` lives.
  ReadRange Iterate(const ReadGuard& guard ABSL_ATTRIBUTE_LIFETIME_BOUND) const
      ABSL_ATTRIBUTE_LIFETIME_BOUND {
    (void)guard;
    internal::DebugCheckIterateGuarded();
    return ReadRange(core_.head());
  }

  // See the file comment for what these mean while writers run.
  size_type size() const noexcept { return core_.size(); }
  bool empty() const noexcept { return size() == 0; }

  // --- Writers: each call takes the list's mutex. ---

  void push_front(const T& value) ABSL_LOCKS_EXCLUDED(mu_) { emplace_front(value); }
  void push_front(T&& value) ABSL_LOCKS_EXCLUDED(mu_) { emplace_front(std::move(value)); }
  template <typename... Args>
  void emplace_front(Args&&... args) ABSL_LOCKS_EXCLUDED(mu_) {
    CheckNotHeld();
    auto node = internal::MakeListNode<T>(std::forward<Args>(args)...);
    MutexLock lock(mu_);
    core_.LinkAfter(core_.head(), node.release());
  }

  void push_back(const T& value) ABSL_LOCKS_EXCLUDED(mu_) { emplace_back(value); }
  void push_back(T&& value) ABSL_LOCKS_EXCLUDED(mu_) { emplace_back(std::move(value)); }
  template <typename... Args>
  void emplace_back(Args&&... args) ABSL_LOCKS_EXCLUDED(mu_) {
    CheckNotHeld();
    auto node = internal::MakeListNode<T>(std::forward<Args>(args)...);
    MutexLock lock(mu_);
    core_.LinkBefore(core_.head(), node.release());
  }

  // Positional methods: `pos` comes from Iterate(guard), with `guard` still
  // alive. Each returns false, and changes and constructs nothing, if the
  // element at `pos` has been removed meanwhile. See RcuListWriter for each.
  bool insert_after(const_iterator pos, const T& value) ABSL_LOCKS_EXCLUDED(mu_) {
    return emplace_after(pos, value);
  }
  bool insert_after(const_iterator pos, T&& value) ABSL_LOCKS_EXCLUDED(mu_) {
    return emplace_after(pos, std::move(value));
  }
  template <typename... Args>
  bool emplace_after(const_iterator pos, Args&&... args) ABSL_LOCKS_EXCLUDED(mu_) {
    internal::DebugCheckPositionGuarded();
    return Update([&](Writer& w) { return w.emplace_after(pos, std::forward<Args>(args)...); });
  }

  // `pos` may be end(): appends.
  bool insert_before(const_iterator pos, const T& value) ABSL_LOCKS_EXCLUDED(mu_) {
    return emplace_before(pos, value);
  }
  bool insert_before(const_iterator pos, T&& value) ABSL_LOCKS_EXCLUDED(mu_) {
    return emplace_before(pos, std::move(value));
  }
  template <typename... Args>
  bool emplace_before(const_iterator pos, Args&&... args) ABSL_LOCKS_EXCLUDED(mu_) {
    internal::DebugCheckPositionGuarded();
    return Update([&](Writer& w) { return w.emplace_before(pos, std::forward<Args>(args)...); });
  }

  bool erase(const_iterator pos) ABSL_LOCKS_EXCLUDED(mu_) {
    internal::DebugCheckPositionGuarded();
    return Update([&](Writer& w) { return w.erase(pos); });
  }

  bool replace(const_iterator pos, const T& value) ABSL_LOCKS_EXCLUDED(mu_) {
    return emplace_replace(pos, value);
  }
  bool replace(const_iterator pos, T&& value) ABSL_LOCKS_EXCLUDED(mu_) {
    return emplace_replace(pos, std::move(value));
  }
  template <typename... Args>
  bool emplace_replace(const_iterator pos, Args&&... args) ABSL_LOCKS_EXCLUDED(mu_) {
    internal::DebugCheckPositionGuarded();
    return Update([&](Writer& w) { return w.emplace_replace(pos, std::forward<Args>(args)...); });
  }

  // `pred(const T&)` runs under the lock; it must not call writer methods of
  // this list.
  template <typename Pred>
  size_type remove_if(Pred pred) ABSL_LOCKS_EXCLUDED(mu_) {
    return Update([&](Writer& w) { return w.remove_if(std::move(pred)); });
  }
  template <typename U>
  size_type remove(const U& value) ABSL_LOCKS_EXCLUDED(mu_) {
    return Update([&](Writer& w) { return w.remove(value); });
  }

  // Safe while readers run: they finish their traversals over the old
  // elements, which are destroyed after a grace period. Returns how many
  // elements were removed.
  size_type clear() ABSL_LOCKS_EXCLUDED(mu_) {
    return Update([](Writer& w) { return w.clear(); });
  }

  // Runs `fn(Writer&)` under the lock and returns what it returns. Elements
  // it removes are retired after the lock is released. `fn` must not call
  // writer methods of this list or wait for a grace period.
  template <typename F>
  decltype(auto) Update(F&& fn) ABSL_LOCKS_EXCLUDED(mu_) {
    CheckNotHeld();
    internal::NodeRetireBatch<T> batch;  // destroyed last: retires after unlock
    MutexLock lock(mu_);
    Writer writer(&core_, &batch);
    return std::forward<F>(fn)(writer);
  }

 private:
  void CheckNotHeld() const {
    RCU_INTERNAL_DCHECK(!mu_.HeldByCurrentThread(),
                        "rcu::RcuList: writer method called while this thread holds "
                        "the list's lock (inside Update() or a remove_if() "
                        "predicate); use the Writer passed to the function");
  }

  // Serializes writers; readers never take it. Every change to core_ happens
  // while it is held.
  Mutex mu_;
  // Readers use core_.head() and core_.size() without the lock; everything
  // else in it is touched only while mu_ is held.
  internal::RcuListCore<T> core_;
};

// An RCU list whose writers are serialized by a lock of the caller's: each
// writer method takes it as evidence. See the file comment.
template <typename T>
class ExternallyLockedRcuList {
  using Types = internal::RcuListTypes<T>;

 public:
  using value_type = T;
  using size_type = std::size_t;
  using reference = T&;
  using const_reference = const T&;
  using iterator = typename Types::iterator;
  using const_iterator = typename Types::const_iterator;
  using ReadRange = typename Types::ReadRange;
  // What Protected() returns: mutable iteration for a writer.
  using WriteRange = typename Types::WriteRange;

  ExternallyLockedRcuList() = default;
  ExternallyLockedRcuList(const ExternallyLockedRcuList&) = delete;
  ExternallyLockedRcuList& operator=(const ExternallyLockedRcuList&) = delete;
  // Retires the remaining elements (see the file comment, "Reclamation").
  ~ExternallyLockedRcuList() = default;

  // --- Readers: any thread, never block. ---

  ReadRange Iterate(const ReadGuard& guard ABSL_ATTRIBUTE_LIFETIME_BOUND) const
      ABSL_ATTRIBUTE_LIFETIME_BOUND {
    (void)guard;
    internal::DebugCheckIterateGuarded();
    return ReadRange(core_.head());
  }
  size_type size() const noexcept { return core_.size(); }
  bool empty() const noexcept { return size() == 0; }

  // --- Writers: hold `lock`, the lock that serializes this list's writers. ---
  // The methods are those of RcuListWriter. Positions come from
  // Protected(lock) during the same hold of the lock, or from Iterate(guard)
  // with the guard still alive. Positional methods return false, changing
  // and constructing nothing, if the element has been removed meanwhile, but
  // a position to a removed element may be passed only while a read guard
  // that began before the removal is still alive: each writer method retires
  // what it removes before returning, so without such a guard the element
  // may already be freed, even if you have held the lock all along.

  // The elements, mutable (see RcuListWriter::iterator), valid while `lock`
  // is held; no read guard needed.
  template <typename Lock>
  WriteRange Protected(const Lock& lock) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    internal::DebugCheckListLockHeld(lock);
    return WriteRange(core_.head());
  }

  template <typename Lock>
  void push_front(const Lock& lock, const T& value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    With(lock, [&](Writer& w) { w.push_front(value); });
  }
  template <typename Lock>
  void push_front(const Lock& lock, T&& value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    With(lock, [&](Writer& w) { w.push_front(std::move(value)); });
  }
  // Returns the new element, valid while `lock` is held.
  template <typename Lock, typename... Args>
  T& emplace_front(const Lock& lock, Args&&... args) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    return With(lock,
                [&](Writer& w) -> T& { return w.emplace_front(std::forward<Args>(args)...); });
  }

  template <typename Lock>
  void push_back(const Lock& lock, const T& value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    With(lock, [&](Writer& w) { w.push_back(value); });
  }
  template <typename Lock>
  void push_back(const Lock& lock, T&& value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    With(lock, [&](Writer& w) { w.push_back(std::move(value)); });
  }
  template <typename Lock, typename... Args>
  T& emplace_back(const Lock& lock, Args&&... args) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    return With(lock, [&](Writer& w) -> T& { return w.emplace_back(std::forward<Args>(args)...); });
  }

  template <typename Lock>
  bool insert_after(const Lock& lock, const_iterator pos, const T& value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    return With(lock, [&](Writer& w) { return w.insert_after(pos, value); });
  }
  template <typename Lock>
  bool insert_after(const Lock& lock, const_iterator pos, T&& value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    return With(lock, [&](Writer& w) { return w.insert_after(pos, std::move(value)); });
  }
  template <typename Lock, typename... Args>
  bool emplace_after(const Lock& lock, const_iterator pos, Args&&... args)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    return With(lock, [&](Writer& w) { return w.emplace_after(pos, std::forward<Args>(args)...); });
  }

  template <typename Lock>
  bool insert_before(const Lock& lock, const_iterator pos, const T& value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    return With(lock, [&](Writer& w) { return w.insert_before(pos, value); });
  }
  template <typename Lock>
  bool insert_before(const Lock& lock, const_iterator pos, T&& value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    return With(lock, [&](Writer& w) { return w.insert_before(pos, std::move(value)); });
  }
  template <typename Lock, typename... Args>
  bool emplace_before(const Lock& lock, const_iterator pos, Args&&... args)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    return With(lock,
                [&](Writer& w) { return w.emplace_before(pos, std::forward<Args>(args)...); });
  }

  template <typename Lock>
  bool erase(const Lock& lock, const_iterator pos) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    return With(lock, [&](Writer& w) { return w.erase(pos); });
  }

  template <typename Lock>
  bool replace(const Lock& lock, const_iterator pos, const T& value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    return With(lock, [&](Writer& w) { return w.replace(pos, value); });
  }
  template <typename Lock>
  bool replace(const Lock& lock, const_iterator pos, T&& value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    return With(lock, [&](Writer& w) { return w.replace(pos, std::move(value)); });
  }
  template <typename Lock, typename... Args>
  bool emplace_replace(const Lock& lock, const_iterator pos, Args&&... args)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    return With(lock,
                [&](Writer& w) { return w.emplace_replace(pos, std::forward<Args>(args)...); });
  }

  template <typename Lock, typename Pred>
  size_type remove_if(const Lock& lock, Pred pred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    return With(lock, [&](Writer& w) { return w.remove_if(std::move(pred)); });
  }
  template <typename Lock, typename U>
  size_type remove(const Lock& lock, const U& value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    return With(lock, [&](Writer& w) { return w.remove(value); });
  }

  template <typename Lock>
  size_type clear(const Lock& lock) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    return With(lock, [](Writer& w) { return w.clear(); });
  }

 private:
  using Writer = RcuListWriter<T>;

  // Runs `op(Writer&)`; what it removes is retired when it returns (or
  // throws), still under the caller's lock, so without waiting for the
  // callback backlog: ~T, on the callback thread, may take that lock.
  template <typename Lock, typename Op>
  decltype(auto) With(const Lock& lock, Op&& op) {
    internal::DebugCheckListLockHeld(lock);
    internal::NodeRetireBatch<T> batch(internal::RetireWait::kNeverWait);
    Writer writer(&core_, &batch);
    return std::forward<Op>(op)(writer);
  }

  // Readers use core_.head() and core_.size() without the lock; everything
  // else in it is touched only by writers holding the caller's lock.
  internal::RcuListCore<T> core_;
};

}  // namespace rcu

#endif  // CONTAINERS_RCU_LIST_H_
