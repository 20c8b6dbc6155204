// Internal: the links of an RCU list and the algorithms on them, shared by
// rcu::RcuList (containers/rcu_list.h) and rcu::IntrusiveRcuList
// (containers/intrusive_rcu_list.h). Nothing here is public API.
//
// A list is circular around a head sentinel, as in the Linux kernel:
//
//   head.next -> A -> B -> C -> head        (forward, what readers follow)
//   head.prev -> C, C.prev -> B, ...        (backward, writers only)
//
// Readers start at head.next and follow `next` until they are back at the
// head. Writers hold the list's writers' lock for every change and for every
// access to `prev`. The memory-ordering argument:
//
//  - Publication. A node's fields (its `next`, its `prev`, and its value or the
//    user's object around it) are written before the one release store that
//    makes it reachable (`prev->next = node`). A reader reaches a node only
//    through an acquire load of some `next` that holds its address, so it sees
//    the node fully initialized. Stores that unlink a node also use release:
//    the successor they make reachable from the predecessor was published by
//    an earlier writer, and the release passes that writer's initialization on
//    to readers (the writers' lock orders the two writers).
//  - Removal. Unlinking or replacing a node changes its predecessor's `next`
//    (and its successor's `prev`) but never the removed node's own `next`. A
//    reader standing on a removed node therefore walks on to the node that
//    followed it when it was removed, and from there through the live list
//    back to the head. The removed node itself stays valid until a grace
//    period has elapsed (the owning list retires it; the intrusive list's user
//    must do the same).
//  - Traversal guarantee. Writers never move a node and never change a
//    removed node's `next`, so every element that stays in the list for the
//    whole traversal is seen exactly once, in list order; elements inserted or
//    removed meanwhile may or may not be seen. A node must not be linked again
//    until a grace period after its removal (a reader standing on it would
//    jump to its new position).
#ifndef CONTAINERS_INTERNAL_RCU_LIST_LINKS_H_
#define CONTAINERS_INTERNAL_RCU_LIST_LINKS_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <type_traits>

#include "rcu/internal/checks.h"
#include "rcu/internal/lock_evidence.h"
#include "rcu/rcu_ptr.h"
#include "rcu/read_guard.h"

namespace rcu {
namespace internal {

// The links of one list element, or of a list's head sentinel.
struct ListLinks {
  // The successor: the next element, or the head sentinel after the last
  // element. Written only by writers holding the writers' lock: with a
  // relaxed store while the node is not yet reachable, with a release store
  // when the store makes a node reachable. Read by readers with acquire.
  // Invariant: never changed after the node is removed from its list, until
  // it is reclaimed or (a grace period later) linked again.
  std::atomic<ListLinks*> next{nullptr};

  // Writer-only (readers never touch it); read and written under the writers'
  // lock. One of three states:
  //  - 0: never linked (or reset after reclamation);
  //  - a ListLinks*: linked; the predecessor, or the head sentinel for the
  //    first element (and, in the head itself, the last element or the head);
  //  - kRemovedTag: removed by a single-element writer (and, for an
  //    intrusive list, handed back to the user);
  //  - kRemovedTag | kInBatchTag | chain: removed into a removal batch that
  //    has not been reclaimed yet; `chain` is the next node of the same
  //    batch (see RemovalChain), or 0. Linking such a node again would
  //    overwrite the chain: IntrusiveRcuList reports it as misuse.
  // Nodes are at least pointer-aligned, so bits 0 and 1 of a pointer are free.
  std::uintptr_t prev = 0;

  static constexpr std::uintptr_t kRemovedTag = 1;
  static constexpr std::uintptr_t kInBatchTag = 2;
  static constexpr std::uintptr_t kTags = kRemovedTag | kInBatchTag;

  // True while in a removal batch (writers only).
  bool InRemovalBatch() const noexcept { return (prev & kInBatchTag) != 0; }

  ListLinks() noexcept = default;
  ListLinks(const ListLinks&) = delete;
  ListLinks& operator=(const ListLinks&) = delete;

  // True while linked into a list. Writers only.
  bool IsLinked() const noexcept { return prev != 0 && (prev & kRemovedTag) == 0; }

  // The predecessor of a linked node. Writers only.
  ListLinks* Prev() const noexcept {
    RCU_INTERNAL_DCHECK(IsLinked(), "rcu list: prev of a node that is not linked");
    return reinterpret_cast<ListLinks*>(prev);
  }
  void SetPrev(ListLinks* p) noexcept { prev = reinterpret_cast<std::uintptr_t>(p); }

