// Regression tests for the rcu::HashMap bugs of issue 10, one or more per
// bug. Each was seen to fail at commit a5b674e (the map before the fixes);
// they use only the API that existed there, so that this file still builds
// against that header (see the negative controls in the report).
//
//  1. ++ on an iterator from a lookup or a write followed link 0 whatever
//     the table's generation (freed memory after an odd number of resizes)
//     and never left its bucket.
//  2. The iterator claimed forward_iterator_tag: std::vector's range
//     constructor counted, allocated, then copied past the end of its buffer
//     when the second pass was longer.
//  3. insert_or_assign() and erase(find(k)) retired inside the result's (or
//     argument's) read-side section and skipped the backlog limit.
//  4. Retiring inside a read-side section could throw std::bad_alloc after
//     the change was published, leaking the entry.
//  5. erase_if() leaked what it had unlinked when the predicate threw or its
//     vector could not grow.
//  6. clear() emptied the map, then threw and leaked every entry under
//     allocation failure; ~HashMap terminated.
//  8. find(key) returned an end() that held a read-side section, so
//     `if (m.find(k) == m.end()) m.reserve(n)` aborted while a resize's
//     grace period was pending; so did reserve() under insert()'s result.
// (Bug 9, unmixed hashes, needs bucket_size() to observe: hash_map_test.cc.)
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "containers/hash_map.h"
#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/grace_period.h"
#include "rcu/internal/batching.h"
#include "rcu/read_guard.h"
#include "rcu/stats.h"
#include "tests/util/allocation_counter.h"
#include "tests/util/test_util.h"

namespace {

using ::rcu::HashMap;

// A value that counts its live instances, so that a test can tell, after
// rcu::Barrier(), whether every entry the map dropped was freed.
struct Counted {
  static inline std::atomic<long> live{0};
  explicit Counted(int v = 0) : value(v) { live.fetch_add(1); }
  Counted(const Counted& other) : value(other.value) { live.fetch_add(1); }
  ~Counted() { live.fetch_sub(1); }
  Counted& operator=(const Counted&) = delete;
  int value;
};

// The keys of a full iteration, in iteration order.
template <typename Map>
std::vector<int> IterationOrder(const Map& map) {
  std::vector<int> order;
  for (const auto& kv : map) order.push_back(kv.first);
  return order;
}

// The keys from `it` to the end.
template <typename Map, typename It>
std::vector<int> KeysFrom(const Map& map, It it) {
  std::vector<int> keys;
  for (; it != map.end(); ++it) keys.push_back(it->first);
  return keys;
}

// --- Bug 1 ----------------------------------------------------------------------

// With no concurrent writer, iterating from the iterator a lookup or a
// write returned must give exactly the rest of a full iteration, after any
// number of resizes (links of either generation), with erased entries freed.
TEST(HashMapRegressionTest, IteratorsFromLookupsAndWritesContinueInIterationOrder) {
  HashMap<int, int> map;
  for (int i = 0; i < 400; ++i) map.insert({i, i});
  map.rehash(0);  // makes the resize the fill may have left for a later write
  int next_key = 400;
  for (int resizes = 0; resizes < 4; ++resizes) {
    SCOPED_TRACE("after " + std::to_string(resizes) + " resizes");
    const std::vector<int> order = IterationOrder(map);
    ASSERT_EQ(order.size(), map.size());
    for (std::size_t i = 0; i < order.size(); i += 7) {
      const int key = order[i];
      const std::vector<int> rest(order.begin() + static_cast<std::ptrdiff_t>(i), order.end());
      ASSERT_EQ(KeysFrom(map, map.find(key)), rest) << "find(key) " << key;
      {
        rcu::ReadGuard guard;
        ASSERT_EQ(KeysFrom(map, map.find(guard, key)), rest) << "find(guard, key) " << key;
      }
      ASSERT_EQ(KeysFrom(map, map.insert({key, -1}).first), rest) << "insert " << key;
      ASSERT_EQ(KeysFrom(map, map.emplace(key, -1).first), rest) << "emplace " << key;
      ASSERT_EQ(KeysFrom(map, map.try_emplace(key, -1).first), rest) << "try_emplace " << key;
      // Replaces the entry in its place: the order of keys is unchanged.
      ASSERT_EQ(KeysFrom(map, map.insert_or_assign(key, key).first), rest)
          << "insert_or_assign " << key;
    }
    // Resize, then erase and free entries, so that links of the other
    // generation would lead to freed memory.
    map.rehash(map.bucket_count() * 4);
    for (int i = 0; i < 60; ++i) map.erase(next_key - 400 + i * 5);
    for (int i = 0; i < 60; ++i) map.insert({next_key++, 0});
    rcu::Barrier();
  }
}

// --- Bug 2 ----------------------------------------------------------------------

// A value whose copy inserts more entries into the map it came from: a
// writer running while std::vector copies the range, made deterministic.
struct Grower {
  static inline HashMap<int, Grower>* map = nullptr;
  static inline int next_key = 0;
  static inline int last_key = 0;
  explicit Grower(int v) : value(v) {}
  Grower(const Grower& other) : value(other.value) {
    for (int i = 0; i < 4 && map != nullptr && next_key < last_key; ++i) {
      map->try_emplace(next_key, next_key);
      ++next_key;
    }
  }
  int value;
};

TEST(HashMapRegressionTest, VectorFromRangeSurvivesAGrowingMap) {
  HashMap<int, Grower> map;
  for (int i = 0; i < 100; ++i) map.try_emplace(i, i);
  Grower::map = &map;
  Grower::next_key = 1000;
  Grower::last_key = 3000;
  // Each copy inserts four entries, about half of them ahead of the
  // iteration: a range counted first would be overrun.
  std::vector<std::pair<const int, Grower>> copy(map.begin(), map.end());
  Grower::map = nullptr;
  EXPECT_GE(copy.size(), 100u);
  EXPECT_LE(copy.size(), map.size());
  std::vector<int> keys;
  for (const auto& kv : copy) keys.push_back(kv.first);
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end()) << "a key copied twice";
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(std::binary_search(keys.begin(), keys.end(), i)) << i;
}

