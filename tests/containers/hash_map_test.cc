// rcu::HashMap: every operation, heterogeneous lookup, custom functors,
// move-only values, exceptions, resizing and iteration.
#include "containers/hash_map.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/grace_period.h"
#include "rcu/internal/batching.h"
#include "rcu/read_guard.h"
#include "rcu/stats.h"

namespace {

using ::rcu::ComputeResult;
using ::rcu::HashMap;

TEST(HashMapTest, StartsEmptyAndSmall) {
  HashMap<int, int> map;
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.size(), 0u);
  EXPECT_EQ(map.bucket_count(), 32u);
  EXPECT_FALSE(map.contains(1));
  EXPECT_EQ(map.begin(), map.end());
  EXPECT_LT(sizeof(map), 200u);
}

TEST(HashMapTest, InsertFindErase) {
  HashMap<int, std::string> map;
  auto [it, inserted] = map.insert({1, "one"});
  EXPECT_TRUE(inserted);
  EXPECT_EQ(it->first, 1);
  EXPECT_EQ(it->second, "one");
  auto [again, inserted_again] = map.insert({1, "uno"});
  EXPECT_FALSE(inserted_again);
  EXPECT_EQ(again->second, "one");  // insert does not overwrite
  EXPECT_EQ(map.size(), 1u);
  EXPECT_TRUE(map.contains(1));
  EXPECT_EQ(map.count(1), 1u);
  EXPECT_EQ(map.count(2), 0u);
  EXPECT_EQ(map.get(1), "one");
  EXPECT_EQ(map.get(2), std::nullopt);
  {
    rcu::ReadGuard guard;
    auto found = map.find(guard, 1);
    ASSERT_NE(found, map.end());
    EXPECT_EQ(found->second, "one");
    EXPECT_EQ(map.find(guard, 3), map.end());
  }
  EXPECT_EQ(map.erase(1), 1u);
  EXPECT_EQ(map.erase(1), 0u);
  EXPECT_TRUE(map.empty());
  EXPECT_FALSE(map.contains(1));
}

TEST(HashMapTest, EmplaceTryEmplaceInsertOrAssign) {
  HashMap<std::string, std::string> map;
  EXPECT_TRUE(map.emplace("a", "1").second);
  EXPECT_FALSE(map.emplace("a", "2").second);
  EXPECT_TRUE(map.try_emplace("b", 3, 'x').second);
  EXPECT_EQ(map.get("b"), "xxx");
  EXPECT_FALSE(map.try_emplace("b", 1, 'y').second);
  EXPECT_EQ(map.get("b"), "xxx");
  EXPECT_TRUE(map.insert_or_assign("c", "new").second);
  auto [it, inserted] = map.insert_or_assign("c", "newer");
  EXPECT_FALSE(inserted);
  EXPECT_EQ(it->second, "newer");
  EXPECT_EQ(map.get("c"), "newer");
  EXPECT_EQ(map.size(), 3u);
}

TEST(HashMapTest, UpdateAndCompute) {
  HashMap<int, int> map;
  EXPECT_FALSE(map.update(1, [](const int& v) { return v + 1; }));
  EXPECT_EQ(map.compute(1, [](const int* v) { return std::optional<int>(v ? *v + 1 : 10); }),
            ComputeResult::kInserted);
  EXPECT_EQ(map.get(1), 10);
  EXPECT_TRUE(map.update(1, [](const int& v) { return v * 2; }));
  EXPECT_EQ(map.get(1), 20);
  EXPECT_EQ(map.compute(1, [](const int* v) { return std::optional<int>(*v + 1); }),
            ComputeResult::kUpdated);
  EXPECT_EQ(map.get(1), 21);
  EXPECT_EQ(map.compute(1, [](const int*) { return std::optional<int>(); }),
            ComputeResult::kErased);
  EXPECT_FALSE(map.contains(1));
  EXPECT_EQ(map.compute(1, [](const int*) { return std::optional<int>(); }),
            ComputeResult::kUnchanged);
  EXPECT_EQ(map.size(), 0u);
}