  // Writers: the successor (relaxed: the writers' lock orders writers).
  ListLinks* NextProtected() const noexcept { return next.load(std::memory_order_relaxed); }
  // Readers: the successor, subscribed.
  ListLinks* NextAcquire() const noexcept { return next.load(std::memory_order_acquire); }
};

static_assert(alignof(ListLinks) >= 4, "bits 0 and 1 of ListLinks* tag removed nodes");

// Debug-build checks of the read-side rules.
inline void DebugCheckIterateGuarded() {
  RCU_INTERNAL_DCHECK(InReadSection(),
                      "rcu list: Iterate() outside a read-side critical section: the "
                      "guard passed in belongs to another thread or has ended");
}

// For writer methods that take the writers' lock as evidence: checks that
// the caller holds it, when the lock type can tell (HeldByCurrentThread()).
template <typename Lock>
void DebugCheckListLockHeld(const Lock& lock) {
  DebugCheckHeld(lock,
                 "rcu list: writer method called without holding the writers' lock "
                 "passed as evidence");
}

inline void DebugCheckPositionGuarded() {
  RCU_INTERNAL_DCHECK(InReadSection(),
                      "rcu list: a position passed to a writer method outside "
                      "the read-side critical section it was found in (keep the "
                      "ReadGuard alive, or use Update())");
}

// Makes `head` an empty list.
inline void InitHead(ListLinks* head) noexcept {
  head->next.store(head, std::memory_order_relaxed);
  head->SetPrev(head);
}

// Positions passed to positional writer methods, which act only if the
// position is still live: an element still in the list (`pos` is not the
// sentinel `head`, i.e. not end(), and is linked), or, to insert before,
// also end(). Writers only.
inline bool IsLiveElement(const ListLinks* pos, const ListLinks* head) noexcept {
  return pos != head && pos->IsLinked();
}
inline bool IsLiveInsertionPoint(const ListLinks* pos, const ListLinks* head) noexcept {
  return pos == head || pos->IsLinked();
}

// Links `node` between the adjacent `prev` and `next` and publishes it.
inline void LinkBetween(ListLinks* node, ListLinks* prev, ListLinks* next) noexcept {
  node->next.store(next, std::memory_order_relaxed);
  node->SetPrev(prev);
  // Publication: everything written to *node (and to the value around it)
  // before this store is visible to a reader that loads `node` from here.
  prev->next.store(node, std::memory_order_release);
  next->SetPrev(node);
}

inline void LinkAfter(ListLinks* pos, ListLinks* node) noexcept {
  LinkBetween(node, pos, pos->NextProtected());
}

inline void LinkBefore(ListLinks* pos, ListLinks* node) noexcept {
  LinkBetween(node, pos->Prev(), pos);
}

// Unlinks `node` from its list. Its `next` is left as it is (see the file
// comment); its `prev` is marked removed.
inline void Unlink(ListLinks* node) noexcept {
  ListLinks* prev = node->Prev();
  ListLinks* next = node->NextProtected();
  prev->next.store(next, std::memory_order_release);
  next->SetPrev(prev);
  node->prev = ListLinks::kRemovedTag;
}

// Puts `fresh` (not linked) where `old` (linked) is, in one publication:
// a reader sees either `old` or `fresh` at that position, never both, and
// one standing on `old` walks on to the same successor.
inline void ReplaceLinked(ListLinks* old, ListLinks* fresh) noexcept {
  ListLinks* prev = old->Prev();
  ListLinks* next = old->NextProtected();
  fresh->next.store(next, std::memory_order_relaxed);
  fresh->SetPrev(prev);
  prev->next.store(fresh, std::memory_order_release);
  next->SetPrev(fresh);
  old->prev = ListLinks::kRemovedTag;
}

// A batch of removed nodes, chained through their `prev` fields (free once a
// node is removed, since readers never read `prev`), so that one RCU callback
// can reclaim them all.
class RemovalChain {
 public:
  RemovalChain() noexcept = default;
  RemovalChain(const RemovalChain&) = delete;
  RemovalChain& operator=(const RemovalChain&) = delete;

  // Adds a node that was just unlinked (its `prev` is kRemovedTag).
  void Push(ListLinks* node) noexcept {
    RCU_INTERNAL_DCHECK(node->prev == ListLinks::kRemovedTag,
                        "rcu list: only just-removed nodes join a removal batch");
    node->prev = ListLinks::kTags | reinterpret_cast<std::uintptr_t>(first_);
    first_ = node;
  }

  bool empty() const noexcept { return first_ == nullptr; }

  // Takes the chain out; *this becomes empty.
  ListLinks* Release() noexcept {
    ListLinks* first = first_;
    first_ = nullptr;
    return first;
  }

  // The node after `node` in its chain, or nullptr.
  static ListLinks* Next(const ListLinks* node) noexcept {
    RCU_INTERNAL_DCHECK((node->prev & ListLinks::kRemovedTag) != 0,
                        "rcu list: walking a removal chain through a linked node");
    return reinterpret_cast<ListLinks*>(node->prev & ~ListLinks::kTags);
  }

