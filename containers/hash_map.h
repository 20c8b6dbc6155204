// containers/hash_map.h: a concurrent hash map whose readers never block.
//
// `rcu::HashMap<K, V>` replaces an `absl::flat_hash_map` or
// `std::unordered_map` guarded by a mutex. It keeps the names you know; your
// readers stop contending, and writers to different keys run in parallel.
//
//   rcu::HashMap<std::string, int> ports;
//   ports.insert({"http", 80});
//   ports.try_emplace("https", 443);
//   ports.insert_or_assign("http", 8080);
//
//   std::optional<int> p = ports.get("http");          // copy out, no guard
//   int q = ports.at("https");                         // copy out, or throws
//   bool known = ports.contains(std::string_view("ftp"));  // heterogeneous
//
//   {
//     rcu::ReadGuard guard;                            // references live as
//     auto it = ports.find(guard, "https");            // long as the guard
//     if (it != ports.end()) Use(it->second);
//     for (const auto& [name, port] : ports.Iterate(guard)) Use(name, port);
//   }
//   for (const auto& [name, port] : ports) Use(name, port);   // also works:
//                                          // the iterator holds its own guard
//   std::vector<std::string> names = {"http", "https", "ftp"};
//   std::vector<std::optional<int>> got = ports.get_many(names);  // batched:
//   {                                                  // DRAM misses overlap
//     rcu::ReadGuard guard;
//     std::vector<const std::pair<const std::string, int>*> hits(names.size());
//     ports.find_many(guard, names, absl::MakeSpan(hits));  // nullptr: absent
//   }
//   ports.update("http", [](const int& old) { return old + 1; });  // copy-update
//   ports.erase("http");
//   for (auto it = ports.begin(); it != ports.end();) {        // erase while
//     it = it->second < 1024 ? ports.erase(it) : std::next(it);  // iterating
//   }
//
// Readers (find, get, at, contains, count, equal_range, iteration, and the
// batched find_many and get_many) are lock-free: they never wait for
// writers, for resizes, or for memory reclamation. They may or may not see
// a concurrent change, and never see a freed or half-built entry. Values
// are immutable once published: an update builds a new entry and publishes
// it; the old one is freed after a grace period. So readers only get const
// access, and there is no mutable operator[] (see "Porting" in README.md for
// what to write instead).
//
// Writers (insert, emplace, try_emplace, insert_or_assign, update, compute,
// erase, erase_if, clear, merge) lock one of 32 stripes, chosen by the key's
// hash. Resizes (automatic, or reserve and rehash) are relativistic, after
// Triplett, McKenney and Walpole (USENIX ATC 2011) and Linux's rhashtable:
// entries are never copied or moved. Each entry has a second link; a resize
// threads every entry into a new bucket array through it, in private, and
// publishes the array in one store. Readers run at full speed throughout, on
// whichever array they loaded. Writers wait only while the entries are
// threaded (all stripes are locked then). No writer ever waits for a grace
// period (only reserve() and rehash() may, outside read-side sections), so
// writing from inside a read-side section, or under a lock that readers
// take inside theirs, is safe. A resize reuses the links of the array
// before the last, so it needs the grace period after the last resize to
// have passed: an automatic resize that would have to wait for it is left
// to a later write instead (each resize hurries that grace period along, so
// the map lags behind its load factor only for about one grace period).
//
// Guarantees:
//  - Iteration is weakly consistent: from begin(), it visits exactly once
//    every key present for the whole iteration, in any order, even across
//    resizes; keys inserted or erased meanwhile may or may not appear. The
//    iterator is an input iterator (one pass; a second pass may differ), so
//    every standard algorithm that accepts one (std::vector's range
//    constructor, std::distance, std::copy, std::find_if...) is safe while
//    writers run. An iterator obtained from a lookup or a write (find,
//    insert, erase(it)...) continues from its entry in the same order: the
//    rest of its bucket, then every later bucket.
//  - size() is exact: it counts every insert and erase that has returned and
//    none that has not started (concurrent ones may or may not be counted).
//  - Single-key writes give the strong guarantee: a throwing hash, equality,
//    allocation or value constructor leaves the map unchanged, unlocked and
//    usable. Once a change is published nothing can fail: retiring an entry
//    allocates nothing. clear() is all or nothing. erase_if() keeps what it
//    removed before its predicate threw. A failed bucket-array allocation
//    skips the resize.
//  - Memory: an entry is one allocation of 40 bytes (two links, the hash and
//    a reclamation link), plus the key and value (plus the allocator, for a
//    stateful one), and the bucket array takes 8 bytes per bucket, with
//    between 1/16 and 1/2 entry per bucket at the default maximum load
//    factor of 0.5 (so 16 to 128 bytes per entry; 16 to 32 after growth,
//    16 right after reserve(n) for a power of two n). A map that
//    never held an entry allocates nothing; after its first write, about
//    2.3 KB: 32 cache-line-sized stripe locks and 32 buckets. Erased and
//    replaced entries are freed after a grace period; if too many wait,
//    writers wait for the backlog to drain (rcu/call_rcu.h), so an
//    insert/erase storm cannot grow memory without bound (see Rules). The
//    limit counts entries: clear() retires each entry on its own.
//  - Reuse: when the key and value are trivially destructible and the
//    allocator is std::allocator (or opts in with a member
//    `using rcu_recycle_nodes = std::true_type;`), the writing thread keeps
//    the entries it unlinks and builds its next entries in them once their
//    grace period has elapsed: no malloc and no free per update, and no work
//    for the callback thread. A thread keeps at most about 66,000 such
//    entries per map type (about 4 MiB for uint64_t -> uint64_t), frees
//    what it cannot reuse beyond a few batches, and frees the rest when it
//    exits; so after rcu::Barrier() every erased value is destroyed, but not
//    every entry's memory is back in the allocator. Other allocators get
//    each entry back after its grace period.
//    (containers/internal/hash_map_recycler.h.)
//
// What the container-wide operations mean while others run:
//  - Copying (the copy constructor and assignment, the range constructor
//    from another map) copies a weakly consistent view, as an iteration sees
//    it. operator== compares sizes, then looks up every entry of one map in
//    the other under one guard: exact when neither changes meanwhile.
//  - merge(source) copies each entry of `source` whose key this map lacks,
//    then erases it from `source` if it is still that entry. Entries cannot
//    be spliced: readers of `source` may still be standing on them.
//  - Move construction needs no exclusive access to the source, but the
//    source must not change meanwhile; move assignment and swap need
//    exclusive access to both maps (no other thread may use either). None of
//    them frees an entry a reader may hold: the moved-from map is left empty
//    and usable, and what an assigned-to map held is freed after a grace
//    period.
//
// fork(): the library's fork handlers take every stripe of every map with
// entries before the fork (writers hold one only briefly), and release them
// in both processes, so the child may read and write every map; in the
// child, the maps are as the forking thread saw them. Do not fork from
// inside compute()'s or erase_if()'s callback, nor write to another map from
// one while another thread may fork.
//
// Rules: an iterator or reference is valid while the guard it was obtained
// under (or, for iterators from find(key), begin() and the writers, the
// iterator itself) lives; keep neither across threads. end() holds nothing,
// so `if (m.find(k) == m.end()) m.reserve(n);` is fine anywhere.
//
// Inside a read-side section (a ReadGuard, or while an iterator that owns
// one is alive) a thread never waits: its writes work, but do not wait for
// the reclamation backlog (the thread waits when its outermost section
// ends, see containers/internal/hash_map_section.h), and entries it erases
// are freed only after the section ends. reserve() and rehash() called
// there resize at once if they can, and otherwise leave the resize to a
// later write. An automatic resize happens at most once per section (the
// next one needs a grace period, which that section holds up), so fill a
// map from inside a long section only after reserve(). insert(first, last)
// and merge() from another map are safe: the source's iterator renews its
// own section between buckets. std::inserter(map, hint) holds no iterator
// between inserts (it is specialized below), but std::copy(other.begin(),
// other.end(), std::inserter(map, hint)) keeps the source iterator's
// section for the whole copy: write map.insert(other.begin(), other.end())
// instead (or reserve() first).
#ifndef CONTAINERS_HASH_MAP_H_
#define CONTAINERS_HASH_MAP_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/thread_annotations.h"
#include "absl/types/span.h"
#include "containers/internal/hash_map_fork.h"
#include "containers/internal/hash_map_hash.h"
#include "containers/internal/hash_map_section.h"
#include "containers/internal/hash_map_table.h"
#include "rcu/grace_period.h"
#include "rcu/mutex.h"
#include "rcu/read_guard.h"

