// rcu::HashMap's drop-in API beyond the basics: at(), the hinted writers
// and std::inserter, erase(iterator) and erase(first, last), equal_range,
// merge, swap, moves and copies, ==, the range, initializer-list and
// allocator constructors, max_size and the bucket interface; and how user
// hashes are mixed (identity hashes of aligned keys spread over every
// stripe and bucket).
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "containers/hash_map.h"
#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/read_guard.h"
#include "tests/util/allocation_counter.h"
#include "tests/containers/hash_map_test_util.h"

namespace {

using ::rcu::HashMap;

template <typename Map>
std::map<typename Map::key_type, typename Map::mapped_type> Sorted(const Map& map) {
  std::map<typename Map::key_type, typename Map::mapped_type> out;
  for (const auto& [k, v] : map) out.emplace(k, v);
  return out;
}

static_assert(std::is_nothrow_default_constructible_v<HashMap<int, int>>);
static_assert(std::is_nothrow_move_constructible_v<HashMap<int, int>>);
static_assert(std::is_nothrow_move_assignable_v<HashMap<int, int>>);
static_assert(std::is_nothrow_swappable_v<HashMap<int, int>>);
static_assert(std::is_copy_constructible_v<HashMap<int, std::string>>);

// --- at ----------------------------------------------------------------------------

TEST(HashMapApiTest, At) {
  HashMap<std::string, std::string> map;
  map.insert({"a", "alpha"});
  EXPECT_EQ(map.at("a"), "alpha");  // a copy
  EXPECT_THROW(map.at("b"), std::out_of_range);
  EXPECT_EQ(map.at(std::string_view("a")), "alpha");  // heterogeneous
  rcu::ReadGuard guard;
  const std::string& ref = map.at(guard, "a");  // a reference, valid under the guard
  map.insert_or_assign("a", "replaced");
  EXPECT_EQ(ref, "alpha");  // the old entry lives until the guard ends
  EXPECT_EQ(map.at(guard, "a"), "replaced");
  EXPECT_THROW(map.at(guard, std::string_view("b")), std::out_of_range);
}

// --- Hinted writers and std::inserter -------------------------------------------------

TEST(HashMapApiTest, HintedWritersIgnoreTheHint) {
  HashMap<int, std::string> map;
  auto it = map.insert(map.end(), {1, "one"});
  EXPECT_EQ(it->first, 1);
  it = map.insert(it, std::make_pair(2, std::string("two")));  // P&&
  EXPECT_EQ(it->second, "two");
  const HashMap<int, std::string>::value_type three(3, "three");
  EXPECT_EQ(map.insert(map.begin(), three)->second, "three");
  EXPECT_EQ(map.emplace_hint(map.end(), 4, "four")->second, "four");
  EXPECT_EQ(map.try_emplace(map.end(), 5, 3, 'x')->second, "xxx");
  EXPECT_EQ(map.try_emplace(map.end(), 5, 1, 'y')->second, "xxx");  // present: unchanged
  const int six = 6;
  EXPECT_EQ(map.try_emplace(map.end(), six, "six")->second, "six");
  EXPECT_EQ(map.insert_or_assign(map.end(), 1, "uno")->second, "uno");
  EXPECT_EQ(map.insert_or_assign(map.end(), six, "seis")->second, "seis");
  EXPECT_EQ(map.insert(map.end(), {1, "ignored"})->second, "uno");  // present: unchanged
  EXPECT_EQ(map.size(), 6u);
}

TEST(HashMapApiTest, StdInserter) {
  const std::vector<std::pair<int, int>> source = {{1, 10}, {2, 20}, {1, 99}, {3, 30}};
  HashMap<int, int> map;
  std::copy(source.begin(), source.end(), std::inserter(map, map.end()));
  EXPECT_EQ(Sorted(map), (std::map<int, int>{{1, 10}, {2, 20}, {3, 30}}));  // the first wins
  EXPECT_FALSE(rcu::InReadSection());
  std::map<int, int> from_std = {{7, 70}, {8, 80}};
  std::copy(from_std.begin(), from_std.end(), std::inserter(map, map.begin()));
  EXPECT_EQ(map.size(), 5u);
  // And the other way: from the map into standard containers.
  std::map<int, int> out;
  std::copy(map.begin(), map.end(), std::inserter(out, out.end()));
  EXPECT_EQ(out, Sorted(map));
}

// --- Erasing through iterators -------------------------------------------------------

TEST(HashMapApiTest, EraseIteratorReturnsTheNext) {
  HashMap<int, int> map;
  for (int i = 0; i < 1000; ++i) map.insert({i, i});
  std::vector<int> order;
  for (const auto& kv : map) order.push_back(kv.first);
  // Each erase returns the iterator after the erased entry, in order.
  for (std::size_t i = 0; i + 1 < order.size(); i += 50) {
    auto next = map.erase(map.find(order[i]));
    ASSERT_NE(next, map.end());
    EXPECT_EQ(next->first, order[i + 1]);
  }
  EXPECT_EQ(map.erase(map.find(order.back())), map.end());
  EXPECT_FALSE(rcu::InReadSection());
  // erase-while-iterating removes exactly what it chose.
  std::set<int> kept;
  for (auto it = map.begin(); it != map.end();) {
    if (it->first % 3 == 0) {
      it = map.erase(it);
    } else {
      kept.insert(it->first);
      ++it;
    }
  }
  EXPECT_EQ(map.size(), kept.size());
  for (int k : kept) EXPECT_TRUE(map.contains(k));
  // Under a guard too, with the iterators of Iterate().
  rcu::ReadGuard guard;
  auto range = map.Iterate(guard);
  for (auto it = range.begin(); it != range.end();) it = map.erase(it);
  EXPECT_TRUE(map.empty());
}

TEST(HashMapApiTest, EraseIteratorOfAReplacedEntryRemovesNothing) {
  HashMap<int, int> map;
  map.insert({1, 1});
  map.insert({2, 2});
  auto it = map.find(1);
  map.insert_or_assign(1, 11);  // `it` now points to the replaced entry
  map.erase(it);
  EXPECT_EQ(map.get(1), 11);
  EXPECT_EQ(map.size(), 2u);
}

TEST(HashMapApiTest, EraseRange) {
  HashMap<int, int> map;
  for (int i = 0; i < 500; ++i) map.insert({i, i});
  std::vector<int> order;
  for (const auto& kv : map) order.push_back(kv.first);
  // [find(a), find(b)): exactly the keys between, in iteration order.
  {
    auto last = map.erase(map.find(order[100]), map.find(order[200]));
    ASSERT_NE(last, map.end());
    EXPECT_EQ(last->first, order[200]);
  }
  for (int i = 0; i < 500; ++i) {
    const bool erased = i >= 100 && i < 200;
    EXPECT_EQ(map.contains(order[static_cast<std::size_t>(i)]), !erased) << i;
  }
  // [it, it): nothing. [it, next(it)): one.
  map.erase(map.find(order[300]), map.find(order[300]));
  EXPECT_EQ(map.size(), 400u);
  {
    auto first = map.find(order[300]);
    auto second = std::next(first);
    map.erase(first, second);
  }
  EXPECT_FALSE(map.contains(order[300]));
  EXPECT_EQ(map.size(), 399u);
  // [begin, end): everything.
  EXPECT_EQ(map.erase(map.begin(), map.end()), map.end());
  EXPECT_TRUE(map.empty());
  EXPECT_FALSE(rcu::InReadSection());
}

TEST(HashMapApiTest, EraseRangeStopsAtTheEndOfTheBucketOfAnEntryErasedMeanwhile) {
  HashMap<int, int> map;
  for (int i = 0; i < 500; ++i) map.insert({i, i});
  std::vector<int> order;
  for (const auto& kv : map) order.push_back(kv.first);
  auto last = map.find(order[300]);
  map.erase(order[300]);  // `last` now points to an entry no longer in the map
  map.erase(map.find(order[0]), last);
  // Everything before order[300] went, and nothing beyond its bucket.
  for (int i = 0; i < 300; ++i) EXPECT_FALSE(map.contains(order[static_cast<std::size_t>(i)]));
  const std::size_t bucket = map.bucket(order[300]);
  for (std::size_t i = 301; i < order.size(); ++i) {
    if (map.bucket(order[i]) != bucket) {
      EXPECT_TRUE(map.contains(order[i])) << i;
    }
  }
}

// --- equal_range -----------------------------------------------------------------------

TEST(HashMapApiTest, EqualRange) {
  HashMap<std::string, int> map;
  map.insert({"a", 1});
  map.insert({"b", 2});
  auto [first, last] = map.equal_range("a");
  ASSERT_NE(first, map.end());
  EXPECT_EQ(first->second, 1);
  EXPECT_EQ(std::distance(first, last), 1);
  auto [none, none_end] = map.equal_range(std::string_view("z"));
  EXPECT_EQ(none, map.end());
  EXPECT_EQ(none_end, map.end());
  rcu::ReadGuard guard;
  auto guarded = map.equal_range(guard, "b");
  EXPECT_EQ(guarded.first->second, 2);
  EXPECT_EQ(std::distance(guarded.first, guarded.second), 1);
}

// --- merge -------------------------------------------------------------------------

struct OtherHash {
  std::size_t operator()(int k) const { return std::hash<int>()(k) * 7; }
};

TEST(HashMapApiTest, Merge) {
  HashMap<int, std::string> map = {{1, "one"}, {2, "two"}};
  HashMap<int, std::string> source = {{2, "deux"}, {3, "trois"}, {4, "quatre"}};
  map.merge(source);
  EXPECT_EQ(Sorted(map),
            (std::map<int, std::string>{{1, "one"}, {2, "two"}, {3, "trois"}, {4, "quatre"}}));
  EXPECT_EQ(Sorted(source), (std::map<int, std::string>{{2, "deux"}}));  // kept what collided
  HashMap<int, std::string, OtherHash> other_hash = {{5, "cinq"}, {1, "un"}};
  map.merge(other_hash);  // another hash functor
  EXPECT_EQ(map.size(), 5u);
  EXPECT_EQ(other_hash.size(), 1u);
  map.merge(HashMap<int, std::string>{{6, "six"}});  // from an rvalue
  EXPECT_EQ(map.get(6), "six");
  map.merge(map);  // itself: nothing
  EXPECT_EQ(map.size(), 6u);
}

// --- Swap, moves and copies -----------------------------------------------------------

TEST(HashMapApiTest, SwapKeepsReferencesValid) {
  HashMap<int, std::string> a = {{1, "a1"}, {2, "a2"}};
  HashMap<int, std::string> b = {{3, "b3"}};
  rcu::ReadGuard guard;
  const std::string& a1 = a.at(guard, 1);
  a.swap(b);
  EXPECT_EQ(a1, "a1");  // the entry moved with its map; nothing was freed
  EXPECT_EQ(Sorted(a), (std::map<int, std::string>{{3, "b3"}}));
  EXPECT_EQ(b.size(), 2u);
  swap(a, b);  // the free function, found by ADL
  EXPECT_EQ(a.size(), 2u);
  std::swap(a, b);  // through the move constructor and assignment
  EXPECT_EQ(a.size(), 1u);
  EXPECT_EQ(b.at(2), "a2");
}

TEST(HashMapApiTest, MoveLeavesTheSourceEmptyAndUsable) {
  HashMap<int, std::string> source;
  for (int i = 0; i < 100; ++i) source.insert({i, std::to_string(i)});
  source.max_load_factor(2.0f);
  HashMap<int, std::string> moved(std::move(source));
  EXPECT_EQ(moved.size(), 100u);
  EXPECT_EQ(moved.at(42), "42");
  EXPECT_EQ(moved.max_load_factor(), 2.0f);
  EXPECT_TRUE(source.empty());  // NOLINT(bugprone-use-after-move): documented state
  EXPECT_EQ(source.begin(), source.end());
  EXPECT_FALSE(source.contains(42));
  source.insert({7, "seven"});  // usable
  EXPECT_EQ(source.get(7), "seven");

  HashMap<int, std::string> assigned = {{1000, "old"}};
  assigned = std::move(moved);
  EXPECT_EQ(assigned.size(), 100u);
  EXPECT_FALSE(assigned.contains(1000));
  EXPECT_TRUE(moved.empty());  // NOLINT(bugprone-use-after-move)
  HashMap<int, std::string>& self = assigned;
  assigned = std::move(self);
  EXPECT_EQ(assigned.size(), 100u);
  rcu::Barrier();
}

TEST(HashMapApiTest, CopiesAreIndependent) {
  HashMap<int, std::string> original = {{1, "one"}, {2, "two"}};
  HashMap<int, std::string> copy(original);
  EXPECT_EQ(copy, original);
  copy.insert_or_assign(1, "uno");
  EXPECT_NE(copy, original);
  EXPECT_EQ(original.at(1), "one");
  HashMap<int, std::string> assigned = {{9, "nine"}};
  assigned = original;
  EXPECT_EQ(assigned, original);
  EXPECT_FALSE(assigned.contains(9));
  HashMap<int, std::string>& alias = assigned;
  assigned = alias;  // self-assignment
  EXPECT_EQ(assigned, original);
  assigned = {{5, "five"}};
  EXPECT_EQ(Sorted(assigned), (std::map<int, std::string>{{5, "five"}}));
}

TEST(HashMapApiTest, Equality) {
  HashMap<int, int> a = {{1, 1}, {2, 2}};
  HashMap<int, int> b = {{2, 2}, {1, 1}};
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a != b);
  b.insert_or_assign(2, 3);
  EXPECT_FALSE(a == b);
  b.erase(2);
  EXPECT_FALSE(a == b);
  b.insert({3, 2});
  EXPECT_FALSE(a == b);
  EXPECT_TRUE((HashMap<int, int>() == HashMap<int, int>()));
}

