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
//   ports.update("http", [](const int& old) { return old + 1; });  // copy-update
//   ports.erase("http");
//
// Readers (find, get, contains, count, iteration) are lock-free: they never
// wait for writers, for resizes, or for memory reclamation. They may or may
// not see a concurrent change, and never see a freed or half-built entry.
// Values are immutable once published: an update builds a new entry and
// publishes it; the old one is freed after a grace period. So readers only
// get const access, and there is no mutable operator[].
//
// Writers (insert, emplace, try_emplace, insert_or_assign, update, compute,
// erase, erase_if, clear) lock one of 32 stripes, chosen by the key's hash.
// Resizes (automatic, or reserve and rehash) are relativistic, after
// Triplett, McKenney and Walpole (USENIX ATC 2011) and Linux's rhashtable:
// entries are never copied or moved. Each entry has a second link; a resize
// threads every entry into a new bucket array through it, in private, and
// publishes the array in one store. Readers run at full speed throughout, on
// whichever array they loaded. Writers wait only while the entries are
// threaded (all stripes are locked then); nobody holding a lock ever waits
// for a grace period, so writing from inside a read-side section is safe.
//
// Guarantees:
//  - Iteration under a guard is weakly consistent: it visits exactly once
//    every key present for the whole iteration, in any order, even across
//    resizes; keys inserted or erased meanwhile may or may not appear.
//  - size() is exact: it counts every insert and erase that has returned and
//    none that has not started (concurrent ones may or may not be counted).
//  - Single-key writes give the strong guarantee: a throwing hash, equality,
//    allocation or value constructor leaves the map unchanged, unlocked and
//    usable. A failed bucket-array allocation skips the resize.
//  - Memory: an entry is one allocation of 24 bytes (two links and the
//    hash) plus the key and value, and the bucket array takes 8 bytes per
//    bucket, with between 1 and 8 entries per bucket at the default maximum
//    load factor of 1 (so 8 to 64 bytes per entry; 8 to 16 after growth).
//    An empty map is about 2.4 KB: 32 cache-line-sized stripe locks and 32
//    buckets. Erased and replaced entries are freed after a grace
//    period; if too many wait, writers wait for the backlog to drain
//    (rcu/call_rcu.h), so an insert/erase storm cannot grow memory without
//    bound.
//
// Rules: an iterator or reference is valid while the guard it was obtained
// under (or, for iterators from find(key) and begin(), the iterator itself)
// lives; keep neither across threads. A resize may first wait for the grace
// period after the previous resize (usually long over): reserve() and
// rehash() therefore must not be called inside a read-side section, and an
// automatic resize that would have to wait there is left to a later write.
#ifndef CONTAINERS_HASH_MAP_H_
#define CONTAINERS_HASH_MAP_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/base/thread_annotations.h"
#include "containers/internal/hash_map_hash.h"
#include "containers/internal/hash_map_table.h"
#include "rcu/call_rcu.h"
#include "rcu/grace_period.h"
#include "rcu/mutex.h"
#include "rcu/read_guard.h"

namespace rcu {

// What compute() did.
enum class ComputeResult { kUnchanged, kInserted, kUpdated, kErased };

template <typename K, typename V,
          typename Hash = typename internal::DefaultHashEq<K>::Hash,
          typename Eq = typename internal::DefaultHashEq<K>::Eq,
          typename Alloc = std::allocator<std::pair<const K, V>>>
class HashMap {
  using Node = internal::HashNode<K, V>;
  using Table = internal::BucketArray<Node>;
  using NodeAlloc = typename std::allocator_traits<Alloc>::template rebind_alloc<Node>;
  using NodeTraits = std::allocator_traits<NodeAlloc>;
  // Keys that compare with one machine comparison under the default
  // equality: lookups compare them directly rather than the stored hash
  // first.
  template <typename L>
  static constexpr bool kKeyEqualityIsCheap =
      std::is_same_v<L, K> &&
      (std::is_integral_v<K> || std::is_enum_v<K> || std::is_pointer_v<K>) &&
      (std::is_same_v<Eq, std::equal_to<K>> || std::is_same_v<Eq, std::equal_to<>>);
  // Heterogeneous lookups take any key type when both functors are
  // transparent (as the defaults are for string keys).
  template <typename L>
  using IfTransparent =
      std::enable_if_t<internal::IsTransparent<Hash, Eq>::value && !std::is_void_v<L>, int>;