namespace rcu {

// What compute() did.
enum class ComputeResult { kUnchanged, kInserted, kUpdated, kErased };

template <typename K, typename V, typename Hash = typename internal::DefaultHashEq<K>::Hash,
          typename Eq = typename internal::DefaultHashEq<K>::Eq,
          typename Alloc = std::allocator<std::pair<const K, V>>>
class HashMap {
  // The entry and bucket-array types (containers/internal/hash_map_table.h),
  // and the constraints of the overloads below.
  using Node = internal::HashNode<K, V, Alloc>;
  using Table = internal::BucketArray<Node>;
  using Stripe = internal::HashMapStripe;
  using AllocTraits = std::allocator_traits<Alloc>;
  using NodeAlloc = typename AllocTraits::template rebind_alloc<Node>;
  // Heterogeneous lookups take any key type when both functors are
  // transparent (as the defaults are for string keys).
  template <typename L>
  using IfTransparent =
      std::enable_if_t<internal::IsTransparent<Hash, Eq>::value && !std::is_void_v<L>, int>;
  template <typename It>
  using IfInputIterator =
      std::enable_if_t<std::is_convertible_v<typename std::iterator_traits<It>::iterator_category,
                                             std::input_iterator_tag>,
                       int>;

 public:
  using key_type = K;
  using mapped_type = V;
  using value_type = std::pair<const K, V>;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using hasher = Hash;
  using key_equal = Eq;
  using allocator_type = Alloc;
  using reference = const value_type&;
  using const_reference = const value_type&;
  using pointer = const value_type*;
  using const_pointer = const value_type*;

  class const_iterator;
  using iterator = const_iterator;  // entries are immutable once published

  // A range over the map for range-for, bound to a guard: see Iterate().
  class Range {
   public:
    const_iterator begin() const { return map_->MakeBegin(/*own_section=*/false); }
    const_iterator end() const { return const_iterator(); }

   private:
    friend class HashMap;
    explicit Range(const HashMap* map) : map_(map) {}
    const HashMap* map_;
  };

  // --- Construction ------------------------------------------------------------
  //
  // Constructors with a bucket count allocate that many buckets at once;
  // the others allocate nothing until the first write.

