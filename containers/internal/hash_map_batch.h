// Internal: rcu::HashMap's batched lookups (find_many, get_many). Part of
// containers/hash_map.h, which includes it at its end; include that instead.
//
// A single lookup on a table larger than the cache costs two dependent
// misses: the bucket slot, then the node. A loop of lookups overlaps only
// the few that fit in the CPU's reorder window. A batch splits the lookups
// of a group of keys into stages, as DRAMHiT and Cuckoo++ do, so that the
// misses of the whole group are in flight at once:
//   1. hash every key of the group and prefetch its bucket slot;
//   2. load every slot (the chain's head) and prefetch the head node;
//   3. walk every chain and compare, as Find() does.
//
// The invariant that makes this exactly as correct as Find():
//   Every address a group uses (the slots, the link generation g that its
//   chain walks follow, and so every node) comes from ONE acquire load of
//   table_, made inside the read-side section that covers the whole group.
// Within that section the loaded array is not freed and its generation's
// links stay intact (a resize threads the other generation, and the resize
// after next, the first to reuse these links, waits for a grace period
// that this section holds up; see HashNodeEntry). So a resize between the
// stages changes nothing the group reads: the group finishes on the array
// it loaded, as a single lookup that loaded it would. What must never
// happen is mixing arrays: a slot computed from one array walked with
// another's generation or mask, or an array loaded under one section used
// under a later one (get_many renews its section per group, so it reloads
// the array per group).
//
// Each result is what a find() of that key made during the call could
// return; the batch is not a snapshot (a loop of find() is not one either).
#ifndef CONTAINERS_INTERNAL_HASH_MAP_BATCH_H_
#define CONTAINERS_INTERNAL_HASH_MAP_BATCH_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <optional>
#include <type_traits>
#include <vector>

#include "absl/base/macros.h"
#include "absl/types/span.h"
#include "containers/hash_map.h"
#include "rcu/read_guard.h"

namespace rcu {

// The caller holds a section for the group. `emit(i, node)` receives each
// key's node, or nullptr, in index order.
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename L, typename Emit>
inline void HashMap<K, V, Hash, Eq, Alloc>::FindGroup(const L* keys, std::size_t count,
                                                      Emit& emit) const {
  // As in Find(): cheap keys are copied, so that each is read once.
  using Wanted = std::conditional_t<kKeyEqualityIsCheap<L>, K, const L*>;
  Wanted wanted[kBatchGroup];
  std::size_t hashes[kBatchGroup];
  const Node* heads[kBatchGroup];

  // The one load of the array for this group (see the invariant above).
  Table* const table = table_.load(std::memory_order_acquire);
  const int g = table->generation();

  // Stage 1: hash, and prefetch the slots.
  for (std::size_t i = 0; i < count; ++i) {
    if constexpr (kKeyEqualityIsCheap<L>) {
      wanted[i] = keys[i];
      hashes[i] = HashOf(wanted[i]);
    } else {
      wanted[i] = &keys[i];
      hashes[i] = HashOf(keys[i]);
    }
    __builtin_prefetch(&table->bucket(hashes[i]), /*rw=*/0, /*locality=*/3);
  }
  // Stage 2: load the heads, and prefetch the words a comparison reads.
  for (std::size_t i = 0; i < count; ++i) {
    const Node* head = table->bucket(hashes[i]).load(std::memory_order_acquire);
    heads[i] = head;
    if (head != nullptr) {
      __builtin_prefetch(head, 0, 3);
      __builtin_prefetch(&head->value.first, 0, 3);  // may lie in the next line
    }
  }
  // Stage 3: walk and compare, exactly as Find().
  for (std::size_t i = 0; i < count; ++i) {
    const Node* found = nullptr;
    for (const Node* node = heads[i]; node != nullptr;
         node = node->next[g].load(std::memory_order_acquire)) {
      if constexpr (kKeyEqualityIsCheap<L>) {
        if (node->value.first == wanted[i]) {
          found = node;
          break;
        }
      } else {
        if (node->hash == hashes[i] && eq_(node->value.first, *wanted[i])) {
          found = node;
          break;
        }
      }
    }
    emit(i, found);
  }
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename L>
inline void HashMap<K, V, Hash, Eq, Alloc>::FindManyImpl(const ReadGuard& /*guard*/,
                                                         absl::Span<const L> keys,
                                                         absl::Span<const_pointer> out) const {
  ABSL_HARDENING_ASSERT(out.size() >= keys.size());
  for (std::size_t base = 0; base < keys.size(); base += kBatchGroup) {
    const std::size_t count = std::min(kBatchGroup, keys.size() - base);
    const_pointer* results = out.data() + base;
    auto emit = [results](std::size_t i, const Node* node) {
      results[i] = node == nullptr ? nullptr : &node->value;
    };
    FindGroup(keys.data() + base, count, emit);
  }
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename L>
inline void HashMap<K, V, Hash, Eq, Alloc>::GetManyImpl(absl::Span<const L> keys,
                                                        absl::Span<std::optional<V>> out) const {
  ABSL_HARDENING_ASSERT(out.size() >= keys.size());
  for (std::size_t base = 0; base < keys.size(); base += kBatchGroup) {
    const std::size_t count = std::min(kBatchGroup, keys.size() - base);
    std::optional<V>* results = out.data() + base;
    auto emit = [results](std::size_t i, const Node* node) {
      if (node == nullptr) {
        results[i].reset();
      } else {
        results[i].emplace(node->value.second);
      }
    };
    // One section per group, so that a long batch does not hold up grace
    // periods (and with them resizes and reclamation) for its whole length.
    // FindGroup loads the array inside it.
    ReadGuard guard;
    FindGroup(keys.data() + base, count, emit);
  }
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename L>
inline std::vector<std::optional<V>> HashMap<K, V, Hash, Eq, Alloc>::GetManyVector(
    absl::Span<const L> keys) const {
  std::vector<std::optional<V>> out(keys.size());
  GetManyImpl(keys, absl::MakeSpan(out));
  return out;
}

}  // namespace rcu

#endif  // CONTAINERS_INTERNAL_HASH_MAP_BATCH_H_