// --- Bug 3 ----------------------------------------------------------------------

// Runs `op(i)` for i in [0, ops) on a writer thread while a parked reader
// stops every grace period, and checks that the writer stops at the backlog
// limit: it must be seen waiting, and the callbacks pending after each call
// must never exceed the limit by more than one retire block.
void ExpectBacklogBounded(const char* what, const std::function<void(int)>& op, int ops) {
  SCOPED_TRACE(what);
  constexpr std::size_t kLimit = 1000;
  const std::size_t old_limit = rcu::CallbackBacklogLimit();
  rcu::Barrier();
  rcu::SetCallbackBacklogLimit(kLimit);
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> max_pending{0};
  const std::uint64_t waits_before = rcu::GetStats().backlog_waits;
  {
    rcu_test::ParkedReader reader;  // no grace period ends while it is parked
    std::thread writer([&] {
      for (int i = 0; i < ops; ++i) {
        op(i);
        const rcu::Stats s = rcu::GetStats();
        const std::uint64_t pending = s.callbacks_queued - s.callbacks_invoked;
        if (pending > max_pending.load()) max_pending.store(pending);
      }
      done.store(true);
    });
    // Either the writer waits for the backlog (what must happen) or it
    // finishes every call without waiting (the bug).
    ASSERT_TRUE(rcu_test::Eventually(
        [&] { return done.load() || rcu::GetStats().backlog_waits > waits_before; }));
    EXPECT_FALSE(done.load()) << "the writer never waited for the backlog";
    reader.Release();
    writer.join();
  }
  rcu::SetCallbackBacklogLimit(old_limit);
  EXPECT_LE(max_pending.load(), kLimit + rcu::internal::kRetireBatchSize + 2);
  rcu::Barrier();
}

TEST(HashMapRegressionTest, InsertOrAssignAndEraseOfFindRespectTheBacklogLimit) {
  // Five times the limit, after what the writer's node recycler may keep
  // (containers/internal/hash_map_recycler.h): int -> int entries are
  // reused by their thread, and only retired through the callback backlog
  // once the recycler is full.
  constexpr int kOps = 5000 + static_cast<int>(rcu::internal::kRecyclerBatchSize *
                                               (rcu::internal::kRecyclerBatches + 1));
  HashMap<int, int> map;
  for (int i = 0; i < 100; ++i) map.insert({i, i});
  ExpectBacklogBounded(
      "insert_or_assign", [&](int i) { map.insert_or_assign(i % 100, i); }, kOps);
  ExpectBacklogBounded(
      "erase(find(k))",
      [&](int i) {
        map.insert({1000 + i, i});
        map.erase(map.find(1000 + i));
      },
      kOps);
  ExpectBacklogBounded(
      "update", [&](int i) { map.update(i % 100, [](int v) { return v + 1; }); }, kOps);
  ExpectBacklogBounded(
      "compute",
      [&](int i) {
        map.compute(i % 100, [](const int* v) { return std::optional<int>(v ? *v + 1 : 0); });
      },
      kOps);
  ExpectBacklogBounded(
      "erase(key)",
      [&](int i) {
        map.insert({1000 + i, i});
        map.erase(1000 + i);
      },
      kOps);
}