  HashMap() noexcept(
      std::is_nothrow_default_constructible_v<Hash>&& std::is_nothrow_default_constructible_v<Eq>&&
          std::is_nothrow_default_constructible_v<Alloc>) {}
  explicit HashMap(size_type bucket_count, const Hash& hash = Hash(), const Eq& eq = Eq(),
                   const Alloc& alloc = Alloc())
      : hash_(hash), eq_(eq), alloc_(alloc) {
    if (bucket_count > 0) Materialize(BucketCountFor(bucket_count));
  }
  HashMap(size_type bucket_count, const Alloc& alloc)
      : HashMap(bucket_count, Hash(), Eq(), alloc) {}
  HashMap(size_type bucket_count, const Hash& hash, const Alloc& alloc)
      : HashMap(bucket_count, hash, Eq(), alloc) {}
  explicit HashMap(const Alloc& alloc) : HashMap(0, Hash(), Eq(), alloc) {}

  // From a range: the pairs [first, last), the first of equal keys winning.
  template <typename InputIt, IfInputIterator<InputIt> = 0>
  HashMap(InputIt first, InputIt last, size_type bucket_count = 0, const Hash& hash = Hash(),
          const Eq& eq = Eq(), const Alloc& alloc = Alloc())
      : HashMap(bucket_count, hash, eq, alloc) {
    insert(first, last);
  }
  template <typename InputIt, IfInputIterator<InputIt> = 0>
  HashMap(InputIt first, InputIt last, size_type bucket_count, const Alloc& alloc)
      : HashMap(first, last, bucket_count, Hash(), Eq(), alloc) {}
  template <typename InputIt, IfInputIterator<InputIt> = 0>
  HashMap(InputIt first, InputIt last, size_type bucket_count, const Hash& hash, const Alloc& alloc)
      : HashMap(first, last, bucket_count, hash, Eq(), alloc) {}

  HashMap(std::initializer_list<value_type> init, size_type bucket_count = 0,
          const Hash& hash = Hash(), const Eq& eq = Eq(), const Alloc& alloc = Alloc())
      : HashMap(init.begin(), init.end(), bucket_count, hash, eq, alloc) {}
  HashMap(std::initializer_list<value_type> init, size_type bucket_count, const Alloc& alloc)
      : HashMap(init, bucket_count, Hash(), Eq(), alloc) {}
  HashMap(std::initializer_list<value_type> init, size_type bucket_count, const Hash& hash,
          const Alloc& alloc)
      : HashMap(init, bucket_count, hash, Eq(), alloc) {}

  // A weakly consistent copy of `other` (see the file comment), which may be
  // in use by other threads meanwhile.
  HashMap(const HashMap& other)
      : HashMap(other, AllocTraits::select_on_container_copy_construction(other.alloc_)) {}
  HashMap(const HashMap& other, const Alloc& alloc);

  // Takes `other`'s entries without copying them; `other` is left empty and
  // usable. `other` must not change meanwhile (see the file comment).
  HashMap(HashMap&& other) noexcept(
      std::is_nothrow_copy_constructible_v<Hash>&& std::is_nothrow_copy_constructible_v<Eq>)
      : hash_(other.hash_), eq_(other.eq_), alloc_(other.alloc_) {
    StealFrom(other);
  }
  // Entries keep the allocator that made them (each node carries a copy of
  // a stateful one), so even an unequal `alloc` takes them over as they are.
  HashMap(HashMap&& other, const Alloc& alloc) : hash_(other.hash_), eq_(other.eq_), alloc_(alloc) {
    StealFrom(other);
  }

  // Replaces the contents with a weakly consistent copy of `other`; strong
  // guarantee. Needs exclusive access to this map.
  HashMap& operator=(const HashMap& other);
  // Takes `other`'s entries; what this map held is freed after a grace
  // period. Needs exclusive access to both maps.
  HashMap& operator=(HashMap&& other) noexcept(
      std::is_nothrow_copy_assignable_v<Hash>&& std::is_nothrow_copy_assignable_v<Eq>);
  HashMap& operator=(std::initializer_list<value_type> init);

  // Frees every entry. No reader or writer may use the map any more; readers
  // that still hold references from earlier are fine until their guards end
  // (entries and buckets are reclaimed after a grace period).
  //
  // With a stateful allocator (one that is not always equal, such as
  // std::pmr::polymorphic_allocator), entries are freed through the copy of
  // the allocator each carries, after a grace period, on the RCU callback
  // thread. So that the allocator's memory resource may be destroyed as soon
  // as the map is, the destructor then waits until every entry the map ever
  // retired is freed (rcu::Barrier()): do not destroy such a map while
  // holding a lock that an RCU callback takes. It cannot wait inside a
  // read-side section or an RCU callback; a map destroyed there is freed
  // later, and the resource must outlive that: call rcu::Barrier() (outside
  // sections) before destroying it. (The bucket arrays come from global
  // operator new, not from the allocator.)
  ~HashMap();

  // --- Readers -------------------------------------------------------------

  // The entry for `key`, or end(). Valid while `guard` lives.
  template <typename L, IfTransparent<L> = 0>
  const_iterator find(const ReadGuard& guard ABSL_ATTRIBUTE_LIFETIME_BOUND, const L& key) const {
    return FindUnder(guard, key);
  }
  const_iterator find(const ReadGuard& guard ABSL_ATTRIBUTE_LIFETIME_BOUND, const K& key) const {
    return FindUnder(guard, key);
  }