 public:
  using key_type = K;
  using mapped_type = V;
  using value_type = std::pair<const K, V>;
  using size_type = std::size_t;
  using hasher = Hash;
  using key_equal = Eq;
  using allocator_type = Alloc;
  using reference = const value_type&;
  using const_reference = const value_type&;

  class const_iterator;
  using iterator = const_iterator;  // entries are immutable once published

 private:
  // A read-side section that an iterator owns: a ReadGuard that can move
  // (within its thread; the section stays open) and copy (a copy enters a
  // nested section of its own). Assignment enters before it leaves.
  class OwnedSection {
   public:
    OwnedSection() = default;
    explicit OwnedSection(bool enter) {
      if (enter) Enter();
    }
    OwnedSection(const OwnedSection& other) {
      if (other.held_) Enter();
    }
    OwnedSection(OwnedSection&& other) noexcept : reader_(other.reader_), held_(other.held_) {
      other.held_ = false;
    }
    OwnedSection& operator=(OwnedSection other) noexcept {
      std::swap(reader_, other.reader_);
      std::swap(held_, other.held_);
      return *this;  // `other` leaves the section this one held, if any
    }
    // Small enough to inline everywhere, so that an iterator that owns no
    // section (every find(guard, key)) costs nothing when it dies; leaving
    // is out of line. (Inlining the whole read-side exit here made GCC stop
    // inlining the iterator's destructor into lookups: two calls per
    // lookup, 25% of a cache-resident lookup's rate.)
    ~OwnedSection() {
      if (ABSL_PREDICT_FALSE(held_)) Leave(reader_);
    }

   private:
    ABSL_ATTRIBUTE_NOINLINE void Enter() {
      reader_ = internal::ReadLock();
      held_ = true;
    }
    ABSL_ATTRIBUTE_NOINLINE static void Leave(std::uintptr_t reader) {
      internal::ReadUnlock(reader);
    }
    std::uintptr_t reader_ = 0;  // from internal::ReadLock(), for ReadUnlock()
    bool held_ = false;
  };

 public:

  // A range over the map for range-for, bound to a guard: see Iterate().
  class Range {
   public:
    const_iterator begin() const { return map_->MakeBegin(false); }
    const_iterator end() const { return const_iterator(); }

   private:
    friend class HashMap;
    explicit Range(const HashMap* map) : map_(map) {}
    const HashMap* map_;
  };

  HashMap() : HashMap(0) {}
  explicit HashMap(size_type bucket_count, const Hash& hash = Hash(),
                   const Eq& eq = Eq(), const Alloc& alloc = Alloc())
      : hash_(hash), eq_(eq), alloc_(alloc) {
    const size_type count = BucketCountFor(bucket_count);
    Table* table = Table::Create(count, 0);
    if (table == nullptr) throw std::bad_alloc();
    table_.store(table, std::memory_order_relaxed);
  }
  HashMap(std::initializer_list<value_type> init) : HashMap(init.size()) {
    for (const value_type& v : init) insert(v);
  }

  // Frees every entry. No reader or writer may use the map any more; readers
  // that still hold references from earlier are fine until their guards end
  // (entries and buckets are reclaimed after a grace period).
  ~HashMap() { RetireTable(table_.load(std::memory_order_relaxed), /*with_nodes=*/true); }

  HashMap(const HashMap&) = delete;
  HashMap& operator=(const HashMap&) = delete;

  // --- Readers -------------------------------------------------------------

  // The entry for `key`, or end(). Valid while `guard` lives.
  template <typename L, IfTransparent<L> = 0>
  const_iterator find(const ReadGuard& guard ABSL_ATTRIBUTE_LIFETIME_BOUND,
                      const L& key) const {
    (void)guard;
    return const_iterator(this, Find(key));
  }
  const_iterator find(const ReadGuard& guard ABSL_ATTRIBUTE_LIFETIME_BOUND,
                      const K& key) const {
    (void)guard;
    return const_iterator(this, Find(key));
  }

  // The entry for `key`, or end(); the iterator holds its own read guard.
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

  template <typename L, IfTransparent<L> = 0>
  bool contains(const L& key) const {
    ReadGuard guard;
    return Find(key) != nullptr;
  }
  bool contains(const K& key) const {
    ReadGuard guard;
    return Find(key) != nullptr;
  }

  template <typename L, IfTransparent<L> = 0>
  size_type count(const L& key) const {
    return contains(key) ? 1 : 0;
  }
  size_type count(const K& key) const { return contains(key) ? 1 : 0; }

