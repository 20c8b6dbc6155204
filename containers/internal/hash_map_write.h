// Internal: rcu::HashMap's writers. Part of containers/hash_map.h, which
// includes it at its end; include that instead.
//
// A writer locks the stripe of its key's hash (every bucket belongs to one
// stripe, whatever the array's size), edits one chain through the links of
// the current array's generation, and publishes with a release store. What
// it unlinks goes to the RCU core, to be freed after a grace period; that
// allocates nothing, so nothing can fail once a change is published.
#ifndef CONTAINERS_INTERNAL_HASH_MAP_WRITE_H_
#define CONTAINERS_INTERNAL_HASH_MAP_WRITE_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <tuple>
#include <utility>

#include "containers/hash_map.h"
#include "containers/internal/hash_map_recycler.h"
#include "containers/internal/hash_map_section.h"
#include "containers/internal/hash_map_table.h"
#include "rcu/internal/negative_control.h"
#include "rcu/mutex.h"
#include "rcu/read_guard.h"

namespace rcu {

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
struct HashMap<K, V, Hash, Eq, Alloc>::NodeHolder {
  ~NodeHolder() {
    if (node != nullptr) Node::Destroy(node);
  }
  Node* Release(std::size_t hash) {
    node->hash = hash;  // not yet published
    return std::exchange(node, nullptr);
  }
  Node* node;
};

// --- Single-key writes -----------------------------------------------------------

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline auto HashMap<K, V, Hash, Eq, Alloc>::insert(const value_type& value)
    -> std::pair<iterator, bool> {
  const std::size_t hash = HashOf(value.first);
  return Link(
      hash, value.first, [&] { return NewNode(hash, value); }, /*replace=*/false);
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline auto HashMap<K, V, Hash, Eq, Alloc>::insert(value_type&& value)
    -> std::pair<iterator, bool> {
  const std::size_t hash = HashOf(value.first);
  return Link(
      hash, value.first, [&] { return NewNode(hash, std::move(value)); },
      /*replace=*/false);
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename... Args>
inline auto HashMap<K, V, Hash, Eq, Alloc>::emplace(Args&&... args) -> std::pair<iterator, bool> {
  NodeHolder holder{NewNode(0, std::forward<Args>(args)...)};
  const std::size_t hash = HashOf(holder.node->value.first);
  return Link(
      hash, holder.node->value.first, [&] { return holder.Release(hash); },
      /*replace=*/false);
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename... Args>
inline auto HashMap<K, V, Hash, Eq, Alloc>::try_emplace(const K& key, Args&&... args)
    -> std::pair<iterator, bool> {
  const std::size_t hash = HashOf(key);
  return Link(
      hash, key,
      [&] {
        return NewNode(hash, std::piecewise_construct, std::forward_as_tuple(key),
                       std::forward_as_tuple(std::forward<Args>(args)...));
      },
      /*replace=*/false);
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename... Args>
inline auto HashMap<K, V, Hash, Eq, Alloc>::try_emplace(K&& key, Args&&... args)
    -> std::pair<iterator, bool> {
  const std::size_t hash = HashOf(key);
  return Link(
      hash, key,
      [&] {
        return NewNode(hash, std::piecewise_construct, std::forward_as_tuple(std::move(key)),
                       std::forward_as_tuple(std::forward<Args>(args)...));
      },
      /*replace=*/false);
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename M>
inline auto HashMap<K, V, Hash, Eq, Alloc>::insert_or_assign(const K& key, M&& value)
    -> std::pair<iterator, bool> {
  const std::size_t hash = HashOf(key);
  return Link(
      hash, key, [&] { return NewNode(hash, key, std::forward<M>(value)); },
      /*replace=*/true);
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename M>
inline auto HashMap<K, V, Hash, Eq, Alloc>::insert_or_assign(K&& key, M&& value)
    -> std::pair<iterator, bool> {
  const std::size_t hash = HashOf(key);
  return Link(
      hash, key, [&] { return NewNode(hash, std::move(key), std::forward<M>(value)); },
      /*replace=*/true);
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename F>
inline bool HashMap<K, V, Hash, Eq, Alloc>::update(const K& key, F&& fn) {
  const ComputeResult result = compute(key, [&](const V* current) -> std::optional<V> {
    if (current == nullptr) return std::nullopt;
    return std::optional<V>(fn(*current));
  });
  return result == ComputeResult::kUpdated;
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename F>
inline ComputeResult HashMap<K, V, Hash, Eq, Alloc>::compute(const K& key, F&& fn) {
  const std::size_t hash = HashOf(key);
  Stripe* stripes = PrepareWrite(1);
  Node* retired = nullptr;
  ComputeResult result;
  {
    MutexLock lock(StripeOf(stripes, hash));
    Table* table = table_.load(std::memory_order_relaxed);
    const int g = table->generation();
    std::atomic<Node*>* link = &table->bucket(hash);
    Node* node = FindLocked(link, g, hash, key);
    std::optional<V> next = fn(node ? &node->value.second : nullptr);
    if (!next.has_value()) {
      if (node == nullptr) return ComputeResult::kUnchanged;
      Unlink(link, node, g);
      retired = node;
      result = ComputeResult::kErased;
    } else {
      Node* fresh = NewNode(hash, key, std::move(*next));
      if (node == nullptr) {
        PushFront(&table->bucket(hash), fresh, g);
        size_.fetch_add(1, std::memory_order_release);
        result = ComputeResult::kInserted;
      } else {
        ReplaceLinked(link, node, fresh, g);
        retired = node;
        result = ComputeResult::kUpdated;
      }
    }
  }
  if (retired != nullptr) Retire(retired);
  if (result == ComputeResult::kErased) MaybeShrink();
  return result;
}

// Inserts the node make() builds (under the stripe lock, only if needed),
// or with `replace`, publishes it in place of the present entry. The
// result's section is entered before the stripe is locked (it may register
// the thread, which can throw), and pins the entry it points to.
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename L, typename Make>
inline auto HashMap<K, V, Hash, Eq, Alloc>::Link(std::size_t hash, const L& key, Make&& make,
                                                 bool replace) -> std::pair<iterator, bool> {
  Stripe* stripes = PrepareWrite(1);
  iterator result(this);
  result.guard_.Enter();
  Node* retired = nullptr;
  bool inserted = false;
  {
    MutexLock lock(StripeOf(stripes, hash));
    Table* table = table_.load(std::memory_order_relaxed);
    const int g = table->generation();
    std::atomic<Node*>* link = &table->bucket(hash);
    Node* target = FindLocked(link, g, hash, key);
    if (target == nullptr || replace) {
      Node* fresh = make();  // may throw: nothing changed yet
      if (target == nullptr) {
        PushFront(&table->bucket(hash), fresh, g);
        size_.fetch_add(1, std::memory_order_release);
        inserted = true;
      } else {
        ReplaceLinked(link, target, fresh, g);
        retired = target;
      }
      target = fresh;
    }
    result.node_ = target;
    result.shape_ = table->shape();
  }
  // Inside the result's section: no waiting here; the thread pays the
  // backlog debt when that section ends.
  if (retired != nullptr) Retire(retired);
  return {std::move(result), inserted};
}

// Writer lookup under the stripe lock. Leaves `link` at the link that
// points to the result (or at the chain's end).
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename L>
inline auto HashMap<K, V, Hash, Eq, Alloc>::FindLocked(std::atomic<Node*>*& link, int g,
                                                       std::size_t hash, const L& key) const
    -> Node* {
  for (Node* node = link->load(std::memory_order_relaxed); node != nullptr;
       node = link->load(std::memory_order_relaxed)) {
    if (node->hash == hash && eq_(node->value.first, key)) return node;
    link = &node->next[g];
  }
  return nullptr;
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline Mutex& HashMap<K, V, Hash, Eq, Alloc>::StripeOf(Stripe* stripes, std::size_t hash) {
  return stripes[hash & (internal::kHashMapStripes - 1)].mu;
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename... Args>
inline auto HashMap<K, V, Hash, Eq, Alloc>::NewNode(std::size_t hash, Args&&... args) const
    -> Node* {
  if constexpr (kRecyclesNodes) {
    if (Node* reused = internal::NodeRecycler<Node>::ForThisThread().Pop()) {
      return Node::Rebuild(reused, alloc_, hash, std::forward<Args>(args)...);
    }
  }
  return Node::Make(alloc_, hash, std::forward<Args>(args)...);
}

// Chain edits, under the stripe lock, through links of generation g.
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline void HashMap<K, V, Hash, Eq, Alloc>::PushFront(std::atomic<Node*>* head, Node* node, int g) {
  node->next[g].store(head->load(std::memory_order_relaxed), std::memory_order_relaxed);
  head->store(node, std::memory_order_release);  // publishes *node
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline void HashMap<K, V, Hash, Eq, Alloc>::Unlink(std::atomic<Node*>* link, Node* node, int g) {
  link->store(node->next[g].load(std::memory_order_relaxed), std::memory_order_release);
  size_.fetch_sub(1, std::memory_order_release);
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline void HashMap<K, V, Hash, Eq, Alloc>::Retire(Node* node) {
#if !RCU_BUG_PUT_BACK(MAP_SKIP_GRACE_PERIOD)
  if constexpr (kRecyclesNodes) {
    if (internal::NodeRecycler<Node>::ForThisThread().Push(node)) return;
  }
#endif
  RetireToCore(node);
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline void HashMap<K, V, Hash, Eq, Alloc>::RetireToCore(Node* node) {
#if RCU_BUG_PUT_BACK(MAP_SKIP_GRACE_PERIOD)
  Node::Reclaim(static_cast<RcuHead*>(node));  // the bug: freed under its readers
#else
  internal::QueueReclaim(static_cast<RcuHead*>(node), &Node::Reclaim);
#endif
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline void HashMap<K, V, Hash, Eq, Alloc>::ReplaceLinked(std::atomic<Node*>* link, Node* old,
                                                          Node* fresh, int g) {
  fresh->next[g].store(old->next[g].load(std::memory_order_relaxed), std::memory_order_relaxed);
  link->store(fresh, std::memory_order_release);
}

// --- Inserting many ----------------------------------------------------------------

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename InputIt>
inline void HashMap<K, V, Hash, Eq, Alloc>::InsertRange(InputIt first, InputIt last) {
  const size_type wanted = size() + SizeHint(first, last);
  bool presized = GrowFor(wanted);
  for (; first != last; Step(first)) {
    if (!presized) presized = GrowFor(wanted);  // until the grace period has passed
    insert(*first);                             // builds no entry for a present key
  }
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename H2, typename E2>
inline void HashMap<K, V, Hash, Eq, Alloc>::merge(HashMap<K, V, H2, E2, Alloc>& source) {
  if (static_cast<const void*>(&source) == static_cast<const void*>(this)) return;
  const size_type wanted = size() + source.size();
  bool presized = GrowFor(wanted);
  for (auto it = source.begin(); it.node_ != nullptr; source.Advance(it, /*renew=*/true)) {
    if (!presized) presized = GrowFor(wanted);
    if (try_emplace(it->first, it->second).second) source.EraseEntry(it.node_);
  }
}

// --- Erasing -----------------------------------------------------------------------

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename L>
inline auto HashMap<K, V, Hash, Eq, Alloc>::EraseImpl(const L& key) -> size_type {
  const std::size_t hash = HashOf(key);
  Stripe* stripes = stripes_.load(std::memory_order_acquire);
  if (stripes == nullptr) return 0;
  Node* node;
  {
    MutexLock lock(StripeOf(stripes, hash));
    Table* table = table_.load(std::memory_order_relaxed);
    std::atomic<Node*>* link = &table->bucket(hash);
    node = FindLocked(link, table->generation(), hash, key);
    if (node == nullptr) return 0;
    Unlink(link, node, table->generation());
  }
  Retire(node);
  MaybeShrink();
  return 1;
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline auto HashMap<K, V, Hash, Eq, Alloc>::erase(const_iterator pos) -> iterator {
  if (pos.node_ == nullptr) return end();
  Node* unlinked = UnlinkIfLinked(pos.node_);
  iterator next = std::move(pos);  // keeps pos's section, if it owned one
  ++next;                          // an unlinked entry keeps its links
  if (unlinked != nullptr) {
    Retire(unlinked);
    MaybeShrink();
  }
  return next;
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline auto HashMap<K, V, Hash, Eq, Alloc>::erase(const_iterator first, const_iterator last)
    -> iterator {
  if (first.node_ != nullptr && last.after_ == first.node_) {
    erase(std::move(first));  // [entry, its successor when the range was made)
    return last;
  }
  if (last.node_ == nullptr) {
    while (first.node_ != nullptr) first = erase(std::move(first));
    return first;
  }
  const std::uint64_t stop = internal::ReverseBits(last.node_->hash);
  while (first.node_ != nullptr && first.node_ != last.node_ && first.BucketStart() <= stop &&
         !SameKey(first.node_, last.node_)) {
    first = erase(std::move(first));
  }
  return first.node_ == last.node_ ? last : first;
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename Pred>
inline auto HashMap<K, V, Hash, Eq, Alloc>::erase_if(Pred pred) -> size_type {
  Stripe* stripes = stripes_.load(std::memory_order_acquire);
  if (stripes == nullptr) return 0;
  size_type removed = 0;
  for (std::size_t s = 0; s < internal::kHashMapStripes; ++s) {
    // Retiring under the lock must not wait: inside the guard it records
    // the backlog debt instead, paid when the guard ends (after the lock).
    ReadGuard guard;
    MutexLock lock(stripes[s].mu);
    Table* table = table_.load(std::memory_order_relaxed);
    const int g = table->generation();
    for (std::size_t b = s; b < table->size(); b += internal::kHashMapStripes) {
      std::atomic<Node*>* link = &table->at(b);
      while (Node* node = link->load(std::memory_order_relaxed)) {
        if (pred(std::as_const(node->value))) {
          Unlink(link, node, g);
          Retire(node);
          ++removed;
        } else {
          link = &node->next[g];
        }
      }
    }
  }
  if (removed > 0) MaybeShrink();
  return removed;
}

// Unlinks `target` if it is still in the current array; returns it, or
// nullptr. The caller pins `target` (holds a section).
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline auto HashMap<K, V, Hash, Eq, Alloc>::UnlinkIfLinked(const Node* target) -> Node* {
  Stripe* stripes = stripes_.load(std::memory_order_acquire);
  if (stripes == nullptr) return nullptr;
  MutexLock lock(StripeOf(stripes, target->hash));
  Table* table = table_.load(std::memory_order_relaxed);
  const int g = table->generation();
  std::atomic<Node*>* link = &table->bucket(target->hash);
  Node* node = link->load(std::memory_order_relaxed);
  while (node != nullptr && node != target) {
    link = &node->next[g];
    node = link->load(std::memory_order_relaxed);
  }
  if (node != nullptr) Unlink(link, node, g);
  return node;
}

// True if two pinned entries hold equal keys.
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline bool HashMap<K, V, Hash, Eq, Alloc>::SameKey(const Node* a, const Node* b) const {
  return a->hash == b->hash && eq_(a->value.first, b->value.first);
}

// For merge(): erases `target` if it is still current. Pinned by the caller.
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline void HashMap<K, V, Hash, Eq, Alloc>::EraseEntry(const Node* target) {
  if (Node* unlinked = UnlinkIfLinked(target)) Retire(unlinked);
}

// --- Clearing ----------------------------------------------------------------------

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline void HashMap<K, V, Hash, Eq, Alloc>::clear() {
  if (stripes_.load(std::memory_order_acquire) == nullptr || size() == 0) return;
  while (!ClearOnce()) {
  }
}

// One attempt of clear(): false if a resize got in the way.
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline bool HashMap<K, V, Hash, Eq, Alloc>::ClearOnce() {
  std::size_t shape;
  {
    ReadGuard guard;
    shape = table_.load(std::memory_order_acquire)->shape();
  }
  Table* fresh = Table::Create(Table::MaskOf(shape) + 1, Table::GenerationOf(shape));
  if (fresh == nullptr) throw std::bad_alloc();
  Table* old;
  {
    // A writer may be materializing the map right now; it is at worst
    // the array just read, which has no entries.
    internal::AllStripesLock lock(stripes_.load(std::memory_order_acquire));
    old = table_.load(std::memory_order_relaxed);
    // The same generation as before, so that a resize that read the
    // generation before taking the locks threads into the right links.
    if (old->shape() != shape) {
      old = nullptr;
    } else {
      table_.store(fresh, std::memory_order_release);
      size_.store(0, std::memory_order_release);
    }
  }
  if (old == nullptr) {
    Table::FreeUnpublished(fresh);
    return false;
  }
  RetireWithNodes(old);
  return true;
}

// Retires `array` and every node on its chains, which no writer changes
// any more (it is no longer published), each node as a callback of its
// own: the backlog limit counts entries, so that a storm of clear()s is
// bounded like a storm of erase()s (and may wait like one, outside
// read-side sections). Allocates nothing: cannot fail.
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline void HashMap<K, V, Hash, Eq, Alloc>::RetireWithNodes(Table* array) {
  const int g = array->generation();
  for (std::size_t b = 0; b < array->size(); ++b) {
    Node* node = array->at(b).load(std::memory_order_relaxed);
    while (node != nullptr) {
      Node* next = node->next[g].load(std::memory_order_relaxed);
      RetireToCore(node);  // may be freed from here on: read its link first
      node = next;
    }
  }
  array->RetireAlone();
}

}  // namespace rcu

#endif  // CONTAINERS_INTERNAL_HASH_MAP_WRITE_H_