  // The entry for `key`, holding its own read guard; or end(), which holds
  // nothing.
  template <typename L, IfTransparent<L> = 0>
  const_iterator find(const L& key) const {
    return FindOwning(key);
  }
  const_iterator find(const K& key) const { return FindOwning(key); }

  // A copy of the value for `key`, if present.
  template <typename L, IfTransparent<L> = 0>
  std::optional<V> get(const L& key) const {
    return GetImpl(key);
  }
  std::optional<V> get(const K& key) const { return GetImpl(key); }

  // The value for `key`, valid while `guard` lives; throws std::out_of_range
  // if absent.
  template <typename L, IfTransparent<L> = 0>
  const V& at(const ReadGuard& guard ABSL_ATTRIBUTE_LIFETIME_BOUND, const L& key) const {
    return AtImpl(guard, key);
  }
  const V& at(const ReadGuard& guard ABSL_ATTRIBUTE_LIFETIME_BOUND, const K& key) const {
    return AtImpl(guard, key);
  }
  // A copy of the value for `key`; throws std::out_of_range if absent. (A
  // reference would outlive the entry: take one under a guard, above.)
  template <typename L, IfTransparent<L> = 0>
  V at(const L& key) const {
    ReadGuard guard;
    return AtImpl(guard, key);
  }
  V at(const K& key) const {
    ReadGuard guard;
    return AtImpl(guard, key);
  }

  template <typename L, IfTransparent<L> = 0>
  bool contains(const L& key) const {
    return ContainsImpl(key);
  }
  bool contains(const K& key) const { return ContainsImpl(key); }

  template <typename L, IfTransparent<L> = 0>
  size_type count(const L& key) const {
    return contains(key) ? 1 : 0;
  }
  size_type count(const K& key) const { return contains(key) ? 1 : 0; }

  // [find(key), next): the entry for `key` (keys are unique), or two end()s.
  // `next` remembers that it was made as the successor of `key`'s entry, so
  // erase(first, last) with the pair erases exactly that entry, whatever
  // other writers insert or replace after it meanwhile.
  template <typename L, IfTransparent<L> = 0>
  std::pair<const_iterator, const_iterator> equal_range(const L& key) const {
    return RangeFrom(find(key));
  }
  std::pair<const_iterator, const_iterator> equal_range(const K& key) const {
    return RangeFrom(find(key));
  }
  template <typename L, IfTransparent<L> = 0>
  std::pair<const_iterator, const_iterator> equal_range(
      const ReadGuard& guard ABSL_ATTRIBUTE_LIFETIME_BOUND, const L& key) const {
    return RangeFrom(find(guard, key));
  }
  std::pair<const_iterator, const_iterator> equal_range(
      const ReadGuard& guard ABSL_ATTRIBUTE_LIFETIME_BOUND, const K& key) const {
    return RangeFrom(find(guard, key));
  }

  // Batched lookups: many keys at once, with the memory accesses of a group
  // of keys (kBatchGroup) overlapped, so that on a table larger than the
  // cache the misses of the group cost about as much as one lookup's. Each
  // result is what a find() or get() of that key during the call could
  // return (the batch is not a snapshot, as a loop of find() is not).
  // Duplicate keys are fine. Heterogeneous keys need an explicit span:
  // find_many(guard, absl::MakeConstSpan(views), out).

  // out[i] = the entry for keys[i], or nullptr; valid while `guard` lives.
  // `out` must have room for keys.size() results. Allocates nothing.
  template <typename L, IfTransparent<L> = 0>
  void find_many(const ReadGuard& guard ABSL_ATTRIBUTE_LIFETIME_BOUND, absl::Span<const L> keys,
                 absl::Span<const_pointer> out) const {
    FindManyImpl(guard, keys, out);
  }
  void find_many(const ReadGuard& guard ABSL_ATTRIBUTE_LIFETIME_BOUND, absl::Span<const K> keys,
                 absl::Span<const_pointer> out) const {
    FindManyImpl(guard, keys, out);
  }

  // out[i] = a copy of the value for keys[i], or nullopt. `out` must have
  // room for keys.size() results. Takes its own guard, renewed every group,
  // so a long batch does not hold up reclamation. Allocates nothing but
  // what copying V allocates.
  template <typename L, IfTransparent<L> = 0>
  void get_many(absl::Span<const L> keys, absl::Span<std::optional<V>> out) const {
    GetManyImpl(keys, out);
  }
  void get_many(absl::Span<const K> keys, absl::Span<std::optional<V>> out) const {
    GetManyImpl(keys, out);
  }
  // The same, into a new vector of keys.size() results.
  template <typename L, IfTransparent<L> = 0>
  std::vector<std::optional<V>> get_many(absl::Span<const L> keys) const {
    return GetManyVector(keys);
  }
  std::vector<std::optional<V>> get_many(absl::Span<const K> keys) const {
    return GetManyVector(keys);
  }

  // max_load_factor() of a new map.
  static constexpr float kDefaultMaxLoadFactor = 0.5f;

  // How many lookups a batch keeps in flight at once.
  static constexpr size_type kBatchGroup = 16;

  // Iteration bound to `guard`: for (const auto& [k, v] : map.Iterate(guard)).
  Range Iterate(const ReadGuard& guard ABSL_ATTRIBUTE_LIFETIME_BOUND) const {
    (void)guard;
    return Range(this);
  }