  // Iteration bound to `guard`: for (const auto& [k, v] : map.Iterate(guard)).
  Range Iterate(const ReadGuard& guard ABSL_ATTRIBUTE_LIFETIME_BOUND) const {
    (void)guard;
    return Range(this);
  }

  // Iteration whose iterators hold their own guard, for plain range-for.
  const_iterator begin() const { return MakeBegin(true); }
  const_iterator cbegin() const { return begin(); }
  const_iterator end() const { return const_iterator(); }
  const_iterator cend() const { return end(); }

  size_type size() const { return size_.load(std::memory_order_acquire); }
  bool empty() const { return size() == 0; }
  size_type bucket_count() const {
    ReadGuard guard;
    return table_.load(std::memory_order_acquire)->size();
  }
  float load_factor() const {
    return static_cast<float>(size()) / static_cast<float>(bucket_count());
  }
  float max_load_factor() const { return max_load_factor_.load(std::memory_order_relaxed); }
  // Grows when size() would exceed this many entries per bucket (default
  // 1.0); shrinks below an eighth of it.
  void max_load_factor(float factor) {
    max_load_factor_.store(std::max(factor, 0.125f), std::memory_order_relaxed);
  }
  hasher hash_function() const { return hash_; }
  key_equal key_eq() const { return eq_; }
  allocator_type get_allocator() const { return alloc_; }

  // --- Writers -------------------------------------------------------------

  std::pair<iterator, bool> insert(const value_type& value) { return emplace(value); }
  std::pair<iterator, bool> insert(value_type&& value) { return emplace(std::move(value)); }
  template <typename P, typename = std::enable_if_t<std::is_constructible_v<value_type, P&&>>>
  std::pair<iterator, bool> insert(P&& value) {
    return emplace(std::forward<P>(value));
  }
  template <typename InputIt>
  void insert(InputIt first, InputIt last) {
    for (; first != last; ++first) emplace(*first);
  }
  void insert(std::initializer_list<value_type> values) { insert(values.begin(), values.end()); }

  // Constructs the entry first (so a key that is present costs a node), then
  // inserts it unless the key is present.
  template <typename... Args>
  std::pair<iterator, bool> emplace(Args&&... args) {
    NodeHolder holder(this, std::forward<Args>(args)...);
    const std::size_t hash = hash_(holder.node->value.first);
    return Link(hash, holder.node->value.first, [&] { return holder.Release(hash); },
                /*replace=*/false);
  }

  // Inserts (key, V(args...)) unless the key is present; then it constructs
  // nothing.
  template <typename... Args>
  std::pair<iterator, bool> try_emplace(const K& key, Args&&... args) {
    return TryEmplaceImpl(key, key, std::forward<Args>(args)...);
  }
  template <typename... Args>
  std::pair<iterator, bool> try_emplace(K&& key, Args&&... args) {
    const std::size_t hash = hash_(key);
    return Link(hash, key, [&] {
      return NewNode(hash, std::piecewise_construct, std::forward_as_tuple(std::move(key)),
                     std::forward_as_tuple(std::forward<Args>(args)...));
    }, /*replace=*/false);
  }

  // Inserts, or publishes a new entry in place of the present one. Returns
  // true if it inserted.
  template <typename M>
  std::pair<iterator, bool> insert_or_assign(const K& key, M&& value) {
    const std::size_t hash = hash_(key);
    return Link(hash, key, [&] {
      return NewNode(hash, key, std::forward<M>(value));
    }, /*replace=*/true);
  }
  template <typename M>
  std::pair<iterator, bool> insert_or_assign(K&& key, M&& value) {
    const std::size_t hash = hash_(key);
    return Link(hash, key, [&] {
      return NewNode(hash, std::move(key), std::forward<M>(value));
    }, /*replace=*/true);
  }

  // Copy-update: if `key` is present, publishes a new entry whose value is
  // fn(old value) and retires the old one. Returns false if absent. `fn`
  // runs under the key's stripe lock; it must not use this map.
  template <typename F>
  bool update(const K& key, F&& fn) {
    const ComputeResult result = compute(key, [&](const V* current) -> std::optional<V> {
      if (current == nullptr) return std::nullopt;
      return std::optional<V>(fn(*current));
    });
    return result == ComputeResult::kUpdated;
  }