 private:
  ListLinks* first_ = nullptr;
};

// Removes every element of the list at `head` into `chain`, in O(size), and
// leaves the list empty. Readers already in the list walk on to its old end.
inline void UnlinkAll(ListLinks* head, RemovalChain& chain) noexcept {
  ListLinks* node = head->NextProtected();
  // One store detaches everything; readers that load head.next afterwards
  // see an empty list, and readers inside the old chain still reach `head`
  // through the last node's unchanged `next`.
  head->next.store(head, std::memory_order_release);
  head->SetPrev(head);
  while (node != head) {
    ListLinks* next = node->NextProtected();
    node->prev = ListLinks::kRemovedTag;
    chain.Push(node);
    node = next;
  }
}

// An input iterator over a list's elements. `Traits` supplies
//   static Value* Project(ListLinks*);   // the element around the links
// `Value` may be const-qualified. Incrementing loads `next` with acquire, so
// the same iterator serves readers (under a ReadGuard) and writers (under the
// writers' lock).
//
// Input, not forward: a forward iterator promises that a second pass sees
// what the first saw, and standard algorithms rely on it (std::vector's range
// constructor counts with std::distance, allocates that many, then copies a
// second pass with no bound). While writers run, a second traversal may be
// longer. As an input iterator it is walked once by every algorithm, which is
// safe whatever writers do; each traversal meets the guarantee in the file
// comment. Copies are still independent positions (copying is cheap and safe).
template <typename Traits, typename Value>
class ListIterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = std::remove_cv_t<Value>;
  using difference_type = std::ptrdiff_t;
  using pointer = Value*;
  using reference = Value&;

  ListIterator() noexcept = default;

  // iterator -> const_iterator.
  template <typename Other, typename = std::enable_if_t<std::is_same_v<const Other, Value> &&
                                                        !std::is_same_v<Other, Value>>>
  ListIterator(const ListIterator<Traits, Other>& other) noexcept  // NOLINT: implicit
      : node_(other.node_) {}

  reference operator*() const noexcept { return *Traits::Project(node_); }
  pointer operator->() const noexcept { return Traits::Project(node_); }

  ListIterator& operator++() noexcept {
    node_ = node_->NextAcquire();
    return *this;
  }
  ListIterator operator++(int) noexcept {
    ListIterator old = *this;
    ++*this;
    return old;
  }

  friend bool operator==(const ListIterator& a, const ListIterator& b) noexcept {
    return a.node_ == b.node_;
  }
  friend bool operator!=(const ListIterator& a, const ListIterator& b) noexcept {
    return a.node_ != b.node_;
  }

  // For the lists' implementations.
  explicit ListIterator(ListLinks* node) noexcept : node_(node) {}
  ListLinks* links() const noexcept { return node_; }

 private:
  template <typename, typename>
  friend class ListIterator;

  ListLinks* node_ = nullptr;
};

// A range over the list at `head`, for range-for. `begin()` subscribes to the
// current first element each time it is called.
template <typename Iterator>
class ListRange {
 public:
  explicit ListRange(ListLinks* head) noexcept : head_(head) {}

  Iterator begin() const noexcept { return Iterator(head_->NextAcquire()); }
  Iterator end() const noexcept { return Iterator(head_); }
  // True if a traversal starting now would find no element.
  bool empty() const noexcept { return head_->NextAcquire() == head_; }

 private:
  ListLinks* head_;
};

// A list's sentinel and element count, shared by the RCU lists (RcuListCore
// and IntrusiveRcuList). Readers use head() and size() without a lock; the
// rest is for writers holding the list's writers' lock.
class ListHead {
 public:
  ListHead() noexcept { InitHead(&head_); }
  ListHead(const ListHead&) = delete;
  ListHead& operator=(const ListHead&) = delete;

  ListLinks* head() const noexcept { return const_cast<ListLinks*>(&head_); }
  std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }
  void SetSize(std::size_t n) noexcept { size_.store(n, std::memory_order_relaxed); }

  // Unlinks every element whose links satisfy `pred`, and passes each to
  // `removed` once unlinked; returns how many. If `pred` throws, the
  // elements removed before stay removed (and were passed on).
  template <typename Pred, typename Removed>
  std::size_t RemoveIf(Pred&& pred, Removed&& removed) {
    std::size_t count = 0;
    ListLinks* links = head_.NextProtected();
    while (links != &head_) {
      ListLinks* next = links->NextProtected();
      if (pred(links)) {
        Unlink(links);
        SetSize(size() - 1);
        removed(links);
        ++count;
      }
      links = next;
    }
    return count;
  }

 private:
  // The sentinel. head_.next: the first element, or &head_ when empty (read
  // by readers with acquire). head_.prev: the last element, or &head_.
  // Changed only by writers.
  ListLinks head_;
  // The number of linked elements. Written only by writers, after each
  // change, with relaxed stores; read by anyone with relaxed loads.
  std::atomic<std::size_t> size_{0};
};

}  // namespace internal
}  // namespace rcu

#endif  // CONTAINERS_INTERNAL_RCU_LIST_LINKS_H_