  // Iteration whose iterators hold their own guard, for plain range-for.
  const_iterator begin() const { return MakeBegin(/*own_section=*/true); }
  const_iterator cbegin() const { return begin(); }
  const_iterator end() const { return const_iterator(); }
  const_iterator cend() const { return end(); }

  size_type size() const { return size_.load(std::memory_order_acquire); }
  bool empty() const { return size() == 0; }
  size_type max_size() const {
    return std::allocator_traits<NodeAlloc>::max_size(NodeAlloc(alloc_));
  }

  // The bucket interface describes the current bucket array, which a
  // concurrent resize may replace at any time.
  size_type bucket_count() const;
  size_type max_bucket_count() const { return size_type{1} << 60; }
  // The bucket `key` falls in, in the current bucket array.
  size_type bucket(const K& key) const;
  // The entries in bucket `n` of the current array (0 if it has fewer).
  size_type bucket_size(size_type n) const;
  float load_factor() const {
    return static_cast<float>(size()) / static_cast<float>(bucket_count());
  }
  float max_load_factor() const { return max_load_factor_.load(std::memory_order_relaxed); }
  // Grows when size() would exceed this many entries per bucket (default
  // 0.5, unlike std::unordered_map's 1.0); shrinks below an eighth of it.
  // The default trades 8 to 16 more bytes per entry (bucket slots) for
  // shorter chains: on tables larger than the cache, a lookup that has to
  // step past a node pays another dependent miss and a mispredicted branch,
  // and 0.5 runs DRAM-sized lookups about 1.5x faster than 1.0 here (README,
  // issue 14). 1.0 halves the slots' memory.
  void max_load_factor(float factor);
  hasher hash_function() const { return hash_; }
  key_equal key_eq() const { return eq_; }
  allocator_type get_allocator() const { return alloc_; }

  // --- Writers -------------------------------------------------------------
  //
  // Writers that return an iterator return one that holds its own read
  // guard (see Rules in the file comment). The hinted forms ignore the hint.

  std::pair<iterator, bool> insert(const value_type& value);
  std::pair<iterator, bool> insert(value_type&& value);
  template <typename P, typename = std::enable_if_t<std::is_constructible_v<value_type, P&&>>>
  std::pair<iterator, bool> insert(P&& value) {
    return emplace(std::forward<P>(value));
  }
  iterator insert(const_iterator /*hint*/, const value_type& value) { return insert(value).first; }
  iterator insert(const_iterator /*hint*/, value_type&& value) {
    return insert(std::move(value)).first;
  }
  template <typename P, typename = std::enable_if_t<std::is_constructible_v<value_type, P&&>>>
  iterator insert(const_iterator /*hint*/, P&& value) {
    return emplace(std::forward<P>(value)).first;
  }
  // Presizes for a range of forward iterators or from another map. Another
  // map's iterators that own their read-side section end it and enter a new
  // one between buckets, so that the grace period a resize may need can pass
  // during the fill (std::copy into std::inserter(map, hint) cannot do that:
  // it keeps the source's section for the whole copy).
  template <typename InputIt, IfInputIterator<InputIt> = 0>
  void insert(InputIt first, InputIt last) {
    InsertRange(std::move(first), std::move(last));
  }
  void insert(std::initializer_list<value_type> values) { insert(values.begin(), values.end()); }

  // Constructs the entry first (so a key that is present costs a node), then
  // inserts it unless the key is present.
  template <typename... Args>
  std::pair<iterator, bool> emplace(Args&&... args);
  template <typename... Args>
  iterator emplace_hint(const_iterator /*hint*/, Args&&... args) {
    return emplace(std::forward<Args>(args)...).first;
  }

  // Inserts (key, V(args...)) unless the key is present; then it constructs
  // nothing.
  template <typename... Args>
  std::pair<iterator, bool> try_emplace(const K& key, Args&&... args);
  template <typename... Args>
  std::pair<iterator, bool> try_emplace(K&& key, Args&&... args);
  template <typename... Args>
  iterator try_emplace(const_iterator /*hint*/, const K& key, Args&&... args) {
    return try_emplace(key, std::forward<Args>(args)...).first;
  }
  template <typename... Args>
  iterator try_emplace(const_iterator /*hint*/, K&& key, Args&&... args) {
    return try_emplace(std::move(key), std::forward<Args>(args)...).first;
  }

  // Inserts, or publishes a new entry in place of the present one. Returns
  // true if it inserted.
  template <typename M>
  std::pair<iterator, bool> insert_or_assign(const K& key, M&& value);
  template <typename M>
  std::pair<iterator, bool> insert_or_assign(K&& key, M&& value);
  template <typename M>
  iterator insert_or_assign(const_iterator /*hint*/, const K& key, M&& value) {
    return insert_or_assign(key, std::forward<M>(value)).first;
  }
  template <typename M>
  iterator insert_or_assign(const_iterator /*hint*/, K&& key, M&& value) {
    return insert_or_assign(std::move(key), std::forward<M>(value)).first;
  }

  // Copy-update: if `key` is present, publishes a new entry whose value is
  // fn(old value) and retires the old one. Returns false if absent. `fn`
  // runs under the key's stripe lock; it must not use this map.
  template <typename F>
  bool update(const K& key, F&& fn);