// A copy made while writers run is a weakly consistent view: every key
// present throughout, each once, with its value.
TEST(HashMapApiTest, CopyBesideWriters) {
  using Map = HashMap<int, rcu_test::Tracked, rcu_test::KnownHash>;
  constexpr int kStable = 2000;
  Map map;
  for (int k = 0; k < kStable; ++k) map.try_emplace(k, k);
  rcu_test::Churn<Map> churn(map, kStable, 100000, 2000);
  for (int round = 0; round < 10; ++round) {
    Map copy(map);
    Map assigned;
    assigned = map;
    for (const Map* m : {&copy, &assigned}) {
      for (int k = 0; k < kStable; ++k) ASSERT_EQ(m->at(k).value, k);
      std::set<int> keys;
      for (const auto& kv : *m) ASSERT_TRUE(keys.insert(kv.first).second);
      EXPECT_EQ(keys.size(), m->size());
    }
  }
}

// --- Constructors -----------------------------------------------------------------

TEST(HashMapApiTest, RangeAndListConstructors) {
  const std::vector<std::pair<int, int>> pairs = {{1, 1}, {2, 2}, {1, 3}};
  HashMap<int, int> from_range(pairs.begin(), pairs.end());
  EXPECT_EQ(Sorted(from_range), (std::map<int, int>{{1, 1}, {2, 2}}));
  HashMap<int, int> with_buckets(pairs.begin(), pairs.end(), 1000);
  EXPECT_GE(with_buckets.bucket_count(), 1000u);
  HashMap<int, int> list({{1, 1}, {2, 2}}, 64);
  EXPECT_EQ(list.size(), 2u);
  EXPECT_GE(list.bucket_count(), 64u);
  HashMap<int, int> from_map(from_range.begin(), from_range.end());  // another map's iterators
  EXPECT_EQ(from_map, from_range);
  EXPECT_FALSE(rcu::InReadSection());
}

