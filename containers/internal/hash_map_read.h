// Internal: rcu::HashMap's lookups. Part of containers/hash_map.h, which
// includes it at its end; include that instead.
//
// A reader loads the current bucket array with acquire under its guard and
// walks one chain through the links of that array's generation. It takes no
// lock and writes nothing shared: a resize may publish a new array meanwhile,
// but the links the reader follows stay intact until its guard ends.
#ifndef CONTAINERS_INTERNAL_HASH_MAP_READ_H_
#define CONTAINERS_INTERNAL_HASH_MAP_READ_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <atomic>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "containers/hash_map.h"
#include "containers/internal/hash_map_hash.h"
#include "rcu/read_guard.h"

namespace rcu {

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename L>
inline std::size_t HashMap<K, V, Hash, Eq, Alloc>::HashOf(const L& key) const {
  return internal::MixedHash<Hash>(hash_(key));
}

// The caller holds a guard.
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename L>
inline auto HashMap<K, V, Hash, Eq, Alloc>::Find(const L& key) const -> Found {
  // Cheap keys are copied, so that they are read once (after an acquire
  // load the compiler would read a referenced key again), and compared
  // directly: one load per node instead of two.
  using Wanted = std::conditional_t<kKeyEqualityIsCheap<L>, const K, const L&>;
  Wanted wanted = key;
  const std::size_t hash = HashOf(wanted);
  Table* table = table_.load(std::memory_order_acquire);
  const int g = table->generation();
  for (const Node* node = table->bucket(hash).load(std::memory_order_acquire); node != nullptr;
       node = node->next[g].load(std::memory_order_acquire)) {
    if constexpr (kKeyEqualityIsCheap<L>) {
      if (node->value.first == wanted) return {node, table->shape()};
    } else {
      if (node->hash == hash && eq_(node->value.first, wanted)) return {node, table->shape()};
    }
  }
  return {nullptr, 0};
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename L>
inline auto HashMap<K, V, Hash, Eq, Alloc>::FindUnder(const ReadGuard& /*guard*/,
                                                      const L& key) const -> const_iterator {
  const Found found = Find(key);
  return const_iterator(this, found.node, found.shape);
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename L>
inline auto HashMap<K, V, Hash, Eq, Alloc>::FindOwning(const L& key) const -> const_iterator {
  const_iterator it(this);
  it.guard_.Enter();  // before the lookup, so that it pins what it finds
  const Found found = Find(key);
  if (found.node == nullptr) {
    it.guard_.LeaveQuietly();  // end() holds nothing
  } else {
    it.node_ = found.node;
    it.shape_ = found.shape;
  }
  return it;
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename L>
inline std::optional<V> HashMap<K, V, Hash, Eq, Alloc>::GetImpl(const L& key) const {
  ReadGuard guard;
  if (const Node* node = Find(key).node) return node->value.second;
  return std::nullopt;
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename L>
inline const V& HashMap<K, V, Hash, Eq, Alloc>::AtImpl(const ReadGuard& /*guard*/,
                                                       const L& key) const {
  if (const Node* node = Find(key).node) return node->value.second;
  throw std::out_of_range("rcu::HashMap::at: key not found");
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename L>
inline bool HashMap<K, V, Hash, Eq, Alloc>::ContainsImpl(const L& key) const {
  ReadGuard guard;
  return Find(key).node != nullptr;
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline auto HashMap<K, V, Hash, Eq, Alloc>::RangeFrom(const_iterator first)
    -> std::pair<const_iterator, const_iterator> {
  if (first.node_ == nullptr) return {const_iterator(), const_iterator()};
  const_iterator second = first;
  ++second;
  second.after_ = first.node_;
  return {std::move(first), std::move(second)};
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline bool HashMap<K, V, Hash, Eq, Alloc>::Equal(const HashMap& a, const HashMap& b) {
  if (&a == &b) return true;
  if (a.size() != b.size()) return false;
  ReadGuard guard;
  for (const value_type& entry : a.Iterate(guard)) {
    const const_iterator it = b.find(guard, entry.first);
    if (it == b.end() || !(it->second == entry.second)) return false;
  }
  return true;
}

// --- The bucket interface ------------------------------------------------------

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline auto HashMap<K, V, Hash, Eq, Alloc>::bucket_count() const -> size_type {
  ReadGuard guard;
  return table_.load(std::memory_order_acquire)->size();
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline auto HashMap<K, V, Hash, Eq, Alloc>::bucket(const K& key) const -> size_type {
  const std::size_t hash = HashOf(key);
  ReadGuard guard;
  return hash & table_.load(std::memory_order_acquire)->mask();
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline auto HashMap<K, V, Hash, Eq, Alloc>::bucket_size(size_type n) const -> size_type {
  ReadGuard guard;
  Table* table = table_.load(std::memory_order_acquire);
  if (n >= table->size()) return 0;
  const int g = table->generation();
  size_type count = 0;
  for (const Node* node = table->at(n).load(std::memory_order_acquire); node != nullptr;
       node = node->next[g].load(std::memory_order_acquire)) {
    ++count;
  }
  return count;
}

}  // namespace rcu

#endif  // CONTAINERS_INTERNAL_HASH_MAP_READ_H_