  // Upsert, like Java's ConcurrentHashMap::compute: fn(current value or
  // nullptr) returns the new value, or nullopt to erase (or not insert).
  // Atomic for the key: no other writer of this key runs meanwhile. `fn`
  // runs under the key's stripe lock; it must not use this map.
  template <typename F>
  ComputeResult compute(const K& key, F&& fn) {
    const std::size_t hash = hash_(key);
    MaybeGrow(1);
    Node* retired = nullptr;
    ComputeResult result;
    {
      MutexLock lock(StripeFor(hash));
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
    if (retired != nullptr) RetireNode(retired);
    if (result == ComputeResult::kErased) MaybeShrink();
    return result;
  }

  // Removes `key`; returns the number of entries removed (0 or 1).
  template <typename L, IfTransparent<L> = 0>
  size_type erase(const L& key) {
    return EraseImpl(key);
  }
  size_type erase(const K& key) { return EraseImpl(key); }

 private:
  template <typename L>
  size_type EraseImpl(const L& key) {
    const std::size_t hash = hash_(key);
    Node* node;
    {
      MutexLock lock(StripeFor(hash));
      Table* table = table_.load(std::memory_order_relaxed);
      std::atomic<Node*>* link = &table->bucket(hash);
      node = FindLocked(link, table->generation(), hash, key);
      if (node == nullptr) return 0;
      Unlink(link, node, table->generation());
    }
    RetireNode(node);
    MaybeShrink();
    return 1;
  }

  template <typename L>
  std::optional<V> GetImpl(const L& key) const {
    ReadGuard guard;
    if (const Node* node = Find(key)) return node->value.second;
    return std::nullopt;
  }

  template <typename L>
  const_iterator FindOwning(const L& key) const {
    const_iterator it(this, nullptr, /*own_guard=*/true);  // guard first
    it.node_ = Find(key);
    return it;
  }

 public:

  // Removes the entry `it` points to, if it is still the current entry for
  // its key. Returns the number removed.
  size_type erase(const_iterator it) {
    if (it.node_ == nullptr) return 0;
    const Node* target = it.node_;
    const std::size_t hash = target->hash;
    Node* node;
    {
      MutexLock lock(StripeFor(hash));
      Table* table = table_.load(std::memory_order_relaxed);
      const int g = table->generation();
      std::atomic<Node*>* link = &table->bucket(hash);
      node = link->load(std::memory_order_relaxed);
      while (node != nullptr && node != target) {
        link = &node->next[g];
        node = link->load(std::memory_order_relaxed);
      }
      if (node == nullptr) return 0;
      Unlink(link, node, g);
    }
    RetireNode(node);
    MaybeShrink();
    return 1;
  }

  // Removes every entry for which pred(const value_type&) is true; returns
  // how many. Each stripe is locked in turn, so the removal is atomic per
  // stripe, not for the whole map.
  template <typename Pred>
  size_type erase_if(Pred pred) {
    size_type removed = 0;
    for (std::size_t s = 0; s < internal::kHashMapStripes; ++s) {
      std::vector<Node*> retired;
      {
        MutexLock lock(stripes_[s].mu);
        Table* table = table_.load(std::memory_order_relaxed);
        const int g = table->generation();
        for (std::size_t b = s; b < table->size(); b += internal::kHashMapStripes) {
          std::atomic<Node*>* link = &table->at(b);
          while (Node* node = link->load(std::memory_order_relaxed)) {
            if (pred(std::as_const(node->value))) {
              retired.push_back(node);  // may throw: nothing unlinked yet
              Unlink(link, node, g);
            } else {
              link = &node->next[g];
            }
          }
        }
      }
      for (Node* node : retired) RetireNode(node);
      removed += retired.size();
    }
    if (removed > 0) MaybeShrink();
    return removed;
  }

  // Removes every entry; safe while readers run (they may still see the old
  // entries until their guards end). Keeps the bucket count.
  void clear() {
    std::vector<Node*> chains;
    int g;
    {
      AllStripesLock lock(this);
      Table* table = table_.load(std::memory_order_relaxed);
      chains.reserve(table->size());  // may throw: nothing changed yet
      for (std::size_t b = 0; b < table->size(); ++b) {
        if (Node* head = table->at(b).exchange(nullptr, std::memory_order_acq_rel)) {
          chains.push_back(head);
        }
      }
      size_.store(0, std::memory_order_release);
      g = table->generation();
    }
    // Queued after unlocking: CallRcu may wait for the callback backlog, and
    // that wait needs readers, which may be waiting for a stripe, to move on.
    if (chains.empty()) return;
    NodeAlloc alloc = alloc_;
    CallRcu([chains = std::move(chains), alloc, g]() mutable {
      for (Node* node : chains) FreeChain(alloc, node, g);
    });
  }

  // Makes room for `count` entries without a resize (and stops automatic
  // shrinking below that). May wait for a grace period: not inside a
  // read-side section.
  void reserve(size_type count) {
    const size_type buckets = BucketsFor(count);
    min_buckets_.store(buckets, std::memory_order_relaxed);
    if (buckets > bucket_count()) Resize(buckets);
  }

  // Sets the bucket count to at least `count` and enough for size(); 0 lets
  // the map shrink to fit. May wait for a grace period: not inside a
  // read-side section.
  void rehash(size_type count) {
    min_buckets_.store(BucketCountFor(count), std::memory_order_relaxed);
    Resize(std::max(BucketCountFor(count), BucketsFor(size())));
  }

  // --- Iterators -----------------------------------------------------------

  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = HashMap::value_type;
    using difference_type = std::ptrdiff_t;
    using pointer = const value_type*;
    using reference = const value_type&;

    const_iterator() = default;
    // Copies pin the node too; moves take the source's pin over and leave
    // the source at end(), so that it cannot reach a node it no longer pins.
    const_iterator(const const_iterator&) = default;
    const_iterator(const_iterator&& other) noexcept
        : map_(other.map_), node_(std::exchange(other.node_, nullptr)),
          generation_(other.generation_), cursor_(other.cursor_),
          bucket_end_(other.bucket_end_), last_bucket_(other.last_bucket_),
          guard_(std::move(other.guard_)) {}
    const_iterator& operator=(const const_iterator&) = default;
    const_iterator& operator=(const_iterator&& other) noexcept {
      if (this != &other) {
        guard_ = std::move(other.guard_);  // takes its section, then leaves ours
        map_ = other.map_;
        node_ = std::exchange(other.node_, nullptr);
        generation_ = other.generation_;
        cursor_ = other.cursor_;
        bucket_end_ = other.bucket_end_;
        last_bucket_ = other.last_bucket_;
      }
      return *this;
    }

    reference operator*() const { return node_->value; }
    pointer operator->() const { return &node_->value; }

    const_iterator& operator++() {
      node_ = map_->NextInRange(node_->next[generation_].load(std::memory_order_acquire),
                                generation_, cursor_, bucket_end_, last_bucket_);
      if (node_ == nullptr && !last_bucket_) map_->SeekFrom(*this, bucket_end_);
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
    friend bool operator!=(const const_iterator& a, const const_iterator& b) {
      return !(a == b);
    }

   private:
    friend class HashMap;
    const_iterator(const HashMap* map, const Node* node, bool own_guard = false)
        : map_(map), guard_(own_guard) {
      node_ = node;
      last_bucket_ = true;  // a lookup result does not iterate further
    }

    const HashMap* map_ = nullptr;
    const Node* node_ = nullptr;  // nullptr: end()
    int generation_ = 0;          // the link the current bucket is walked by
    // Iteration position in bit-reversed hash space: the current bucket
    // covers [cursor_, bucket_end_); last_bucket_ means bucket_end_ is 2^64.
    std::uint64_t cursor_ = 0;
    std::uint64_t bucket_end_ = 0;
    bool last_bucket_ = false;
    OwnedSection guard_;  // held: this iterator pins its node
  };

 private:
  friend class const_iterator;

  static constexpr size_type kMinBuckets = internal::kHashMapStripes;

  static size_type BucketCountFor(size_type n) {
    size_type count = kMinBuckets;
    while (count < n && count < (size_type{1} << 62)) count <<= 1;
    return count;
  }
  size_type BucketsFor(size_type entries) const {
    return BucketCountFor(static_cast<size_type>(static_cast<double>(entries) /
                                                 static_cast<double>(max_load_factor())));
  }

  Mutex& StripeFor(std::size_t hash) const {
    return stripes_[hash & (internal::kHashMapStripes - 1)].mu;
  }

  // Holds every stripe lock, in order.
  class ABSL_SCOPED_LOCKABLE AllStripesLock {
   public:
    explicit AllStripesLock(const HashMap* map) ABSL_NO_THREAD_SAFETY_ANALYSIS : map_(map) {
      for (std::size_t s = 0; s < internal::kHashMapStripes; ++s) map_->stripes_[s].mu.Lock();
    }
    ~AllStripesLock() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      for (std::size_t s = 0; s < internal::kHashMapStripes; ++s) map_->stripes_[s].mu.Unlock();
    }

   private:
    const HashMap* map_;
  };

