// Internal: rcu::HashMap's copying, moving, swapping and destruction. Part of
// containers/hash_map.h, which includes it at its end; include that instead.
//
// Moves and swaps take the source's stripes, bucket array and entries as
// they are (entries cannot be copied while readers may stand on them);
// whatever a map gives up goes to the RCU core and is freed after a grace
// period.
#ifndef CONTAINERS_INTERNAL_HASH_MAP_LIFETIME_H_
#define CONTAINERS_INTERNAL_HASH_MAP_LIFETIME_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <atomic>
#include <initializer_list>
#include <utility>

#include "containers/hash_map.h"
#include "containers/internal/hash_map_section.h"
#include "containers/internal/hash_map_table.h"
#include "rcu/grace_period.h"
#include "rcu/read_guard.h"

namespace rcu {

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline HashMap<K, V, Hash, Eq, Alloc>::HashMap(const HashMap& other, const Alloc& alloc)
    : HashMap(0, other.hash_, other.eq_, alloc) {
  max_load_factor_.store(other.max_load_factor(), std::memory_order_relaxed);
  CopyFrom(other);
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline HashMap<K, V, Hash, Eq, Alloc>& HashMap<K, V, Hash, Eq, Alloc>::operator=(
    const HashMap& other) {
  if (this != &other) {
    const Alloc alloc =
        AllocTraits::propagate_on_container_copy_assignment::value ? other.alloc_ : alloc_;
    HashMap copy(other, alloc);
    swap(copy);
  }
  return *this;
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline HashMap<K, V, Hash, Eq, Alloc>&
HashMap<K, V, Hash, Eq, Alloc>::operator=(HashMap&& other) noexcept(
    std::is_nothrow_copy_assignable_v<Hash>&& std::is_nothrow_copy_assignable_v<Eq>) {
  if (this != &other) {
    fork_entry_.Unregister();  // before its stripes go (StealFrom registers again)
    ReleaseContents();
    hash_ = other.hash_;
    eq_ = other.eq_;
    if constexpr (AllocTraits::propagate_on_container_move_assignment::value) {
      alloc_ = other.alloc_;
    }
    StealFrom(other);
  }
  return *this;
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline HashMap<K, V, Hash, Eq, Alloc>& HashMap<K, V, Hash, Eq, Alloc>::operator=(
    std::initializer_list<value_type> init) {
  *this = HashMap(init, 0, hash_, eq_, alloc_);
  return *this;
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline HashMap<K, V, Hash, Eq, Alloc>::~HashMap() {
  fork_entry_.Unregister();  // before the stripes go
  const bool held_entries = stripes_.load(std::memory_order_acquire) != nullptr;
  ReleaseContents();
  if constexpr (!internal::kAllocatorIsStateless<Alloc>) {
    if (held_entries) internal::WaitForReclaimedEntries();
  }
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline void HashMap<K, V, Hash, Eq, Alloc>::swap(HashMap& other) noexcept(
    std::is_nothrow_swappable_v<Hash>&& std::is_nothrow_swappable_v<Eq>) {
  using std::swap;
  swap(hash_, other.hash_);
  swap(eq_, other.eq_);
  if constexpr (AllocTraits::propagate_on_container_swap::value) swap(alloc_, other.alloc_);
  SwapAtomic(stripes_, other.stripes_);
  SwapAtomic(table_, other.table_);
  SwapAtomic(size_, other.size_);
  SwapAtomic(min_buckets_, other.min_buckets_);
  SwapAtomic(pending_buckets_, other.pending_buckets_);
  SwapAtomic(max_load_factor_, other.max_load_factor_);
  swap(last_resize_, other.last_resize_);
  RegisterForFork();
  other.RegisterForFork();
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename T>
inline void HashMap<K, V, Hash, Eq, Alloc>::SwapAtomic(std::atomic<T>& a, std::atomic<T>& b) {
  b.store(a.exchange(b.load(std::memory_order_relaxed), std::memory_order_relaxed),
          std::memory_order_relaxed);
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline void HashMap<K, V, Hash, Eq, Alloc>::CopyFrom(const HashMap& other) {
  GrowFor(other.size());  // before the guard: it may wait
  ReadGuard guard;
  for (const value_type& entry : other.Iterate(guard)) insert(entry);
}

// Takes other's entries and arrays, leaving `other` as a new map is. The
// caller has set the functors and the allocator.
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline void HashMap<K, V, Hash, Eq, Alloc>::StealFrom(HashMap& other) {
  stripes_.store(other.stripes_.exchange(nullptr, std::memory_order_acq_rel),
                 std::memory_order_release);
  table_.store(other.table_.exchange(Table::Empty(), std::memory_order_acq_rel),
               std::memory_order_release);
  size_.store(other.size_.exchange(0), std::memory_order_release);
  min_buckets_.store(other.min_buckets_.exchange(kMinBuckets), std::memory_order_relaxed);
  pending_buckets_.store(other.pending_buckets_.exchange(0), std::memory_order_relaxed);
  max_load_factor_.store(other.max_load_factor(), std::memory_order_relaxed);
  last_resize_ = std::exchange(other.last_resize_, CompletedState());
  RegisterForFork();
}

// Registers the map for the fork() handlers (hash_map_fork.h) once it has
// stripes.
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline void HashMap<K, V, Hash, Eq, Alloc>::RegisterForFork() {
  if (stripes_.load(std::memory_order_relaxed) != nullptr) {
    fork_entry_.Register(&stripes_, &resize_mu_, &last_resize_);
  }
}

// Hands the bucket array and every entry to the RCU core, and frees the
// stripes, leaving the map as a new one is. No writer may be running.
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline void HashMap<K, V, Hash, Eq, Alloc>::ReleaseContents() {
  Stripe* stripes = stripes_.exchange(nullptr, std::memory_order_acq_rel);
  if (stripes == nullptr) return;
  Table* table = table_.exchange(Table::Empty(), std::memory_order_acq_rel);
  size_.store(0, std::memory_order_release);
  RetireWithNodes(table);
  delete[] stripes;
}

}  // namespace rcu

#endif  // CONTAINERS_INTERNAL_HASH_MAP_LIFETIME_H_