TEST(HashMapTest, IteratorsHoldTheirSectionAcrossCopiesAndMoves) {
  HashMap<int, std::string> map;
  map.insert({1, "one"});
  ASSERT_FALSE(rcu::InReadSection());
  using Iterator = HashMap<int, std::string>::const_iterator;
  {
    Iterator it = map.find(1);  // owns a read-side section
    EXPECT_TRUE(rcu::InReadSection());
    Iterator moved = std::move(it);  // takes the section over
    EXPECT_EQ(moved->second, "one");
    EXPECT_EQ(it, map.end());  // NOLINT(bugprone-use-after-move): pins nothing now
    Iterator copy = moved;     // a section of its own
    moved = Iterator();        // leaves one section; the copy's remains
    EXPECT_TRUE(rcu::InReadSection());
    EXPECT_EQ(copy->second, "one");
    copy = map.find(1);  // enters the new one before leaving the old
    EXPECT_TRUE(rcu::InReadSection());
    Iterator other = map.find(1);
    other = std::move(copy);  // `other` gives its section up, takes copy's
    EXPECT_EQ(other->second, "one");
    EXPECT_EQ(copy, map.end());  // NOLINT(bugprone-use-after-move)
  }
  EXPECT_FALSE(rcu::InReadSection());  // every section entered was left once
  { auto [it, inserted] = map.insert_or_assign(1, "uno"); }
  EXPECT_FALSE(rcu::InReadSection());
  rcu::Barrier();  // would abort inside a read-side section
}

TEST(HashMapTest, UpdateKeepsOldValueForReadersUnderAGuard) {
  HashMap<int, std::string> map;
  map.insert({7, "old"});
  rcu::ReadGuard guard;
  auto it = map.find(guard, 7);
  ASSERT_NE(it, map.end());
  const std::string& old_value = it->second;
  map.insert_or_assign(7, "new");  // writers may run inside a read section
  map.update(7, [](const std::string& v) { return v + "er"; });
  EXPECT_EQ(old_value, "old");  // still readable: freed only after the guard
  EXPECT_EQ(map.get(7), "newer");
}

TEST(HashMapTest, EraseIfAndClear) {
  HashMap<int, int> map;
  for (int i = 0; i < 1000; ++i) map.insert({i, i});
  EXPECT_EQ(map.erase_if([](const auto& kv) { return kv.first % 2 == 0; }), 500u);
  EXPECT_EQ(map.size(), 500u);
  EXPECT_EQ(rcu::erase_if(map, [](const auto& kv) { return kv.second < 100; }), 50u);
  EXPECT_EQ(map.size(), 450u);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(map.contains(i), i % 2 == 1 && i >= 100) << i;
  }
  rcu::ReadGuard guard;
  auto it = map.find(guard, 101);
  ASSERT_NE(it, map.end());
  map.clear();
  EXPECT_EQ(it->second, 101);  // still valid under the guard
  EXPECT_TRUE(map.empty());
  EXPECT_FALSE(map.contains(101));
  map.insert({5, 5});
  EXPECT_EQ(map.size(), 1u);
}

TEST(HashMapTest, EraseByIterator) {
  HashMap<int, int> map;
  map.insert({1, 1});
  map.insert({2, 2});
  auto it = map.find(1);
  auto next = map.erase(it);  // returns the entry after `it`, if any
  EXPECT_FALSE(map.contains(1));
  EXPECT_EQ(map.size(), 1u);
  EXPECT_TRUE(next == map.end() || next->first == 2);
  map.erase(it);  // no longer present: removes nothing
  EXPECT_EQ(map.size(), 1u);
  EXPECT_EQ(map.erase(map.end()), map.end());
}

TEST(HashMapTest, IteratesEveryEntryOnce) {
  HashMap<int, int> map;
  for (int i = 0; i < 5000; ++i) map.insert({i, -i});
  std::vector<int> seen(5000, 0);
  for (const auto& [key, value] : map) {  // iterators hold their own guard
    ASSERT_GE(key, 0);
    ASSERT_LT(key, 5000);
    EXPECT_EQ(value, -key);
    ++seen[key];
  }
  EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));
  rcu::ReadGuard guard;
  std::size_t count = 0;
  for (const auto& entry : map.Iterate(guard)) {
    (void)entry;
    ++count;
  }
  EXPECT_EQ(count, 5000u);
  EXPECT_EQ(std::distance(map.begin(), map.end()), 5000);
}