// --- Bug 4 ----------------------------------------------------------------------

// Runs `op` on a fresh thread (whose retire buffer is not yet allocated),
// inside a read-side section, with the thread's n-th and every later
// allocation failing, for every n until the call makes no allocation that
// fails. Each time the map
// must be either changed as `changed` says (the call returned) or unchanged
// (it threw std::bad_alloc), and nothing may leak.
void SweepInsideSection(const char* what, const std::function<void(HashMap<int, Counted>&)>& op,
                        const std::function<bool(HashMap<int, Counted>&)>& changed) {
  SCOPED_TRACE(what);
  for (long n = 1; n < 100; ++n) {
    bool injected = false;
    {
      HashMap<int, Counted> map;
      for (int i = 0; i < 10; ++i) map.try_emplace(i, i);
      std::thread thread([&] {
        rcu::ReadGuard guard;  // registers the thread before failures start
        bool threw = false;
        rcu_test::FailNthAllocation(n, /*and_later=*/true);
        try {
          op(map);
        } catch (const std::bad_alloc&) {
          threw = true;
        }
        injected = rcu_test::InjectedFailureHappened();
        rcu_test::FailNthAllocation(0);
        if (threw) {
          EXPECT_EQ(map.size(), 10u) << "n=" << n << ": threw after changing the map";
          for (int i = 0; i < 10; ++i) EXPECT_EQ(map.get(i)->value, i) << "n=" << n;
        } else {
          EXPECT_TRUE(changed(map)) << "n=" << n;
        }
      });
      thread.join();
    }
    rcu::Barrier();
    EXPECT_EQ(Counted::live.load(), 0) << "n=" << n << ": entries leaked";
    if (!injected) return;
  }
  ADD_FAILURE() << "still allocating after 100 allocations";
}

TEST(HashMapRegressionTest, WritesInsideSectionsKeepTheStrongGuaranteeWhenAllocationFails) {
  SweepInsideSection(
      "erase", [](auto& m) { m.erase(3); },
      [](auto& m) { return m.size() == 9 && !m.contains(3); });
  SweepInsideSection(
      "update", [](auto& m) { m.update(3, [](const Counted&) { return Counted(33); }); },
      [](auto& m) { return m.size() == 10 && m.get(3)->value == 33; });
  SweepInsideSection(
      "compute(erase)",
      [](auto& m) { m.compute(3, [](const Counted*) { return std::optional<Counted>(); }); },
      [](auto& m) { return m.size() == 9 && !m.contains(3); });
  SweepInsideSection(
      "insert_or_assign", [](auto& m) { m.insert_or_assign(3, Counted(33)); },
      [](auto& m) { return m.size() == 10 && m.get(3)->value == 33; });
}

// --- Bug 5 ----------------------------------------------------------------------

TEST(HashMapRegressionTest, EraseIfWithAThrowingPredicateLeaksNothing) {
  {
    HashMap<int, Counted> map;
    for (int i = 0; i < 1000; ++i) map.try_emplace(i, i);
    int calls = 0;
    EXPECT_THROW(map.erase_if([&](const auto&) {
      if (++calls == 40) throw std::runtime_error("predicate refused");
      return true;
    }),
                 std::runtime_error);
    EXPECT_EQ(map.size(), 1000u - 39u);  // the 39 before the throw are gone
    rcu::Barrier();
    EXPECT_EQ(Counted::live.load(), static_cast<long>(map.size()));
  }
  rcu::Barrier();
  EXPECT_EQ(Counted::live.load(), 0);
}

TEST(HashMapRegressionTest, EraseIfUnderAllocationFailureLeaksNothing) {
  for (long n = 1; n < 200; ++n) {
    bool injected;
    {
      HashMap<int, Counted> map;
      for (int i = 0; i < 1000; ++i) map.try_emplace(i, i);
      rcu_test::FailNthAllocation(n);
      try {
        map.erase_if([](const auto& kv) { return kv.first % 2 == 0; });
      } catch (const std::bad_alloc&) {
      }
      injected = rcu_test::InjectedFailureHappened();
      rcu_test::FailNthAllocation(0);
      rcu::Barrier();
      EXPECT_EQ(Counted::live.load(), static_cast<long>(map.size())) << "n=" << n;
    }
    rcu::Barrier();
    ASSERT_EQ(Counted::live.load(), 0) << "n=" << n;
    if (!injected) return;
  }
}

