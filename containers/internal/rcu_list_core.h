// Internal: the nodes, the removal batches and the writer primitives of the
// owning RCU lists in containers/rcu_list.h. Nothing here is public API.
#ifndef CONTAINERS_INTERNAL_RCU_LIST_CORE_H_
#define CONTAINERS_INTERNAL_RCU_LIST_CORE_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <atomic>
#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>

#include "containers/internal/rcu_list_links.h"
#include "rcu/call_rcu.h"
#include "rcu/internal/callbacks.h"
#include "rcu/internal/negative_control.h"

namespace rcu {
namespace internal {

// One element of an owning RCU list: its links, the queue link that retires
// it without allocating, and the value.
template <typename T>
struct RcuListNode final : ListLinks, RcuHead {
  // Parentheses when T has a matching constructor, braces otherwise, so that
  // emplace works for aggregates too.
  template <typename... Args, std::enable_if_t<std::is_constructible_v<T, Args&&...>, int> = 0>
  explicit RcuListNode(std::in_place_t, Args&&... args) : value(std::forward<Args>(args)...) {}
  template <typename... Args, std::enable_if_t<!std::is_constructible_v<T, Args&&...>, int> = 0>
  explicit RcuListNode(std::in_place_t, Args&&... args) : value{std::forward<Args>(args)...} {}

  // Immutable to readers once published; a writer may change it in place only
  // in ways readers are designed to see (atomics). Destroyed a grace period
  // after the node is removed, on the RCU callback thread.
  T value;
};

template <typename T>
struct RcuListNodeTraits {
  static T* Project(ListLinks* links) noexcept {
    return &static_cast<RcuListNode<T>*>(links)->value;
  }
};

template <typename T, typename... Args>
std::unique_ptr<RcuListNode<T>> MakeListNode(Args&&... args) {
  return std::make_unique<RcuListNode<T>>(std::in_place, std::forward<Args>(args)...);
}

// Whether retiring may wait for the callback backlog (rcu/call_rcu.h,
// "Backpressure").
enum class RetireWait {
  // After the writers' lock is released: wait if the backlog is over its
  // limit, which bounds memory in a removal storm.
  kMayWait,
  // Under a lock that the callbacks (T's destructor, user code) may take:
  // never wait, since the callback thread may be blocked on that lock in an
  // earlier callback and could never drain the backlog.
  kNeverWait,
};

// Nodes removed by one writer operation, each reclaimed by an RCU callback
// of its own once a grace period has elapsed: the callback backlog limit
// counts elements, so a storm of clear()s or remove_if()s is bounded like a
// storm of erase()s (memory, not calls). Flushed by the destructor, so a
// writer that throws half-way still retires what it removed. The owning
// RcuList destroys its batch after releasing its lock, so that the retire may
// wait for the backlog; an ExternallyLockedRcuList retires under the caller's
// lock, with kNeverWait.
template <typename T>
class NodeRetireBatch {
 public:
  using Node = RcuListNode<T>;

  explicit NodeRetireBatch(RetireWait wait = RetireWait::kMayWait) noexcept : wait_(wait) {}
  NodeRetireBatch(const NodeRetireBatch&) = delete;
  NodeRetireBatch& operator=(const NodeRetireBatch&) = delete;
  ~NodeRetireBatch() { Flush(); }

  // Adds a node that was just unlinked.
  void Add(ListLinks* node) noexcept { chain_.Push(node); }
  RemovalChain& chain() noexcept { return chain_; }

  // Retires everything added so far. With kMayWait, each retirement may
  // wait for the backlog (outside read-side sections; inside one, the thread
  // waits when its outermost section ends, rcu/read_guard.h).
  void Flush() noexcept {
    ListLinks* links = chain_.Release();
    while (links != nullptr) {
      ListLinks* next = RemovalChain::Next(links);  // before it may be freed
      RcuHead* head = static_cast<Node*>(links);
#if RCU_BUG_PUT_BACK(LIST_SKIP_GRACE_PERIOD)
      // Negative control for the stress test only (stress/BUILD): reclaim at
      // once, without waiting for readers. The stress test must then fail.
      Reclaim(head);
#else
      if (wait_ == RetireWait::kMayWait) {
        CallRcu(head, &Reclaim);
      } else {
        CallRcuWithoutBackpressure(head, &Reclaim);
      }
#endif
      links = next;
    }
  }

 private:
  // The RCU callback: deletes the node.
  static void Reclaim(RcuHead* head) noexcept { delete static_cast<Node*>(head); }

  const RetireWait wait_;
  RemovalChain chain_;
};

// The list itself: a head sentinel and a size counter. Readers use head()
// and size() without a lock; every other member function is for writers, who
// must hold the list's writers' lock (the owning class enforces that).
template <typename T>
class RcuListCore {
 public:
  using Node = RcuListNode<T>;

  RcuListCore() noexcept = default;
  RcuListCore(const RcuListCore&) = delete;
  RcuListCore& operator=(const RcuListCore&) = delete;

  // Retires the remaining elements (one callback for all of them): readers
  // that still hold one keep it until their guards end. No reader may still
  // be reaching the list itself, and no writer may be running.
  ~RcuListCore() {
    NodeRetireBatch<T> batch;
    Clear(batch);
  }

  ListLinks* head() const noexcept { return list_.head(); }

  std::size_t size() const noexcept { return list_.size(); }

  // --- Writers only, holding the writers' lock. ---

  void LinkAfter(ListLinks* pos, Node* node) noexcept {
    internal::LinkAfter(pos, node);
    list_.SetSize(size() + 1);
  }

  void LinkBefore(ListLinks* pos, Node* node) noexcept {
    internal::LinkBefore(pos, node);
    list_.SetSize(size() + 1);
  }

  void Erase(ListLinks* pos, NodeRetireBatch<T>& batch) noexcept {
    Unlink(pos);
    batch.Add(pos);
    list_.SetSize(size() - 1);
  }

  void Replace(ListLinks* pos, Node* fresh, NodeRetireBatch<T>& batch) noexcept {
    ReplaceLinked(pos, fresh);
    batch.Add(pos);
  }

  // Removes the elements for which `pred(const T&)` is true. If `pred`
  // throws, the elements removed before stay removed (and are retired).
  template <typename Pred>
  std::size_t RemoveIf(Pred& pred, NodeRetireBatch<T>& batch) {
    return list_.RemoveIf(
        [&pred](ListLinks* links) { return pred(std::as_const(static_cast<Node*>(links)->value)); },
        [&batch](ListLinks* links) { batch.Add(links); });
  }

  std::size_t Clear(NodeRetireBatch<T>& batch) noexcept {
    const std::size_t removed = size();
    UnlinkAll(list_.head(), batch.chain());
    list_.SetSize(0);
    return removed;
  }

 private:
  ListHead list_;
};

}  // namespace internal
}  // namespace rcu

#endif  // CONTAINERS_INTERNAL_RCU_LIST_CORE_H_
