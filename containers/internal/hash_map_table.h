// Internal: the node and bucket-array layout of rcu::HashMap, and the bit
// arithmetic of its resize-stable iteration order.
#ifndef CONTAINERS_INTERNAL_HASH_MAP_TABLE_H_
#define CONTAINERS_INTERNAL_HASH_MAP_TABLE_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <sys/mman.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "containers/internal/hash_map_section.h"
#include "rcu/call_rcu.h"
#include "rcu/mutex.h"

namespace rcu {
namespace internal {

// Writers lock the stripe of a key's hash. The bucket count is never below
// the stripe count, so every bucket belongs to exactly one stripe whatever
// the table size, and a resize takes all of them. (32: enough for writers on
// 16 cores to rarely collide, and within ThreadSanitizer's limit of 64 locks
// held by one thread.)
inline constexpr std::size_t kHashMapStripes = 32;

// Tests only: called by every resize between loading the bucket array and
// reading it (tests/containers/hash_map_review_test.cc runs a clear() there).
// nullptr otherwise.
inline void (*hash_map_resize_hook_for_testing)() = nullptr;

// One cache line each, so writers on different stripes do not share lines.
// Allocated on the heap: over-aligned members would make the map itself
// over-aligned, which not every allocator (or ASan's fake stack) honors.
struct alignas(64) HashMapStripe {
  Mutex mu;
};

// Holds every stripe lock, in order (a resize, and clear()).
class ABSL_SCOPED_LOCKABLE AllStripesLock {
 public:
  explicit AllStripesLock(HashMapStripe* stripes) ABSL_NO_THREAD_SAFETY_ANALYSIS
      : stripes_(stripes) {
    for (std::size_t s = 0; s < kHashMapStripes; ++s) stripes_[s].mu.Lock();
  }
  ~AllStripesLock() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (std::size_t s = 0; s < kHashMapStripes; ++s) stripes_[s].mu.Unlock();
  }
  AllStripesLock(const AllStripesLock&) = delete;
  AllStripesLock& operator=(const AllStripesLock&) = delete;

 private:
  HashMapStripe* stripes_;
};

// True if every instance of Alloc can free what any other allocated, and a
// default-constructed one can be made later: a node then need not carry its
// allocator to be freed after a grace period.
template <typename Alloc>
inline constexpr bool kAllocatorIsStateless =
    std::allocator_traits<Alloc>::is_always_equal::value&& std::is_default_constructible_v<Alloc>;

// True if retired nodes may be kept by the retiring thread for reuse
// (containers/internal/hash_map_recycler.h) instead of going back to the
// allocator after their grace period: for std::allocator, and for a
// stateless allocator that opts in with a member
// `using rcu_recycle_nodes = std::true_type;`. Others (pools that count,
// purge or track their memory) get every node back after its grace period,
// so that rcu::Barrier() still means the allocator has them.
template <typename Alloc, typename = void>
struct AllocatorOptsIntoRecycling : std::false_type {};
template <typename Alloc>
struct AllocatorOptsIntoRecycling<Alloc, std::void_t<typename Alloc::rcu_recycle_nodes>>
    : std::bool_constant<Alloc::rcu_recycle_nodes::value> {};
template <typename Alloc>
inline constexpr bool kAllocatorAllowsRecycling =
    kAllocatorIsStateless<Alloc> &&
    (std::is_same_v<Alloc, std::allocator<typename Alloc::value_type>> ||
     AllocatorOptsIntoRecycling<Alloc>::value);

// The allocator a retired node is freed with, long after the map that made
// it may be gone: nothing for a stateless allocator, a copy otherwise.
template <typename Alloc, bool = kAllocatorIsStateless<Alloc>>
class NodeAllocatorSlot {
 public:
  explicit NodeAllocatorSlot(const Alloc&) noexcept {}
  Alloc allocator() const noexcept { return Alloc(); }
};
template <typename Alloc>
class NodeAllocatorSlot<Alloc, false> {
 public:
  explicit NodeAllocatorSlot(const Alloc& alloc) noexcept : alloc_(alloc) {}
  Alloc allocator() const noexcept { return alloc_; }

 private:
  Alloc alloc_;
};

// What readers touch in a node, first in its layout. Readers reach a node
// through `next` links published with release stores; the key and value are
// immutable once the node is published (an update publishes a replacement
// node instead).
//
// A node has two links, one per bucket-array generation. Readers and writers
// follow next[g] for the generation g of the array they loaded. A resize
// threads every node into the new array through the other link, in private,
// and then publishes the array; readers of the old array keep walking the old
// links, which no writer touches any more. The old links are reused by the
// resize after next, which first waits for a grace period after this one's
// publication, so by then no reader is on them.
template <typename Node, typename K, typename V>
struct HashNodeEntry {
  template <typename... Args>
  explicit HashNodeEntry(std::size_t h, Args&&... args)
      : hash(h), value(std::forward<Args>(args)...) {}