// A stateful allocator: counts what each arena allocates and frees.
struct Arena {
  std::atomic<long> allocated{0};
  std::atomic<long> freed{0};
};

template <typename T>
struct ArenaAllocator {
  using value_type = T;
  explicit ArenaAllocator(Arena* arena) : arena(arena) {}
  template <typename U>
  ArenaAllocator(const ArenaAllocator<U>& other) : arena(other.arena) {}  // NOLINT
  T* allocate(std::size_t n) {
    arena->allocated.fetch_add(1);
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) {
    arena->freed.fetch_add(1);
    std::allocator<T>().deallocate(p, n);
  }
  friend bool operator==(const ArenaAllocator& a, const ArenaAllocator& b) {
    return a.arena == b.arena;
  }
  friend bool operator!=(const ArenaAllocator& a, const ArenaAllocator& b) { return !(a == b); }
  Arena* arena;
};

TEST(HashMapApiTest, StatefulAllocatorsFreeWhatTheyAllocated) {
  using Alloc = ArenaAllocator<std::pair<const int, int>>;
  using Map = HashMap<int, int, absl::Hash<int>, std::equal_to<int>, Alloc>;
  Arena first, second;
  {
    Map a{Alloc(&first)};
    Map b(16, Alloc(&second));
    Map c(16, absl::Hash<int>(), Alloc(&second));
    EXPECT_EQ(a.get_allocator(), Alloc(&first));
    for (int i = 0; i < 100; ++i) a.insert({i, i});
    for (int i = 0; i < 50; ++i) a.erase(i);
    for (int i = 0; i < 10; ++i) b.insert({i, i});
    Map moved(std::move(a), Alloc(&second));  // entries keep the arena that made them
    moved.insert({1000, 1});                  // a new one comes from `second`
    Map copied(moved, Alloc(&second));
    Map ranged({{1, 1}, {2, 2}}, 0, Alloc(&first));
    EXPECT_EQ(copied.size(), 51u);
  }
  rcu::Barrier();
  EXPECT_GT(first.allocated.load(), 0);
  EXPECT_GT(second.allocated.load(), 0);
  EXPECT_EQ(first.allocated.load(), first.freed.load());
  EXPECT_EQ(second.allocated.load(), second.freed.load());
}