  // Upsert, like Java's ConcurrentHashMap::compute: fn(current value or
  // nullptr) returns the new value, or nullopt to erase (or not insert).
  // Atomic for the key: no other writer of this key runs meanwhile. `fn`
  // runs under the key's stripe lock; it must not use this map.
  template <typename F>
  ComputeResult compute(const K& key, F&& fn);

  // Removes `key`; returns the number of entries removed (0 or 1).
  template <typename L, IfTransparent<L> = 0>
  size_type erase(const L& key) {
    return EraseImpl(key);
  }
  size_type erase(const K& key) { return EraseImpl(key); }

  // Removes the entry `pos` points to, if it is still the map's entry for
  // its key (a concurrent writer may have replaced or removed it; then
  // nothing is removed). Returns the iterator after `pos`, so that
  //   for (auto it = m.begin(); it != m.end();) it = drop(*it) ? m.erase(it) : std::next(it);
  // works (and visits every entry present throughout exactly once).
  iterator erase(const_iterator pos);

  // Removes the entries of [first, last) that are still current, in
  // iteration order, and returns `last`. Erasing stops at `last`'s entry, at
  // an entry for the same key (a concurrent writer may have replaced it), or,
  // if a concurrent writer removed it, at the end of its bucket. A range
  // from equal_range(key) erases only `key`'s entry, even if other writers
  // inserted entries after it meanwhile.
  iterator erase(const_iterator first, const_iterator last);

  // Removes every entry for which pred(const value_type&) is true; returns
  // how many. Each stripe is locked in turn, so the removal is atomic per
  // stripe, not for the whole map. `pred` runs under a stripe lock; it must
  // not use this map. If it throws, what it removed so far stays removed.
  template <typename Pred>
  size_type erase_if(Pred pred);

  // Removes every entry; safe while readers run (they may still see the old
  // entries until their guards end). Keeps the bucket count. All or
  // nothing: it throws std::bad_alloc, changing nothing, if it cannot
  // allocate the empty bucket array it publishes.
  void clear();

  // Copies into this map every entry of `source` whose key it lacks, and
  // erases those from `source` (see the file comment).
  template <typename H2, typename E2>
  void merge(HashMap<K, V, H2, E2, Alloc>& source);
  template <typename H2, typename E2>
  void merge(HashMap<K, V, H2, E2, Alloc>&& source) {
    merge(source);
  }

  // Exchanges the contents (and functors) of two maps. Needs exclusive
  // access to both.
  void swap(HashMap& other) noexcept(
      std::is_nothrow_swappable_v<Hash>&& std::is_nothrow_swappable_v<Eq>)
      ABSL_NO_THREAD_SAFETY_ANALYSIS;

  // Makes room for `count` entries without a resize (and stops automatic
  // shrinking below that). May wait for a grace period; inside a read-side
  // section it never waits, and may leave the resize to the next write
  // outside one.
  void reserve(size_type count);

  // Sets the bucket count to at least `count` and enough for size(); 0 lets
  // the map shrink to fit. Waits like reserve().
  void rehash(size_type count);

  // Weakly consistent (see the file comment).
  friend bool operator==(const HashMap& a, const HashMap& b) { return Equal(a, b); }
  friend bool operator!=(const HashMap& a, const HashMap& b) { return !(a == b); }

  // --- Iterators -----------------------------------------------------------

  // An input iterator: it makes one weakly consistent pass (see the file
  // comment). Copies are independent, and each pins its entry.
  class const_iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = HashMap::value_type;
    using difference_type = std::ptrdiff_t;
    using pointer = const value_type*;
    using reference = const value_type&;

    const_iterator() = default;
    // Copies pin the node too; moves take the source's pin over and leave
    // the source at end(), so that it cannot reach a node it no longer pins.
    const_iterator(const const_iterator&) = default;
    const_iterator(const_iterator&& other) noexcept;
    const_iterator& operator=(const const_iterator&) = default;
    const_iterator& operator=(const_iterator&& other) noexcept;

    reference operator*() const { return node_->value; }
    pointer operator->() const { return &node_->value; }

    // On reaching end(), leaves the section it owned, if any.
    const_iterator& operator++() {
      map_->Advance(*this);
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++*this;
      return old;
    }

    friend bool operator==(const const_iterator& a, const const_iterator& b) {
      return a.node_ == b.node_;
    }
    friend bool operator!=(const const_iterator& a, const const_iterator& b) { return !(a == b); }

    // For HashMap::SizeHint: this is an rcu::HashMap iterator.
    using rcu_hash_map_iterator = void;

   private:
    friend class HashMap;
    template <typename, typename, typename, typename, typename>
    friend class HashMap;
    explicit const_iterator(const HashMap* map) : map_(map) {}
    const_iterator(const HashMap* map, const Node* node, std::size_t shape)
        : map_(map), node_(node), shape_(shape) {}

    // The start of the position range of the bucket the iterator walks.
    std::uint64_t BucketStart() const;

    const HashMap* map_ = nullptr;
    const Node* node_ = nullptr;  // nullptr: end()
    // The shape (mask and link generation) of the bucket array whose chain
    // node_ was reached in. Its links of that generation stay intact while
    // the iterator's section lasts (see HashNodeEntry).
    std::size_t shape_ = 0;
    // With positioned_: iteration has visited what it will of every
    // position below cursor_, which lies in node_'s bucket's range (it is
    // past the range's start only right after a resize merged buckets).
    // Iterators from lookups start unpositioned: their first ++ positions
    // them at the start of their entry's bucket, from shape_ and the hash.
    std::uint64_t cursor_ = 0;
    bool positioned_ = false;
    // Set only on the second iterator of equal_range(): the entry it was made
    // the successor of (compared, never dereferenced), so that
    // erase(first, last) erases just that entry. Cleared by ++.
    const Node* after_ = nullptr;
    internal::OwnedSection guard_;  // held: this iterator pins its node
  };