TEST(HashMapTest, GrowsAndShrinks) {
  HashMap<int, int> map;
  for (int i = 0; i < 100000; ++i) map.insert({i, i});
  // Automatic resizes never wait for a grace period: the last growth may
  // have been left for a later write, once the grace period has passed.
  rcu::Synchronize();
  map.insert({0, 0});
  EXPECT_GE(map.bucket_count(), 100000u);
  EXPECT_LE(map.load_factor(), map.max_load_factor());
  for (int i = 0; i < 100000; ++i) ASSERT_EQ(map.get(i), i);
  for (int i = 0; i < 99990; ++i) map.erase(i);
  // Automatic resizes never wait for a grace period: the last shrink may
  // have been left for a later erase, once the grace period has passed.
  rcu::Synchronize();
  map.erase(99990);
  EXPECT_LT(map.bucket_count(), 1024u);
  for (int i = 99991; i < 100000; ++i) EXPECT_EQ(map.get(i), i);
}

TEST(HashMapTest, ReserveAndRehash) {
  HashMap<int, int> map;
  map.reserve(5000);
  const std::size_t reserved = map.bucket_count();
  EXPECT_GE(reserved, 5000u);
  for (int i = 0; i < 5000; ++i) map.insert({i, i});
  EXPECT_EQ(map.bucket_count(), reserved);  // no resize needed
  for (int i = 0; i < 5000; ++i) map.erase(i);
  EXPECT_EQ(map.bucket_count(), reserved);  // reserve() keeps the floor
  map.rehash(0);                            // shrink to fit
  EXPECT_EQ(map.bucket_count(), 32u);
  map.rehash(4096);
  EXPECT_EQ(map.bucket_count(), 4096u);
}

TEST(HashMapTest, HeterogeneousLookup) {
  HashMap<std::string, int> map;
  map.insert({"alpha", 1});
  const std::string_view key = "alpha";
  EXPECT_TRUE(map.contains(key));
  EXPECT_TRUE(map.contains("alpha"));
  EXPECT_EQ(map.get(key), 1);
  EXPECT_EQ(map.count(std::string_view("beta")), 0u);
  {
    rcu::ReadGuard guard;
    EXPECT_NE(map.find(guard, key), map.end());
  }
  EXPECT_EQ(map.erase(key), 1u);
  EXPECT_FALSE(map.contains(std::string("alpha")));
}

struct CaseInsensitiveHash {
  std::size_t operator()(const std::string& s) const {
    std::string lower(s);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return std::hash<std::string>()(lower);
  }
};
struct CaseInsensitiveEq {
  bool operator()(const std::string& a, const std::string& b) const {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) ==
                    std::tolower(static_cast<unsigned char>(y));
           });
  }
};

TEST(HashMapTest, CustomHashAndEquality) {
  HashMap<std::string, int, CaseInsensitiveHash, CaseInsensitiveEq> map;
  map.insert({"Hello", 1});
  EXPECT_TRUE(map.contains("HELLO"));
  EXPECT_FALSE(map.insert({"hello", 2}).second);
  EXPECT_EQ(map.get("hElLo"), 1);
}

// Integral, enum and pointer keys under std::equal_to are compared directly
// on lookup; any other equality must still be the one consulted.
enum class Color { kRed, kGreen, kBlue };
struct ModuloHash {
  std::size_t operator()(int k) const { return std::hash<int>()(k % 1000); }
};
struct ModuloEq {
  bool operator()(int a, int b) const { return a % 1000 == b % 1000; }
};
struct CollidingHash {
  std::size_t operator()(long) const { return 42; }
};