TEST(HashMapApiTest, NewMapsAllocateNothingUntilTheirFirstWrite) {
  { rcu::ReadGuard registers_this_thread; }
  const long before = rcu_test::ThreadAllocations();
  HashMap<int, int> map;
  EXPECT_EQ(map.bucket_count(), 32u);
  EXPECT_FALSE(map.contains(1));
  EXPECT_EQ(map.begin(), map.end());
  EXPECT_EQ(map.erase(1), 0u);
  map.clear();
  HashMap<int, int> moved(std::move(map));
  EXPECT_EQ(rcu_test::ThreadAllocations(), before);
  map.insert({1, 1});  // now it allocates: stripes, buckets, one entry
  EXPECT_GT(rcu_test::ThreadAllocations(), before);
}

TEST(HashMapApiTest, SizesAndBuckets) {
  HashMap<int, int> map;
  EXPECT_GT(map.max_size(), 1u << 20);
  EXPECT_GE(map.max_bucket_count(), std::size_t{1} << 40);
  for (int i = 0; i < 1000; ++i) map.insert({i, i});
  std::size_t total = 0;
  for (std::size_t b = 0; b < map.bucket_count(); ++b) total += map.bucket_size(b);
  EXPECT_EQ(total, map.size());
  EXPECT_EQ(map.bucket_size(map.bucket_count() + 5), 0u);
  for (int i = 0; i < 1000; ++i) EXPECT_LT(map.bucket(i), map.bucket_count());
}