 private:
  template <typename, typename, typename, typename, typename>
  friend class HashMap;

  // The implementation. Only declarations here; each group's definitions
  // are in the file named above it, included at the end of this one.

  static constexpr size_type kMinBuckets = internal::kHashMapStripes;

  // Owns a node until it is linked, so that a throw destroys it (defined in
  // hash_map_write.h).
  struct NodeHolder;

  // A lookup's result: the node (or nullptr) and the shape of the array it
  // was found in.
  struct Found {
    const Node* node;
    std::size_t shape;
  };

  // Keys that compare with one machine comparison under the default
  // equality: lookups compare them directly rather than the stored hash
  // first.
  template <typename L>
  static constexpr bool kKeyEqualityIsCheap =
      std::is_same_v<L, K> && (std::is_integral_v<K> || std::is_enum_v<K> ||
                               std::is_pointer_v<K>)&&(std::is_same_v<Eq, std::equal_to<K>> ||
                                                       std::is_same_v<Eq, std::equal_to<>>);

  // containers/internal/hash_map_lifetime.h: copying, moving, destruction.
  void CopyFrom(const HashMap& other);
  void StealFrom(HashMap& other) ABSL_NO_THREAD_SAFETY_ANALYSIS;
  void RegisterForFork() ABSL_NO_THREAD_SAFETY_ANALYSIS;
  void ReleaseContents();
  template <typename T>
  static void SwapAtomic(std::atomic<T>& a, std::atomic<T>& b);

  // containers/internal/hash_map_read.h: lookups, under the caller's guard
  // unless they take their own.
  template <typename L>
  std::size_t HashOf(const L& key) const;
  template <typename L>
  Found Find(const L& key) const;
  template <typename L>
  const_iterator FindUnder(const ReadGuard& guard, const L& key) const;
  template <typename L>
  const_iterator FindOwning(const L& key) const;
  template <typename L>
  std::optional<V> GetImpl(const L& key) const;
  template <typename L>
  const V& AtImpl(const ReadGuard& guard, const L& key) const;
  template <typename L>
  bool ContainsImpl(const L& key) const;
  static std::pair<const_iterator, const_iterator> RangeFrom(const_iterator first);

  // containers/internal/hash_map_batch.h: find_many and get_many, in
  // staged groups of kBatchGroup keys.
  template <typename L, typename Emit>
  void FindGroup(const L* keys, std::size_t count, Emit& emit) const;
  template <typename L>
  void FindManyImpl(const ReadGuard& guard, absl::Span<const L> keys,
                    absl::Span<const_pointer> out) const;
  template <typename L>
  void GetManyImpl(absl::Span<const L> keys, absl::Span<std::optional<V>> out) const;
  template <typename L>
  std::vector<std::optional<V>> GetManyVector(absl::Span<const L> keys) const;
  static bool Equal(const HashMap& a, const HashMap& b);

  // containers/internal/hash_map_write.h: writers, under the stripe lock of
  // the key's hash.
  static Mutex& StripeOf(Stripe* stripes, std::size_t hash);
  template <typename... Args>
  Node* NewNode(std::size_t hash, Args&&... args) const;
  // Entries are reused by the thread that retired them, after their grace
  // period (containers/internal/hash_map_recycler.h), when the allocator
  // allows it (std::allocator, or an opt-in: kAllocatorAllowsRecycling) and
  // destroying them later is unobservable.
  static constexpr bool kRecyclesNodes =
      internal::kAllocatorAllowsRecycling<Alloc> && std::is_trivially_destructible_v<value_type>;
  // Hands an unlinked node over, to be reused (kRecyclesNodes) or freed after
  // a grace period. Allocates nothing and cannot fail.
  static void Retire(Node* node);
  // The same, always through the RCU core (for whole arrays of nodes).
  static void RetireToCore(Node* node);
  static void RetireWithNodes(Table* array);
  static void PushFront(std::atomic<Node*>* head, Node* node, int g);
  void Unlink(std::atomic<Node*>* link, Node* node, int g);
  static void ReplaceLinked(std::atomic<Node*>* link, Node* old, Node* fresh, int g);
  template <typename L>
  Node* FindLocked(std::atomic<Node*>*& link, int g, std::size_t hash, const L& key) const;
  template <typename L, typename Make>
  std::pair<iterator, bool> Link(std::size_t hash, const L& key, Make&& make, bool replace);
  template <typename InputIt>
  void InsertRange(InputIt first, InputIt last);
  template <typename L>
  size_type EraseImpl(const L& key);
  Node* UnlinkIfLinked(const Node* target);
  bool SameKey(const Node* a, const Node* b) const;
  void EraseEntry(const Node* target);
  bool ClearOnce();