  // Owns a node until it is linked, so that a throw destroys it.
  struct NodeHolder {
    template <typename... Args>
    explicit NodeHolder(HashMap* m, Args&&... args) : map(m) {
      node = m->NewNode(0, std::forward<Args>(args)...);
    }
    ~NodeHolder() {
      if (node != nullptr) map->DeleteNode(node);
    }
    Node* Release(std::size_t hash) {
      node->hash = hash;  // not yet published
      return std::exchange(node, nullptr);
    }
    HashMap* map;
    Node* node = nullptr;
  };

  template <typename... Args>
  Node* NewNode(std::size_t hash, Args&&... args) const {
    NodeAlloc alloc = alloc_;
    Node* node = NodeTraits::allocate(alloc, 1);
    try {
      NodeTraits::construct(alloc, node, hash, std::forward<Args>(args)...);
    } catch (...) {
      NodeTraits::deallocate(alloc, node, 1);
      throw;
    }
    return node;
  }

  static void DestroyNode(NodeAlloc& alloc, Node* node) {
    NodeTraits::destroy(alloc, node);
    NodeTraits::deallocate(alloc, node, 1);
  }
  void DeleteNode(Node* node) const {
    NodeAlloc alloc = alloc_;
    DestroyNode(alloc, node);
  }
  static void FreeChain(NodeAlloc& alloc, Node* node, int g) {
    while (node != nullptr) {
      Node* next = node->next[g].load(std::memory_order_relaxed);
      DestroyNode(alloc, node);
      node = next;
    }
  }
  // Frees a node through a fresh allocator; right only for allocators whose
  // instances all compare equal. Being stateless, it lets Retire() batch
  // nodes rather than allocate a callback for each (rcu/call_rcu.h).
  struct StatelessNodeDeleter {
    void operator()(Node* node) const {
      NodeAlloc alloc;
      DestroyNode(alloc, node);
    }
  };
  void RetireNode(Node* node) const {
    if constexpr (std::allocator_traits<NodeAlloc>::is_always_equal::value &&
                  std::is_default_constructible_v<NodeAlloc>) {
      Retire(node, StatelessNodeDeleter());
    } else {
      Retire(node, [alloc = NodeAlloc(alloc_)](Node* n) mutable { DestroyNode(alloc, n); });
    }
  }