// --- Mixing (bug 9) -----------------------------------------------------------------

// Identity hashes (libstdc++'s std::hash of integers and pointers) of keys
// with constant low bits must still spread over every stripe (bucket mod
// 32) and over the buckets.
template <typename Map, typename MakeKey>
void ExpectSpread(const char* what, MakeKey make_key) {
  SCOPED_TRACE(what);
  constexpr int kKeys = 4096;
  Map map;
  map.reserve(kKeys);
  for (int i = 0; i < kKeys; ++i) map.insert({make_key(i), i});
  const std::size_t buckets = map.bucket_count();
  std::vector<std::size_t> per_stripe(rcu::internal::kHashMapStripes, 0);
  std::size_t longest = 0;
  std::size_t used = 0;
  for (std::size_t b = 0; b < buckets; ++b) {
    const std::size_t n = map.bucket_size(b);
    per_stripe[b % rcu::internal::kHashMapStripes] += n;
    longest = std::max(longest, n);
    if (n > 0) ++used;
  }
  // Random placement would put 4096 / 32 = 128 keys in each stripe, and
  // fill about 1 - 1/e of the buckets with none much longer than 8. (One
  // multiply maps some regular key sets onto a lattice: fewer buckets used,
  // each by a few keys; that is fine. Unmixed, these keys share one bucket
  // or a handful, all in one stripe.)
  for (std::size_t s = 0; s < per_stripe.size(); ++s) {
    EXPECT_GT(per_stripe[s], 64u) << "stripe " << s;
    EXPECT_LT(per_stripe[s], 256u) << "stripe " << s;
  }
  EXPECT_LE(longest, 12u);
  EXPECT_GT(used, buckets / 3);
}