  // Written only by writers holding the bucket's stripe lock (or all stripe
  // locks, in a resize). A node keeps its links after it is unlinked, so a
  // reader standing on it can go on.
  std::atomic<Node*> next[2] = {};
  // The mixed hash of value.first (see hash_map_hash.h); set before the
  // node is published, then immutable.
  std::size_t hash;
  std::pair<const K, V> value;
};

// One entry: what readers touch, then what only its reclamation uses. The
// embedded RcuHead queues the node for freeing after a grace period without
// allocating, so retiring an entry cannot fail once it is unlinked.
template <typename K, typename V, typename Alloc>
struct HashNode : HashNodeEntry<HashNode<K, V, Alloc>, K, V>, NodeAllocatorSlot<Alloc>, RcuHead {
  using NodeAlloc = typename std::allocator_traits<Alloc>::template rebind_alloc<HashNode>;
  using NodeTraits = std::allocator_traits<NodeAlloc>;

  template <typename... Args>
  HashNode(const Alloc& alloc, std::size_t h, Args&&... args)
      : HashNodeEntry<HashNode, K, V>(h, std::forward<Args>(args)...),
        NodeAllocatorSlot<Alloc>(alloc) {}

  // Allocates and constructs a node with `alloc`; throws what they throw,
  // leaving nothing allocated.
  template <typename... Args>
  static HashNode* Make(const Alloc& alloc, std::size_t h, Args&&... args) {
    NodeAlloc node_alloc(alloc);
    HashNode* node = NodeTraits::allocate(node_alloc, 1);
    try {
      NodeTraits::construct(node_alloc, node, alloc, h, std::forward<Args>(args)...);
    } catch (...) {
      NodeTraits::deallocate(node_alloc, node, 1);
      throw;
    }
    return node;
  }

  // Builds a new entry in `node`, a node of this type whose old entry is
  // trivially destructible and no longer reachable by anyone (see
  // hash_map_recycler.h). Throws what the constructor throws, having freed
  // `node`.
  template <typename... Args>
  static HashNode* Rebuild(HashNode* node, const Alloc& alloc, std::size_t h, Args&&... args) {
    NodeAlloc node_alloc(alloc);
    NodeTraits::destroy(node_alloc, node);  // trivial: ends the old entry's lifetime
    try {
      NodeTraits::construct(node_alloc, node, alloc, h, std::forward<Args>(args)...);
    } catch (...) {
      NodeTraits::deallocate(node_alloc, node, 1);
      throw;
    }
    return node;
  }

  // Destroys and frees a node, with the allocator it carries.
  static void Destroy(HashNode* node) noexcept {
    NodeAlloc node_alloc(node->NodeAllocatorSlot<Alloc>::allocator());
    NodeTraits::destroy(node_alloc, node);
    NodeTraits::deallocate(node_alloc, node, 1);
  }

  // An RcuHead callback: frees the node the head is embedded in.
  static void Reclaim(RcuHead* head) noexcept { Destroy(static_cast<HashNode*>(head)); }
};

// A bucket array. Its size is a power of two; bucket i holds the chain of
// nodes whose hash has i in its low bits, linked through next[generation()].
//
// One allocation: a header (the shape word, then a queue link for freeing
// the array after a grace period without allocating), then the buckets. A
// lookup reads the shape with one load and indexes the buckets at a fixed
// offset; a reader's rate on a large map is bounded by how many of its loads
// the CPU can keep in flight, so every load on the path counts.
template <typename Node>
struct EmptyBucketArray;

template <typename Node>
class BucketArray {
 public:
  // Returns nullptr if the array cannot be allocated. `count` is a power of
  // two, at least kHashMapStripes; `generation` is 0 or 1.
  static BucketArray* Create(std::size_t count, int generation) noexcept {
    constexpr std::size_t kMaxCount =
        (std::numeric_limits<std::size_t>::max() - sizeof(BucketArray)) /
        sizeof(std::atomic<Node*>);
    if (count > kMaxCount) return nullptr;  // the byte count would wrap
    const std::size_t bytes = BytesFor(count);
    void* raw = IsHuge(bytes) ? ::operator new(bytes, kHugeAlignment, std::nothrow)
                              : ::operator new(bytes, std::nothrow);
    if (raw == nullptr) return nullptr;
    if (IsHuge(bytes)) AdviseHugePages(raw, bytes);  // before the loop below touches a page
    auto* array = new (raw) BucketArray(((count - 1) << 1) | static_cast<std::size_t>(generation));
    std::atomic<Node*>* buckets = array->buckets();
    for (std::size_t i = 0; i < count; ++i) new (&buckets[i]) std::atomic<Node*>(nullptr);
    return array;
  }

  // The array of every map that has never held an entry (or was moved
  // from): kHashMapStripes empty buckets, generation 0, in static storage.
  // Readers read it like any other; writers replace it before their first
  // write (HashMap::Materialize), and nothing ever frees it.
  static BucketArray* Empty() noexcept;

  std::size_t size() const { return mask() + 1; }
  int generation() const { return static_cast<int>(shape_ & 1); }
  std::size_t mask() const { return shape_ >> 1; }
  std::size_t shape() const { return shape_; }
  std::atomic<Node*>& bucket(std::size_t hash) { return buckets()[hash & mask()]; }
  std::atomic<Node*>& at(std::size_t index) { return buckets()[index]; }