  // Frees a bucket array (and its entries) after a grace period.
  void RetireTable(Table* table, bool with_nodes) {
    if (!with_nodes) {
      Retire(table, typename Table::Deleter());
      return;
    }
    NodeAlloc alloc = alloc_;
    CallRcu([table, alloc]() mutable {
      for (std::size_t b = 0; b < table->size(); ++b) {
        FreeChain(alloc, table->at(b).load(std::memory_order_relaxed), table->generation());
      }
      typename Table::Deleter()(table);
    });
  }

  // Chain edits, under the stripe lock, through links of generation g.
  static void PushFront(std::atomic<Node*>* head, Node* node, int g) {
    node->next[g].store(head->load(std::memory_order_relaxed), std::memory_order_relaxed);
    head->store(node, std::memory_order_release);  // publishes *node
  }
  void Unlink(std::atomic<Node*>* link, Node* node, int g) {
    link->store(node->next[g].load(std::memory_order_relaxed), std::memory_order_release);
    size_.fetch_sub(1, std::memory_order_release);
  }
  static void ReplaceLinked(std::atomic<Node*>* link, Node* old, Node* fresh, int g) {
    fresh->next[g].store(old->next[g].load(std::memory_order_relaxed), std::memory_order_relaxed);
    link->store(fresh, std::memory_order_release);
  }

  // Reader lookup; the caller holds a guard.
  template <typename L>
  const Node* Find(const L& key) const {
    // Cheap keys are copied, so that they are read once (after an acquire
    // load the compiler would read a referenced key again), and compared
    // directly: one load per node instead of two.
    using Wanted = std::conditional_t<kKeyEqualityIsCheap<L>, const K, const L&>;
    Wanted wanted = key;
    const std::size_t hash = hash_(wanted);
    Table* table = table_.load(std::memory_order_acquire);
    const int g = table->generation();
    for (const Node* node = table->bucket(hash).load(std::memory_order_acquire); node != nullptr;
         node = node->next[g].load(std::memory_order_acquire)) {
      if constexpr (kKeyEqualityIsCheap<L>) {
        if (node->value.first == wanted) return node;
      } else {
        if (node->hash == hash && eq_(node->value.first, wanted)) return node;
      }
    }
    return nullptr;
  }