TEST(HashMapApiTest, IdentityHashesOfAlignedKeysAreMixed) {
  ExpectSpread<HashMap<std::uint64_t, int, std::hash<std::uint64_t>>>(
      "IDs that are multiples of 64",
      [](int i) { return std::uint64_t{64} * static_cast<std::uint64_t>(i); });
  ExpectSpread<HashMap<std::uint64_t, int, std::hash<std::uint64_t>>>(
      "IDs in the high bits", [](int i) { return static_cast<std::uint64_t>(i) << 40; });
  static std::vector<std::unique_ptr<std::int64_t[]>> blocks;
  ExpectSpread<HashMap<const std::int64_t*, int, std::hash<const std::int64_t*>>>(
      "heap pointers", [](int) {
        blocks.push_back(std::make_unique<std::int64_t[]>(8));
        return static_cast<const std::int64_t*>(blocks.back().get());
      });
}

TEST(HashMapApiTest, AvalanchingHashesAreUsedAsTheyAre) {
  // KnownHash declares is_avalanching: iteration follows its bit-reversed
  // values exactly (the iterator tests rely on this).
  HashMap<int, int, rcu_test::KnownHash> map;
  for (int i = 0; i < 100; ++i) map.insert({i, i});
  int range = 0;
  for (const auto& kv : map) {
    EXPECT_GE(rcu_test::RangeOf(kv.first), range);  // buckets in order of their reversed index
    range = rcu_test::RangeOf(kv.first);
  }
  EXPECT_TRUE((rcu::internal::HashIsAvalanching<absl::Hash<int>>::value));
  EXPECT_TRUE(rcu::internal::HashIsAvalanching<rcu::internal::StringHash>::value);
  EXPECT_FALSE(rcu::internal::HashIsAvalanching<std::hash<int>>::value);
}

}  // namespace