  // containers/internal/hash_map_iteration.h: the walk in bit-reversed hash
  // order, which stays exact across resizes.
  const_iterator MakeBegin(bool own_section) const;
  void Advance(const_iterator& it, bool renew = false) const;
  static const Node* NextInRange(const Node* node, int g, std::uint64_t start, std::uint64_t end,
                                 bool last);
  void SeekFrom(const_iterator& it, std::uint64_t cursor) const;
  template <typename InputIt>
  static size_type SizeHint(const InputIt& first, const InputIt& last);
  template <typename It>
  static void Step(It& it);

  // containers/internal/hash_map_resize.h: the first allocation, growing
  // and shrinking, and the relativistic resize.
  static size_type BucketCountFor(size_type n);
  size_type BucketsFor(size_type entries) const;
  Stripe* PrepareWrite(size_type adding);
  ABSL_ATTRIBUTE_NOINLINE Stripe* Materialize(size_type buckets);
  bool MaterializeLocked(size_type buckets) ABSL_EXCLUSIVE_LOCKS_REQUIRED(resize_mu_);
  bool GrowFor(size_type wanted);
  void MaybeShrink();
  void RequestResize(size_type target);
  void ResizePending();
  bool Resize(size_type target, bool may_wait) ABSL_NO_THREAD_SAFETY_ANALYSIS;

  // Immutable after construction (replaced only by assignment and swap,
  // which need exclusive access).
  Hash hash_;
  Eq eq_;
  Alloc alloc_;

  // kHashMapStripes writer locks (see StripeOf), or nullptr until the first
  // write (then table_ is Table::Empty()). Set once, under resize_mu_, after
  // table_.
  std::atomic<Stripe*> stripes_{nullptr};
  // The current bucket array. Replaced only with every stripe lock held
  // (or, the first time, by Materialize before the stripes exist); readers
  // load it with acquire under their guard, and a replaced array is freed
  // only after a grace period.
  std::atomic<Table*> table_{Table::Empty()};
  // Automatic shrinking stops here; set by reserve() and rehash().
  std::atomic<size_type> min_buckets_{kMinBuckets};
  // A resize that reserve() or rehash() could not make without waiting
  // (the target bucket count), or 0; the next write outside a section makes it.
  std::atomic<size_type> pending_buckets_{0};
  // Serializes resizes (and the first allocation). Never held by a plain
  // writer, so a resize waiting for a grace period here blocks no writer.
  Mutex resize_mu_;
  // Taken right after the last resize published its array; the next resize
  // waits for it to complete before reusing the links of the array before.
  GracePeriodCookie last_resize_ ABSL_GUARDED_BY(resize_mu_) = CompletedState();
  // Entries per bucket above which a write grows the array (see
  // max_load_factor()).
  std::atomic<float> max_load_factor_{kDefaultMaxLoadFactor};
  // This map in the registry of the fork() handlers, which take its stripes
  // across a fork (hash_map_fork.h); registered once it has stripes.
  internal::HashMapForkEntry fork_entry_;
  // Entries linked. Changed under the entry's stripe lock, after the link.
  // Last, more than a cache line after table_ (the members between take
  // over 100 bytes), whatever the map's alignment: readers load table_ in
  // every lookup, and a line that writers change at every insert and erase
  // would miss in each of them.
  std::atomic<size_type> size_{0};
};

template <typename K, typename V, typename H, typename E, typename A>
void swap(HashMap<K, V, H, E, A>& a, HashMap<K, V, H, E, A>& b) noexcept(noexcept(a.swap(b))) {
  a.swap(b);
}

// absl-style free function: removes entries for which pred is true.
template <typename K, typename V, typename H, typename E, typename A, typename Pred>
std::size_t erase_if(HashMap<K, V, H, E, A>& map, Pred pred) {
  return map.erase_if(std::move(pred));
}

}  // namespace rcu

namespace std {

// std::inserter(map, hint) for rcu::HashMap. The general insert_iterator
// keeps the iterator each insert returns, and with it a read-side section,
// from one insert to the next, so a whole std::copy would run inside one
// section (no backlog waits, at most one resize). This one inserts by value
// and keeps nothing; the hint is ignored either way.
template <typename K, typename V, typename H, typename E, typename A>
class insert_iterator<rcu::HashMap<K, V, H, E, A>> {
  using Map = rcu::HashMap<K, V, H, E, A>;

 public:
  using iterator_category = output_iterator_tag;
  using value_type = void;
  using difference_type = ptrdiff_t;
  using pointer = void;
  using reference = void;
  using container_type = Map;

  insert_iterator(Map& map, typename Map::iterator /*hint*/) : container(std::addressof(map)) {}

  insert_iterator& operator=(const typename Map::value_type& value) {
    container->insert(value);
    return *this;
  }
  insert_iterator& operator=(typename Map::value_type&& value) {
    container->insert(std::move(value));
    return *this;
  }
  insert_iterator& operator*() { return *this; }
  insert_iterator& operator++() { return *this; }
  insert_iterator& operator++(int) { return *this; }

 protected:
  Map* container;
};

}  // namespace std

// The definitions of HashMap's members, by concern (see its private section).
#include "containers/internal/hash_map_batch.h"      // IWYU pragma: export
#include "containers/internal/hash_map_iteration.h"  // IWYU pragma: export
#include "containers/internal/hash_map_lifetime.h"   // IWYU pragma: export
#include "containers/internal/hash_map_read.h"       // IWYU pragma: export
#include "containers/internal/hash_map_resize.h"     // IWYU pragma: export
#include "containers/internal/hash_map_write.h"      // IWYU pragma: export

#endif  // CONTAINERS_HASH_MAP_H_
