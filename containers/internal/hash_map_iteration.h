// Internal: how rcu::HashMap's iterators walk the map. Part of
// containers/hash_map.h, which includes it at its end; include that instead.
//
// Iteration visits positions (bit-reversed hashes) in increasing order. A
// bucket of any array holds one contiguous range of positions, so an
// iterator's cursor means the same thing in every array a resize publishes:
// when its bucket ends it seeks from the cursor in whatever array is current,
// and visits exactly once every entry present throughout.
#ifndef CONTAINERS_INTERNAL_HASH_MAP_ITERATION_H_
#define CONTAINERS_INTERNAL_HASH_MAP_ITERATION_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <type_traits>
#include <utility>

#include "containers/hash_map.h"
#include "containers/internal/hash_map_section.h"
#include "containers/internal/hash_map_table.h"

namespace rcu {
namespace internal {

// True for rcu::HashMap's iterators (of any instantiation).
template <typename It, typename = void>
struct IsHashMapIterator : std::false_type {};
template <typename It>
struct IsHashMapIterator<It, std::void_t<typename It::rcu_hash_map_iterator>> : std::true_type {};

}  // namespace internal

// --- The iterator's own members ----------------------------------------------------

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline HashMap<K, V, Hash, Eq, Alloc>::const_iterator::const_iterator(
    const_iterator&& other) noexcept
    : map_(other.map_),
      node_(std::exchange(other.node_, nullptr)),
      shape_(other.shape_),
      cursor_(other.cursor_),
      positioned_(other.positioned_),
      after_(other.after_),
      guard_(std::move(other.guard_)) {}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline auto HashMap<K, V, Hash, Eq, Alloc>::const_iterator::operator=(
    const_iterator&& other) noexcept -> const_iterator& {
  if (this != &other) {
    guard_ = std::move(other.guard_);  // takes its section, then leaves ours
    map_ = other.map_;
    node_ = std::exchange(other.node_, nullptr);
    shape_ = other.shape_;
    cursor_ = other.cursor_;
    positioned_ = other.positioned_;
    after_ = other.after_;
  }
  return *this;
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline std::uint64_t HashMap<K, V, Hash, Eq, Alloc>::const_iterator::BucketStart() const {
  const std::uint64_t position = positioned_ ? cursor_ : internal::ReverseBits(node_->hash);
  return internal::BucketRangeAt(position, Table::MaskOf(shape_)).start;
}

// --- The walk ----------------------------------------------------------------------

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline auto HashMap<K, V, Hash, Eq, Alloc>::MakeBegin(bool own_section) const -> const_iterator {
  const_iterator it(this);
  if (own_section) it.guard_.Enter();
  SeekFrom(it, 0);
  if (it.node_ == nullptr) it.guard_.LeaveQuietly();  // end() holds nothing
  return it;
}

// ++it. With `renew`, an iterator that owns its section ends it and enters
// a new one when it moves to a later bucket, where it pins nothing (it
// then seeks from its cursor in the current array, as after a resize).
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline void HashMap<K, V, Hash, Eq, Alloc>::Advance(const_iterator& it, bool renew) const {
  it.after_ = nullptr;
  const std::size_t mask = Table::MaskOf(it.shape_);
  const int g = Table::GenerationOf(it.shape_);
  if (!it.positioned_) {
    it.cursor_ = internal::ReverseBits(it.node_->hash & mask);  // its bucket's start
    it.positioned_ = true;
  }
  const internal::PositionRange range = internal::BucketRangeAt(it.cursor_, mask);
  it.node_ = NextInRange(it.node_->next[g].load(std::memory_order_acquire), g, it.cursor_,
                         range.end, range.last);
  if (it.node_ == nullptr && !range.last) {
    if (renew && it.guard_.held()) it.guard_.Renew();
    SeekFrom(it, range.end);
  }
  if (it.node_ == nullptr) it.guard_ = internal::OwnedSection();  // end() holds nothing
}

// The first node at or after `node` in the chain whose position lies in
// [start, end) (`last` means end is 2^64).
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline auto HashMap<K, V, Hash, Eq, Alloc>::NextInRange(const Node* node, int g,
                                                        std::uint64_t start, std::uint64_t end,
                                                        bool last) -> const Node* {
  for (; node != nullptr; node = node->next[g].load(std::memory_order_acquire)) {
    const std::uint64_t position = internal::ReverseBits(node->hash);
    if (position >= start && (last || position < end)) return node;
  }
  return nullptr;
}

// Positions `it` at the first entry at or after `cursor` in bit-reversed
// hash order, in the current bucket array, or at end().
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline void HashMap<K, V, Hash, Eq, Alloc>::SeekFrom(const_iterator& it,
                                                     std::uint64_t cursor) const {
  it.node_ = nullptr;
  while (true) {
    Table* table = table_.load(std::memory_order_acquire);
    const internal::PositionRange range = internal::BucketRangeAt(cursor, table->mask());
    const std::size_t bucket = internal::ReverseBits(cursor) & table->mask();
    it.shape_ = table->shape();
    it.cursor_ = cursor;
    it.positioned_ = true;
    it.node_ = NextInRange(table->at(bucket).load(std::memory_order_acquire), table->generation(),
                           cursor, range.end, range.last);
    if (it.node_ != nullptr || range.last) return;
    cursor = range.end;
  }
}

// --- Walking a source range (insert(first, last)) -----------------------------------

// How many entries [first, last) holds, if that can be known without
// consuming it: forward iterators are counted, another map's iterators
// give its size (a hint).
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename InputIt>
inline auto HashMap<K, V, Hash, Eq, Alloc>::SizeHint(const InputIt& first, const InputIt& last)
    -> size_type {
  if constexpr (std::is_convertible_v<typename std::iterator_traits<InputIt>::iterator_category,
                                      std::forward_iterator_tag>) {
    return static_cast<size_type>(std::distance(first, last));
  } else if constexpr (internal::IsHashMapIterator<InputIt>::value) {
    return first.map_ != nullptr ? first.map_->size() : 0;
  } else {
    (void)first;
    (void)last;
    return 0;
  }
}

// ++it, or for another map's iterator, an advance that renews the section
// it owns between buckets (see insert(first, last)).
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
template <typename It>
inline void HashMap<K, V, Hash, Eq, Alloc>::Step(It& it) {
  if constexpr (internal::IsHashMapIterator<It>::value) {
    it.map_->Advance(it, /*renew=*/true);
  } else {
    ++it;
  }
}

}  // namespace rcu

#endif  // CONTAINERS_INTERNAL_HASH_MAP_ITERATION_H_