TEST(HashMapTest, KeysComparedDirectlyAndByCustomEquality) {
  HashMap<Color, int> colors;
  colors.insert({Color::kRed, 1});
  colors.insert({Color::kBlue, 3});
  EXPECT_EQ(colors.get(Color::kRed), 1);
  EXPECT_EQ(colors.get(Color::kGreen), std::nullopt);
  EXPECT_EQ(colors.get(Color::kBlue), 3);

  int slots[3] = {};
  HashMap<const int*, int> pointers;
  pointers.insert({&slots[0], 0});
  pointers.insert({&slots[2], 2});
  EXPECT_TRUE(pointers.contains(&slots[0]));
  EXPECT_FALSE(pointers.contains(&slots[1]));
  EXPECT_EQ(pointers.get(&slots[2]), 2);

  HashMap<int, int, ModuloHash, ModuloEq> modulo;
  modulo.insert({1, 10});
  EXPECT_TRUE(modulo.contains(1001));  // equal under ModuloEq, not under ==
  EXPECT_EQ(modulo.get(2001), 10);
  EXPECT_FALSE(modulo.contains(2));

  // Every key in one chain: lookups walk it comparing keys alone.
  HashMap<long, long, CollidingHash> chain;
  for (long i = 0; i < 200; ++i) chain.insert({i, -i});
  for (long i = 0; i < 200; ++i) ASSERT_EQ(chain.get(i), -i);
  EXPECT_FALSE(chain.contains(200));
  for (long i = 0; i < 200; i += 2) chain.erase(i);
  for (long i = 0; i < 200; ++i) ASSERT_EQ(chain.contains(i), i % 2 == 1) << i;
}

TEST(HashMapTest, MoveOnlyValues) {
  HashMap<int, std::unique_ptr<int>> map;
  map.insert({1, std::make_unique<int>(10)});
  map.try_emplace(2, std::make_unique<int>(20));
  map.emplace(3, std::make_unique<int>(30));
  map.insert_or_assign(1, std::make_unique<int>(11));
  EXPECT_TRUE(
      map.update(2, [](const std::unique_ptr<int>& v) { return std::make_unique<int>(*v + 1); }));
  rcu::ReadGuard guard;
  EXPECT_EQ(*map.find(guard, 1)->second, 11);
  EXPECT_EQ(*map.find(guard, 2)->second, 21);
  EXPECT_EQ(*map.find(guard, 3)->second, 30);
}

// --- Exceptions ---------------------------------------------------------------

struct PickyHash {
  std::size_t operator()(int key) const {
    if (key == 13) throw std::runtime_error("unlucky hash");
    return std::hash<int>()(key);
  }
};
struct PickyEq {
  bool operator()(int a, int b) const {
    if (a == 66 || b == 66) throw std::runtime_error("unlucky equality");
    return a == b;
  }
};