  // Frees an array that was never published (no reader can hold it).
  static void FreeUnpublished(BucketArray* array) noexcept { Free(array); }

  // Frees the array (not the nodes on its chains) after a grace period.
  // Allocates nothing, so it cannot fail.
  void RetireAlone() { QueueFree(&FreeAlone); }

  // The mask and generation of an array's shape word.
  static std::size_t MaskOf(std::size_t shape) { return shape >> 1; }
  static int GenerationOf(std::size_t shape) { return static_cast<int>(shape & 1); }

 private:
  friend struct EmptyBucketArray<Node>;

  constexpr explicit BucketArray(std::size_t shape) : shape_(shape) {}
  std::atomic<Node*>* buckets() {
    return std::launder(reinterpret_cast<std::atomic<Node*>*>(this + 1));
  }

  // Arrays of at least this many bytes (2^18 buckets, 2 MiB) are aligned to
  // a huge page and backed by transparent huge pages where the kernel offers
  // them (madvise mode included): a lookup in a DRAM-sized table then misses
  // the TLB only on the node, not on the bucket as well. Measured:
  // bench/hash_map_bench.cc, README.md "Measured".
  static constexpr std::size_t kHugeBytes = std::size_t{2} << 20;
  static constexpr std::align_val_t kHugeAlignment{kHugeBytes};
  static std::size_t BytesFor(std::size_t count) {
    return sizeof(BucketArray) + count * sizeof(std::atomic<Node*>);
  }
  static bool IsHuge(std::size_t bytes) { return bytes >= kHugeBytes; }
  static void AdviseHugePages(void* raw, std::size_t bytes) noexcept {
#if defined(MADV_HUGEPAGE)
    // Only advice: where THP is off (or the call fails) the array works the
    // same on small pages. Whole huge pages only: the header makes every
    // array a few bytes longer than a power of two, and a huge page for
    // that tail would cost 2 MiB of memory for 16 bytes.
    (void)::madvise(raw, bytes & ~(kHugeBytes - 1), MADV_HUGEPAGE);
#else
    (void)raw;
    (void)bytes;
#endif
  }

  static void Free(BucketArray* array) noexcept {
    const std::size_t bytes = BytesFor(array->size());
    array->~BucketArray();  // the buckets are trivially destructible
    if (IsHuge(bytes)) {
      ::operator delete(array, kHugeAlignment);
    } else {
      ::operator delete(array);
    }
  }
  static BucketArray* FromHead(RcuHead* head) noexcept {
    return reinterpret_cast<BucketArray*>(reinterpret_cast<char*>(head) -
                                          offsetof(BucketArray, head_));
  }
  static void FreeAlone(RcuHead* head) noexcept { Free(FromHead(head)); }
  void QueueFree(void (*callback)(RcuHead*));

  // (size - 1) << 1 | generation, immutable: the mask and the link a reader
  // follows, in the one word a lookup reads.
  const std::size_t shape_;
  // Queues the array for freeing; used once, when it is retired.
  RcuHead head_;
};
static_assert(std::is_standard_layout_v<BucketArray<int>>, "BucketArray::FromHead uses offsetof");
static_assert(sizeof(BucketArray<int>) % alignof(std::atomic<int*>) == 0,
              "the buckets follow the header without padding");

// The storage of BucketArray::Empty(): the header and its buckets, laid
// out as Create() lays out an allocated array.
template <typename Node>
struct EmptyBucketArray {
  constexpr EmptyBucketArray() : header((kHashMapStripes - 1) << 1), buckets{} {}
  BucketArray<Node> header;
  std::atomic<Node*> buckets[kHashMapStripes];

  // Constant-initialized: usable before (and after) dynamic initialization.
  static EmptyBucketArray storage;
};
template <typename Node>
EmptyBucketArray<Node> EmptyBucketArray<Node>::storage;

template <typename Node>
BucketArray<Node>* BucketArray<Node>::Empty() noexcept {
  return &EmptyBucketArray<Node>::storage.header;
}

template <typename Node>
void BucketArray<Node>::QueueFree(void (*callback)(RcuHead*)) {
  QueueReclaim(&head_, callback);
}

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

// The range of positions (bit-reversed hashes) that one bucket of an array
// with `mask` covers, given any position inside it: [start, end), where
// `last` means end is 2^64 (and `end` reads 0).
struct PositionRange {
  std::uint64_t start;
  std::uint64_t end;
  bool last;
};
inline PositionRange BucketRangeAt(std::uint64_t position, std::size_t mask) {
  const int bits = __builtin_ctzll(static_cast<std::uint64_t>(mask) + 1);
  const std::uint64_t span = std::uint64_t{1} << (64 - bits);
  const std::uint64_t start = position & ~(span - 1);
  return {start, start + span, start + span == 0};
}

}  // namespace internal
}  // namespace rcu

#endif  // CONTAINERS_INTERNAL_HASH_MAP_TABLE_H_