// --- Bug 6 ----------------------------------------------------------------------

TEST(HashMapRegressionTest, ClearUnderAllocationFailureIsAllOrNothingAndLeaksNothing) {
  for (long n = 1; n < 100; ++n) {
    bool injected;
    {
      HashMap<int, Counted> map;
      for (int i = 0; i < 100; ++i) map.try_emplace(i, i);
      bool threw = false;
      rcu_test::FailNthAllocation(n);
      try {
        map.clear();
      } catch (const std::bad_alloc&) {
        threw = true;
      }
      injected = rcu_test::InjectedFailureHappened();
      rcu_test::FailNthAllocation(0);
      EXPECT_EQ(map.size(), threw ? 100u : 0u) << "n=" << n;
      rcu::Barrier();
      EXPECT_EQ(Counted::live.load(), static_cast<long>(map.size())) << "n=" << n;
    }
    rcu::Barrier();
    ASSERT_EQ(Counted::live.load(), 0) << "n=" << n;
    if (!injected) return;
  }
}

TEST(HashMapRegressionTest, DestructorUnderAllocationFailureFreesEverything) {
  auto* map = new HashMap<int, Counted>;
  for (int i = 0; i < 100; ++i) map->try_emplace(i, i);
  rcu_test::FailNthAllocation(1, /*and_later=*/true);  // nothing can be allocated
  delete map;
  rcu_test::FailNthAllocation(0);
  rcu::Barrier();
  EXPECT_EQ(Counted::live.load(), 0);
}

// --- Bug 8 ----------------------------------------------------------------------

TEST(HashMapRegressionTest, FindThatMissesHoldsNoReadSection) {
  HashMap<int, int> map;
  map.insert({1, 1});
  ASSERT_FALSE(rcu::InReadSection());
  auto it = map.find(2);
  EXPECT_EQ(it, map.end());
  EXPECT_FALSE(rcu::InReadSection()) << "end() from find(key) holds a read-side section";
}

TEST(HashMapRegressionTest, ReserveAfterAMissWhileAResizeGracePeriodIsPending) {
  HashMap<int, int> map;
  for (int i = 0; i < 100; ++i) map.insert({i, i});
  rcu::Synchronize();  // the grace periods of the growth so far are over
  std::atomic<bool> reserving{false};
  std::atomic<bool> reader_may_leave{false};
  std::atomic<bool> reader_inside{false};
  // A reader whose section spans the resize below, so that its grace period
  // stays pending until the reader leaves. It leaves only once this thread
  // is about to reserve, and a grace period is waiting for it.
  std::thread reader([&] {
    rcu::ReadGuard guard;
    reader_inside.store(true);
    while (!reader_may_leave.load()) std::this_thread::yield();
  });
  while (!reader_inside.load()) std::this_thread::yield();
  map.rehash(1024);  // the resize; its grace period waits for the reader
  std::thread releaser([&] {
    while (!reserving.load()) std::this_thread::yield();
    reader_may_leave.store(true);
  });
  {
    auto it = map.find(5000);  // the idiom: reserve when the key is absent
    reserving.store(true);
    if (it == map.end()) map.reserve(100000);  // must not abort
  }
  releaser.join();
  reader.join();
  EXPECT_GE(map.bucket_count(), 100000u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(map.get(i), i);
}

TEST(HashMapRegressionTest, ReserveUnderAnInsertResultDefersInsteadOfAborting) {
  HashMap<int, int> map;
  for (int i = 0; i < 100; ++i) map.insert({i, i});
  rcu::Synchronize();  // the grace periods of the growth so far are over
  auto reader = std::make_unique<rcu_test::ParkedReader>();
  map.rehash(1024);  // its grace period waits for the parked reader
  {
    auto result = map.insert({7, 7});  // the result holds a read-side section
    ASSERT_TRUE(rcu::InReadSection());
    map.reserve(100000);  // cannot wait here: must not abort
    map.rehash(200000);
  }
  reader.reset();           // the grace period can end now
  rcu::Synchronize();       // and has, once a later one has
  map.insert({100000, 0});  // a write outside any section resizes as asked
  EXPECT_GE(map.bucket_count(), 200000u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(map.get(i), i);
}

}  // namespace