// Checks that the map still holds exactly 0..9 (value = key) and is usable.
template <typename Map>
void ExpectIntactAndUsable(Map& map) {
  EXPECT_EQ(map.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(map.contains(i)) << i;
  EXPECT_TRUE(map.insert({100, 100}).second);  // no stripe left locked
  EXPECT_EQ(map.erase(100), 1u);
}

TEST(HashMapExceptionTest, ThrowingHashLeavesMapUnchanged) {
  HashMap<int, int, PickyHash> map;
  for (int i = 0; i < 10; ++i) map.insert({i, i});
  EXPECT_THROW(map.insert({13, 13}), std::runtime_error);
  EXPECT_THROW(map.try_emplace(13, 13), std::runtime_error);
  EXPECT_THROW(map.erase(13), std::runtime_error);
  EXPECT_THROW(map.contains(13), std::runtime_error);
  ExpectIntactAndUsable(map);
}

TEST(HashMapExceptionTest, ThrowingEqualityLeavesMapUnchanged) {
  HashMap<int, int, std::hash<int>, PickyEq> map;
  for (int i = 0; i < 10; ++i) map.insert({i, i});
  // 66 collides with nothing here unless it meets itself; put it in first.
  bool threw = false;
  try {
    map.insert({66, 66});
    map.insert({66, 67});
  } catch (const std::runtime_error&) {
    threw = true;
  }
  EXPECT_TRUE(threw);
  map.erase_if([](const auto& kv) { return kv.first == 66; });
  ExpectIntactAndUsable(map);
}

struct ThrowsOnCopy {
  explicit ThrowsOnCopy(int v) : value(v) {}
  ThrowsOnCopy(const ThrowsOnCopy& other) : value(other.value) {
    if (value < 0) throw std::runtime_error("copy refused");
  }
  int value;
};

TEST(HashMapExceptionTest, ThrowingValueConstructorLeavesMapUnchanged) {
  HashMap<int, ThrowsOnCopy> map;
  for (int i = 0; i < 10; ++i) map.try_emplace(i, i);
  const ThrowsOnCopy bad(-1);
  EXPECT_THROW(map.insert_or_assign(3, bad), std::runtime_error);
  EXPECT_THROW(map.try_emplace(20, bad), std::runtime_error);
  EXPECT_THROW(map.update(4,
                          [](const ThrowsOnCopy&) -> ThrowsOnCopy {
                            throw std::runtime_error("update refused");
                          }),
               std::runtime_error);
  EXPECT_EQ(map.get(3)->value, 3);
  EXPECT_EQ(map.get(4)->value, 4);
  EXPECT_FALSE(map.contains(20));
  EXPECT_EQ(map.size(), 10u);
  EXPECT_TRUE(map.try_emplace(100, 100).second);
  EXPECT_EQ(map.erase(100), 1u);
}

// An allocator that fails once its budget is spent.
inline std::atomic<int> allocation_budget{1 << 30};

template <typename T>
struct BudgetAllocator {
  using value_type = T;
  BudgetAllocator() = default;
  template <typename U>
  BudgetAllocator(const BudgetAllocator<U>&) {}  // NOLINT
  T* allocate(std::size_t n) {
    if (allocation_budget.fetch_sub(1) <= 0) throw std::bad_alloc();
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) { std::allocator<T>().deallocate(p, n); }
  friend bool operator==(const BudgetAllocator&, const BudgetAllocator&) { return true; }
  friend bool operator!=(const BudgetAllocator&, const BudgetAllocator&) { return false; }
};

TEST(HashMapExceptionTest, FailedAllocationLeavesMapUnchanged) {
  using Map = HashMap<int, int, absl::Hash<int>, std::equal_to<int>,
                      BudgetAllocator<std::pair<const int, int>>>;
  Map map;
  for (int i = 0; i < 10; ++i) map.insert({i, i});
  allocation_budget.store(0);
  EXPECT_THROW(map.insert({50, 50}), std::bad_alloc);
  EXPECT_THROW(map.insert_or_assign(5, 55), std::bad_alloc);
  EXPECT_THROW(map.try_emplace(51, 51), std::bad_alloc);
  allocation_budget.store(1 << 30);
  EXPECT_EQ(map.get(5), 5);
  ExpectIntactAndUsable(map);
}

TEST(HashMapExceptionTest, ImpossibleBucketCountsFailCleanly) {
  // 2^62 buckets of 8 bytes: the byte count overflows size_t.
  constexpr std::size_t kHuge = std::size_t{1} << 62;
  EXPECT_THROW((HashMap<int, int>(kHuge)), std::bad_alloc);
  HashMap<int, int> map;
  for (int i = 0; i < 10; ++i) map.insert({i, i});
  const std::size_t buckets = map.bucket_count();
  map.rehash(kHuge);  // the resize is skipped
  EXPECT_EQ(map.bucket_count(), buckets);
  map.reserve(kHuge);
  EXPECT_EQ(map.bucket_count(), buckets);
  map.rehash(0);  // the floor the failed calls set does not block later shrinking
  EXPECT_EQ(map.bucket_count(), 32u);
  EXPECT_EQ(map.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(map.get(i), i);
}

// --- Concurrency --------------------------------------------------------------

TEST(HashMapConcurrencyTest, StableKeysAlwaysFoundWhileOthersChurnAndResize) {
  constexpr int kStable = 2000;
  HashMap<int, int> map;
  for (int i = 0; i < kStable; ++i) map.insert({i, i * 2});
  std::atomic<bool> stop{false};
  std::atomic<long> lookups{0}, misses{0}, wrong{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        for (int i = 0; i < kStable; ++i) {
          rcu::ReadGuard guard;
          auto it = map.find(guard, i);
          if (it == map.end()) {
            misses.fetch_add(1);
          } else if (it->second != i * 2) {
            wrong.fetch_add(1);
          }
          lookups.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  // Grow to ~64x and shrink back, several times.
  const std::size_t buckets_before = map.bucket_count();
  std::size_t largest = 0;
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 60000; ++i) map.insert({kStable + i, 0});
    largest = std::max(largest, map.bucket_count());
    for (int i = 0; i < 60000; ++i) map.erase(kStable + i);
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  EXPECT_GT(largest, buckets_before * 16);
  EXPECT_GT(lookups.load(), 0);
  EXPECT_EQ(misses.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(map.size(), static_cast<std::size_t>(kStable));
}

TEST(HashMapConcurrencyTest, IterationSeesStableKeysExactlyOnceDuringChurn) {
  constexpr int kStable = 3000;
  HashMap<int, int> map;
  for (int i = 0; i < kStable; ++i) map.insert({i, i});
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    int round = 0;
    while (!stop.load()) {
      // Enough churn to force resizes in both directions.
      for (int i = 0; i < 20000; ++i) map.insert({kStable + i, -1});
      for (int i = 0; i < 20000; ++i) map.erase(kStable + i);
      ++round;
    }
  });
  int iterations = 0;
  for (; iterations < 40; ++iterations) {
    std::vector<int> seen(kStable, 0);
    rcu::ReadGuard guard;
    for (const auto& [key, value] : map.Iterate(guard)) {
      if (key < kStable) {
        ASSERT_EQ(value, key);
        ++seen[key];
      } else {
        ASSERT_LT(key, kStable + 20000);
        ASSERT_EQ(value, -1);
      }
    }
    for (int i = 0; i < kStable; ++i)
      ASSERT_EQ(seen[i], 1) << "key " << i << ", pass " << iterations;
  }
  stop.store(true);
  writer.join();
}

TEST(HashMapConcurrencyTest, WritersInsideReadSectionsDoNotDeadlockWithResizes) {
  HashMap<int, int> map;
  std::atomic<std::size_t> largest{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&map, &largest, t] {
      for (int round = 0; round < 100; ++round) {
        rcu::ReadGuard guard;  // writes while iterating are allowed
        for (int i = 0; i < 1000; ++i) map.insert({t * 1000000 + round * 1000 + i, i});
        for (const auto& kv : map.Iterate(guard)) {
          if (kv.first % 3 == 0) map.erase(kv.first);
          break;
        }
        std::size_t buckets = map.bucket_count();
        std::size_t seen = largest.load();
        while (buckets > seen && !largest.compare_exchange_weak(seen, buckets)) {
        }
      }
      for (int i = 0; i < 100000; ++i) map.erase(t * 1000000 + i);
    });
  }
  for (auto& t : writers) t.join();
  EXPECT_LE(map.size(), 2u);
  // Writers inside read sections still got the table resized.
  EXPECT_GE(largest.load(), 65536u);
}

TEST(HashMapConcurrencyTest, EraseStormKeepsReclamationBounded) {
  const std::size_t old_limit = rcu::CallbackBacklogLimit();
  rcu::SetCallbackBacklogLimit(2000);
  HashMap<int, std::string> map;
  std::uint64_t max_pending = 0;
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 2000; ++i) map.insert_or_assign(i, std::string(64, 'x'));
    for (int i = 0; i < 2000; ++i) map.erase(i);
    const rcu::Stats s = rcu::GetStats();
    max_pending = std::max(max_pending, s.callbacks_queued - s.callbacks_invoked);
  }
  rcu::SetCallbackBacklogLimit(old_limit);
  // The limit, plus this thread's partial retire block, which the callback
  // worker may hand over on its own without making anyone wait.
  EXPECT_LE(max_pending, 2000u + rcu::internal::kRetireBatchSize);
  EXPECT_TRUE(map.empty());
}

}  // namespace
