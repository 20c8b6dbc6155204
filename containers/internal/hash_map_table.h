// Internal: the node and bucket-array layout of rcu::HashMap, and the bit
// arithmetic of its resize-stable iteration order.
#ifndef CONTAINERS_INTERNAL_HASH_MAP_TABLE_H_
#define CONTAINERS_INTERNAL_HASH_MAP_TABLE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <utility>

#include "rcu/mutex.h"

namespace rcu {
namespace internal {

// One entry. Readers reach it through `next` links published with release
// stores; the key and value are immutable once the node is published (an
// update publishes a replacement node instead).
//
// A node has two links, one per bucket-array generation. Readers and writers
// follow next[g] for the generation g of the array they loaded. A resize
// threads every node into the new array through the other link, in private,
// and then publishes the array; readers of the old array keep walking the old
// links, which no writer touches any more. The old links are reused by the
// resize after next, which first waits for a grace period after this one's
// publication, so by then no reader is on them.
template <typename K, typename V>
struct HashNode {
  template <typename... Args>
  explicit HashNode(std::size_t h, Args&&... args)
      : hash(h), value(std::forward<Args>(args)...) {}

  // Written only by writers holding the bucket's stripe lock (or all stripe
  // locks, in a resize). A node keeps its links after it is unlinked, so a
  // reader standing on it can go on.
  std::atomic<HashNode*> next[2] = {};
  // Of value.first; set before the node is published, then immutable.
  std::size_t hash;
  std::pair<const K, V> value;
};

// A bucket array. Its size is a power of two; bucket i holds the chain of
// nodes whose hash has i in its low bits, linked through next[generation()].
//
// One allocation: a one-word header, then the buckets. A lookup therefore
// reads the header with one load and indexes the buckets at a fixed offset;
// a reader's rate on a large map is bounded by how many of its loads the
// CPU can keep in flight, so every load on the path counts.
template <typename Node>
class BucketArray {
 public:
  // Returns nullptr if the array cannot be allocated. `count` is a power of
  // two; `generation` is 0 or 1.
  static BucketArray* Create(std::size_t count, int generation) noexcept {
    constexpr std::size_t kMaxCount =
        (std::numeric_limits<std::size_t>::max() - sizeof(BucketArray)) / sizeof(std::atomic<Node*>);
    if (count > kMaxCount) return nullptr;  // the byte count would wrap
    void* raw = ::operator new(sizeof(BucketArray) + count * sizeof(std::atomic<Node*>),
                               std::nothrow);
    if (raw == nullptr) return nullptr;
    auto* array = new (raw) BucketArray(((count - 1) << 1) | static_cast<std::size_t>(generation));
    std::atomic<Node*>* buckets = array->buckets();
    for (std::size_t i = 0; i < count; ++i) new (&buckets[i]) std::atomic<Node*>(nullptr);
    return array;
  }

  // Frees the array (not the nodes on its chains).
  struct Deleter {
    void operator()(BucketArray* array) const noexcept {
      array->~BucketArray();  // the buckets are trivially destructible
      ::operator delete(array);
    }
  };

  std::size_t size() const { return mask() + 1; }
  int generation() const { return static_cast<int>(shape_ & 1); }
  std::size_t mask() const { return shape_ >> 1; }
  std::atomic<Node*>& bucket(std::size_t hash) { return buckets()[hash & mask()]; }
  std::atomic<Node*>& at(std::size_t index) { return buckets()[index]; }

 private:
  explicit BucketArray(std::size_t shape) : shape_(shape) {}
  std::atomic<Node*>* buckets() {
    return std::launder(reinterpret_cast<std::atomic<Node*>*>(this + 1));
  }

  // (size - 1) << 1 | generation, immutable: the mask and the link a reader
  // follows, in the one word a lookup reads.
  const std::size_t shape_;
};
static_assert(sizeof(BucketArray<HashNode<int, int>>) == sizeof(std::atomic<void*>),
              "the buckets follow the header without padding");

// Iteration visits buckets in bit-reversed order of their index. Then a
// bucket's keys occupy one contiguous range of ReverseBits(hash), and when
// the table doubles a bucket's range splits into two adjacent halves (when
// it halves, two adjacent ranges merge). An iterator that remembers how far
// into that space it has got stays exact across resizes.
inline std::uint64_t ReverseBits(std::uint64_t x) {
  x = ((x >> 1) & 0x5555555555555555ULL) | ((x & 0x5555555555555555ULL) << 1);
  x = ((x >> 2) & 0x3333333333333333ULL) | ((x & 0x3333333333333333ULL) << 2);
  x = ((x >> 4) & 0x0F0F0F0F0F0F0F0FULL) | ((x & 0x0F0F0F0F0F0F0F0FULL) << 4);
  return __builtin_bswap64(x);
}

// Writers lock the stripe of a key's hash. The bucket count is never below
// the stripe count, so every bucket belongs to exactly one stripe whatever
// the table size, and a resize takes all of them. (32: enough for writers on
// 16 cores to rarely collide, and within ThreadSanitizer's limit of 64 locks
// held by one thread.)
inline constexpr std::size_t kHashMapStripes = 32;

// One cache line each, so writers on different stripes do not share lines.
// Allocated on the heap: over-aligned members would make the map itself
// over-aligned, which not every allocator (or ASan's fake stack) honors.
struct alignas(64) HashMapStripe {
  Mutex mu;
};

}  // namespace internal
}  // namespace rcu

#endif  // CONTAINERS_INTERNAL_HASH_MAP_TABLE_H_