  // Writer lookup under the stripe lock. Leaves `link` at the link that
  // points to the result (or at the chain's end).
  template <typename L>
  Node* FindLocked(std::atomic<Node*>*& link, int g, std::size_t hash, const L& key) const {
    for (Node* node = link->load(std::memory_order_relaxed); node != nullptr;
         node = link->load(std::memory_order_relaxed)) {
      if (node->hash == hash && eq_(node->value.first, key)) return node;
      link = &node->next[g];
    }
    return nullptr;
  }

  template <typename KeyArg, typename... Args>
  std::pair<iterator, bool> TryEmplaceImpl(const K& key, KeyArg&& key_arg, Args&&... args) {
    const std::size_t hash = hash_(key);
    return Link(hash, key, [&] {
      return NewNode(hash, std::piecewise_construct,
                     std::forward_as_tuple(std::forward<KeyArg>(key_arg)),
                     std::forward_as_tuple(std::forward<Args>(args)...));
    }, /*replace=*/false);
  }

  // Inserts the node make() builds (under the stripe lock, only if needed),
  // or with `replace`, publishes it in place of the present entry.
  template <typename L, typename Make>
  std::pair<iterator, bool> Link(std::size_t hash, const L& key, Make&& make, bool replace) {
    MaybeGrow(1);
    Node* retired = nullptr;
    std::pair<iterator, bool> result;
    {
      MutexLock lock(StripeFor(hash));
      Table* table = table_.load(std::memory_order_relaxed);
      const int g = table->generation();
      std::atomic<Node*>* link = &table->bucket(hash);
      Node* present = FindLocked(link, g, hash, key);
      if (present != nullptr && !replace) {
        result = {iterator(this, present, /*own_guard=*/true), false};
      } else {
        Node* fresh = make();  // may throw: nothing changed yet
        if (present == nullptr) {
          PushFront(&table->bucket(hash), fresh, g);
          size_.fetch_add(1, std::memory_order_release);
        } else {
          ReplaceLinked(link, present, fresh, g);
          retired = present;
        }
        result = {iterator(this, fresh, /*own_guard=*/true), present == nullptr};
      }
    }
    if (retired != nullptr) RetireNode(retired);
    return result;
  }

  // --- Iteration -------------------------------------------------------------

  const_iterator MakeBegin(bool own_guard) const {
    const_iterator it(this, nullptr, own_guard);
    SeekFrom(it, 0);
    return it;
  }

  // The first node at or after `node` in the chain whose position lies in
  // [start, end) (end == 0 with `last` means 2^64).
  const Node* NextInRange(const Node* node, int g, std::uint64_t start, std::uint64_t end,
                          bool last) const {
    for (; node != nullptr; node = node->next[g].load(std::memory_order_acquire)) {
      const std::uint64_t position = internal::ReverseBits(node->hash);
      if (position >= start && (last || position < end)) return node;
    }
    return nullptr;
  }

  // Positions `it` at the first entry at or after `cursor` in bit-reversed
  // hash order, in the current bucket array, or at end().
  void SeekFrom(const_iterator& it, std::uint64_t cursor) const {
    it.node_ = nullptr;
    while (true) {
      Table* table = table_.load(std::memory_order_acquire);
      const int bits = __builtin_ctzll(table->size());
      const std::size_t bucket = internal::ReverseBits(cursor) & table->mask();
      const std::uint64_t start = internal::ReverseBits(bucket);
      const std::uint64_t end = start + (std::uint64_t{1} << (64 - bits));
      it.generation_ = table->generation();
      it.cursor_ = cursor;
      it.bucket_end_ = end;
      it.last_bucket_ = (end == 0);
      it.node_ = NextInRange(table->at(bucket).load(std::memory_order_acquire),
                             it.generation_, cursor, end, it.last_bucket_);
      if (it.node_ != nullptr || it.last_bucket_) return;
      cursor = end;
    }
  }

  // --- Resizing --------------------------------------------------------------

  // The bucket count is read under a guard (bucket_count()): callers are
  // usually outside read-side sections, and a replaced array is freed after a
  // grace period.
  void MaybeGrow(size_type adding) {
    const size_type wanted = size() + adding;
    if (static_cast<double>(wanted) <=
        static_cast<double>(bucket_count()) * static_cast<double>(max_load_factor())) {
      return;
    }
    Resize(BucketsFor(wanted), /*may_wait=*/!InReadSection());
  }

  void MaybeShrink() {
    const size_type buckets = bucket_count();
    const size_type floor = min_buckets_.load(std::memory_order_relaxed);
    if (buckets <= floor) return;
    if (static_cast<double>(size()) * 8 >=
        static_cast<double>(buckets) * static_cast<double>(max_load_factor())) {
      return;
    }
    Resize(std::max(BucketsFor(size()) * 2, floor), /*may_wait=*/!InReadSection());
  }

  // Rebuilds the bucket array with `target` buckets: every node is threaded
  // into the new array through its other link, then the array is published.
  // Gives up (the map stays as it is) if the array cannot be allocated, or if
  // it would have to wait and `may_wait` is false.
  //
  // A caller inside a read-side section passes may_wait = false: it must not
  // wait for a grace period, nor for resize_mu_, whose holder may itself be
  // waiting for one (which that caller's section holds up). No stripe lock is
  // ever held across anything that can wait for a grace period.
  void Resize(size_type target, bool may_wait = true) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    std::unique_lock<Mutex> resize_lock(resize_mu_, std::defer_lock);
    if (may_wait) {
      resize_lock.lock();
    } else if (!resize_lock.try_lock()) {
      return;
    }
    // The new array reuses the links of the array before the current one:
    // readers of that one must be gone.
    if (!PollState(last_resize_)) {
      if (!may_wait) return;
      CondSynchronize(last_resize_);
    }
    const Table* current = table_.load(std::memory_order_acquire);
    if (current->size() == target) return;
    Table* fresh = Table::Create(target, 1 - current->generation());
    if (fresh == nullptr) return;
    Table* old_array;
    {
      AllStripesLock lock(this);
      Table* old = table_.load(std::memory_order_relaxed);
      const int g = old->generation();
      const int h = fresh->generation();
      for (std::size_t b = 0; b < old->size(); ++b) {
        for (Node* node = old->at(b).load(std::memory_order_relaxed); node != nullptr;
             node = node->next[g].load(std::memory_order_relaxed)) {
          std::atomic<Node*>& head = fresh->bucket(node->hash);
          node->next[h].store(head.load(std::memory_order_relaxed), std::memory_order_relaxed);
          head.store(node, std::memory_order_relaxed);
        }
      }
      table_.store(fresh, std::memory_order_release);  // publishes every new link
      old_array = old;
    }
    // Taken after the publication (a later cookie is only more conservative).
    // GetState() cannot fail; StartPoll() also gets the grace period going,
    // but allocates, and the cookie must be updated even if it cannot.
    last_resize_ = GetState();
    try {
      last_resize_ = StartPoll();
    } catch (const std::bad_alloc&) {
      // The next resize drives the grace period itself (CondSynchronize).
    }
    RetireTable(old_array, /*with_nodes=*/false);
  }

  // Immutable after construction.
  Hash hash_;
  Eq eq_;
  NodeAlloc alloc_;

  // kHashMapStripes writer locks (see StripeFor).
  const std::unique_ptr<internal::HashMapStripe[]> stripes_{
      new internal::HashMapStripe[internal::kHashMapStripes]};
  // The current bucket array. Replaced only with every stripe lock held;
  // readers load it with acquire under their guard, and a replaced array is
  // freed only after a grace period.
  std::atomic<Table*> table_{nullptr};
  // Entries linked. Changed under the entry's stripe lock, after the link.
  std::atomic<size_type> size_{0};
  // Automatic shrinking stops here; set by reserve() and rehash().
  std::atomic<size_type> min_buckets_{kMinBuckets};
  // Serializes resizes. Never held by a plain writer, so a resize waiting for
  // a grace period here blocks no writer.
  Mutex resize_mu_;
  // Taken right after the last resize published its array; the next resize
  // waits for it to complete before reusing the links of the array before.
  GracePeriodCookie last_resize_ ABSL_GUARDED_BY(resize_mu_) = CompletedState();
  std::atomic<float> max_load_factor_{1.0f};
};

// absl-style free function: removes entries for which pred is true.
template <typename K, typename V, typename H, typename E, typename A, typename Pred>
std::size_t erase_if(HashMap<K, V, H, E, A>& map, Pred pred) {
  return map.erase_if(std::move(pred));
}

}  // namespace rcu

#endif  // CONTAINERS_HASH_MAP_H_
