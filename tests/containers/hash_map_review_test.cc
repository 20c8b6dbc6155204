// Regression tests for the rcu::HashMap bugs that the outside review of
// issue 10 found (review/REPORT.md of that review), one or more per bug,
// deterministic where the bug allows:
//   3. Resize() read a bucket array that a concurrent clear() had freed.
//   4. A plain insert()/erase() could wait for a grace period (automatic
//      resize), deadlocking under a lock that a reader waits for.
//   5. Writes inside a user's ReadGuard escaped backpressure for good.
//   6. clear() counted as one callback however many entries it freed.
//   9. Filling a map from another map's iterators made no resize at all.
//  10. erase(equal_range(k)) erased keys other than k.
//  11. A stateful allocator's resource was used after the map's destructor.
//  12. After fork(), the child's writes hung on stripe locks.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory_resource>
#include <mutex>
#include <set>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "containers/hash_map.h"
#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/grace_period.h"
#include "rcu/read_guard.h"
#include "rcu/stats.h"
#include "tests/util/backlog_probe.h"
#include "tests/containers/hash_map_test_util.h"
#include "tests/util/test_util.h"

namespace {

using rcu_test::KnownHash;
using KnownMap = rcu::HashMap<int, int, KnownHash>;

std::uint64_t BucketPosition(int key, std::size_t buckets) {
  return rcu::internal::ReverseBits(KnownHash()(key) & (buckets - 1));
}

std::set<int> Keys(const KnownMap& m) {
  std::set<int> keys;
  for (const auto& kv : m) keys.insert(kv.first);
  return keys;
}

// A key of `m` whose successor in iteration order lies in a later bucket
// that is not the next one; -1 if none.
int KeyWithSuccessorInLaterBucket(const KnownMap& m, int* successor) {
  std::vector<int> order;
  for (const auto& kv : m) order.push_back(kv.first);
  for (std::size_t i = 0; i + 1 < order.size(); ++i) {
    if (BucketPosition(order[i], m.bucket_count()) + 1 <
        BucketPosition(order[i + 1], m.bucket_count())) {
      *successor = order[i + 1];
      return order[i];
    }
  }
  return -1;
}

KnownMap TenKeys() {
  KnownMap m;
  for (int k = 0; k < 10; ++k) m.insert({k, k});
  return m;
}

// --- 10: erase(equal_range(k)) ---------------------------------------------------

// Another writer inserts, between equal_range() and erase(), a key that lies
// between k and k's successor in iteration order.
TEST(HashMapReviewTest, EraseOfEqualRangeSparesAKeyInsertedAfterIt) {
  KnownMap m = TenKeys();
  int s = -1;
  const int k = KeyWithSuccessorInLaterBucket(m, &s);
  ASSERT_GE(k, 0);
  int j = 1000;
  while (!(BucketPosition(j, m.bucket_count()) > BucketPosition(k, m.bucket_count()) &&
           BucketPosition(j, m.bucket_count()) < BucketPosition(s, m.bucket_count()))) {
    ++j;
  }
  auto [first, last] = m.equal_range(k);
  m.insert({j, j});
  m.erase(std::move(first), std::move(last));
  const std::set<int> keys = Keys(m);
  std::printf("erase(equal_range(%d)) erased %d: %s; erased key %d inserted meanwhile: %s\n", k, k,
              keys.count(k) ? "no" : "yes", j, keys.count(j) ? "no" : "yes");
  EXPECT_EQ(keys.count(k), 0u);
  EXPECT_EQ(keys.count(j), 1u);
  EXPECT_EQ(keys.size(), 10u);
}

// The same when k is the last key in iteration order (the range's end is
// end()), and a key is inserted after it.
TEST(HashMapReviewTest, EraseOfEqualRangeEndingAtEndSparesALaterKey) {
  KnownMap m = TenKeys();
  int k = -1;
  for (const auto& kv : m) k = kv.first;  // the last in iteration order
  int j = 1000;
  while (BucketPosition(j, m.bucket_count()) <= BucketPosition(k, m.bucket_count())) ++j;
  auto [first, last] = m.equal_range(k);
  ASSERT_TRUE(last == m.end());
  m.insert({j, j});
  m.erase(std::move(first), std::move(last));
  const std::set<int> keys = Keys(m);
  EXPECT_EQ(keys.count(k), 0u);
  EXPECT_EQ(keys.count(j), 1u) << "erase(equal_range(" << k << ")) erased " << j;
}

// Another writer replaces k's successor (the range's `last`) meanwhile.
TEST(HashMapReviewTest, EraseOfEqualRangeSparesTheReplacedSuccessor) {
  KnownMap m = TenKeys();
  int s = -1;
  const int k = KeyWithSuccessorInLaterBucket(m, &s);
  ASSERT_GE(k, 0);
  auto [first, last] = m.equal_range(k);
  ASSERT_EQ(last->first, s);
  m.insert_or_assign(s, 777);
  m.erase(std::move(first), std::move(last));
  const std::set<int> keys = Keys(m);
  std::printf("after erase(equal_range(%d)) with %d replaced: %zu keys left (9 expected)\n", k, s,
              keys.size());
  EXPECT_EQ(keys.count(k), 0u);
  EXPECT_EQ(keys.size(), 9u);
  EXPECT_EQ(m.get(s), 777);
}

// The general form: erase(first, last) where `last` is replaced meanwhile
// stops at the replacement (the same key), not at the end of its bucket.
TEST(HashMapReviewTest, EraseRangeStopsAtTheReplacementOfLast) {
  KnownMap m;
  for (int k = 0; k < 200; ++k) m.insert({k, k});
  std::vector<int> order;
  for (const auto& kv : m) order.push_back(kv.first);
  auto last = m.find(order[100]);
  m.insert_or_assign(order[100], -1);
  m.erase(m.find(order[0]), std::move(last));
  for (std::size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(m.contains(order[i]), i >= 100) << i;
  }
}

// --- 3: Resize() read an array that a concurrent clear() had freed ---------------

KnownMap* clear_in_resize = nullptr;
std::thread barrier_thread;
std::atomic<bool> barrier_done{false};

// A clear() made at the worst moment for a resize: after it has loaded the
// bucket array, before it reads it. The clear retires the array, and a
// Barrier() (on another thread) frees it as soon as no read-side section
// holds it up. A resize that reads the array outside a section finds it
// freed (AddressSanitizer: heap-use-after-free); one that reads it inside a
// section holds the free off until it is done.
TEST(HashMapReviewTest, ResizeBesideAClearReadsNoFreedArray) {
  KnownMap m;
  for (int k = 0; k < 100; ++k) m.insert({k, k});
  clear_in_resize = &m;
  rcu::internal::hash_map_resize_hook_for_testing = [] {
    KnownMap* map = std::exchange(clear_in_resize, nullptr);
    if (map == nullptr) return;
    map->clear();
    barrier_thread = std::thread([] {
      rcu::Barrier();
      barrier_done.store(true);
    });
    // The free can happen now only if this thread is outside every section.
    if (!rcu::InReadSection()) {
      while (!barrier_done.load()) std::this_thread::yield();
    }
  };
  m.reserve(10000);
  rcu::internal::hash_map_resize_hook_for_testing = nullptr;
  ASSERT_EQ(clear_in_resize, nullptr) << "the hook did not run";
  barrier_thread.join();
  EXPECT_TRUE(m.empty());
  EXPECT_GE(m.bucket_count(), 10000u);
  for (int k = 0; k < 100; ++k) m.insert({k, -k});
  for (int k = 0; k < 100; ++k) EXPECT_EQ(m.get(k), -k);
}

// --- 4: plain writers waited for grace periods -----------------------------------

// A writer holds its own lock and writes enough to resize several times; a
// reader waits for that lock inside its read-side section, so no grace
// period can end meanwhile. A writer that waits for one (the old automatic
// resize did) deadlocks; the HangGuard turns that into a failure.
TEST(HashMapReviewTest, PlainWritersNeverWaitForAGracePeriod) {
  rcu_test::HangGuard hang(std::chrono::seconds(30),
                           "writing under a lock that a reader waits for");
  rcu::HashMap<int, int> map;
  std::mutex user_mu;
  std::unique_lock<std::mutex> held(user_mu);
  std::atomic<bool> in_section{false};
  std::thread reader([&] {
    rcu::ReadGuard guard;
    in_section.store(true);
    std::lock_guard<std::mutex> lock(user_mu);  // inside the section
  });
  while (!in_section.load()) std::this_thread::yield();
  for (int i = 0; i < 5000; ++i) map.insert({i, i});  // grows
  for (int i = 0; i < 4990; ++i) map.erase(i);        // shrinks
  const std::size_t buckets_while_held = map.bucket_count();
  held.unlock();
  reader.join();
  EXPECT_EQ(map.size(), 10u);
  // A resize left for later is made by a write once the grace period has
  // passed.
  rcu::Synchronize();
  map.erase(4990);
  std::printf("5000 inserts and 4990 erases under the lock: %zu buckets meanwhile, %zu after\n",
              buckets_while_held, map.bucket_count());
  EXPECT_LE(map.bucket_count(), 64u);
  for (int i = 4991; i < 5000; ++i) EXPECT_EQ(map.get(i), i);
}

// --- 5: writes inside a user's ReadGuard escaped backpressure --------------------

using rcu_test::kProbeBound;
using rcu_test::kProbeLimit;
using rcu_test::kProbeOps;

TEST(HashMapReviewTest, InsertOrAssignInsideAReadGuardIsHeldToTheLimit) {
  rcu::HashMap<int, int> map;
  for (int i = 0; i < 100; ++i) map.insert({i, i});
  const std::uint64_t peak = rcu_test::PeakUnderStalledReader(kProbeLimit, kProbeOps, [&](int i) {
    rcu::ReadGuard guard;
    map.insert_or_assign(i % 100, i);
  });
  std::printf("{ReadGuard; insert_or_assign}: peak backlog %llu (limit %zu, %d ops)\n",
              static_cast<unsigned long long>(peak), kProbeLimit, kProbeOps);
  EXPECT_LE(peak, kProbeBound);
}

TEST(HashMapReviewTest, EraseInsideAReadGuardIsHeldToTheLimit) {
  rcu::HashMap<int, int> map;
  const std::uint64_t peak = rcu_test::PeakUnderStalledReader(kProbeLimit, kProbeOps, [&](int i) {
    rcu::ReadGuard guard;
    map.insert({i, i});
    map.erase(i);
  });
  std::printf("{ReadGuard; insert; erase}: peak backlog %llu\n",
              static_cast<unsigned long long>(peak));
  EXPECT_LE(peak, kProbeBound);
}

TEST(HashMapReviewTest, UpdateAfterALookupInsideAReadGuardIsHeldToTheLimit) {
  rcu::HashMap<int, int> map;
  for (int i = 0; i < 100; ++i) map.insert({i, i});
  const std::uint64_t peak = rcu_test::PeakUnderStalledReader(kProbeLimit, kProbeOps, [&](int i) {
    rcu::ReadGuard guard;
    if (map.find(guard, i % 100) != map.end()) map.update(i % 100, [](int v) { return v + 1; });
  });
  std::printf("{ReadGuard; find(guard, k); update(k)}: peak backlog %llu\n",
              static_cast<unsigned long long>(peak));
  EXPECT_LE(peak, kProbeBound);
}

// --- 6: clear() counted as one callback --------------------------------------------

// A refresh loop (refill, clear) beside a stalled reader: the entries that
// wait to be freed are bounded by the limit, not by limit x map size.
TEST(HashMapReviewTest, ClearStormIsBoundedByEntries) {
  constexpr int kEntries = 1000;
  rcu::HashMap<int, rcu_test::LiveCounted> map;
  map.reserve(kEntries);
  const std::uint64_t peak = rcu_test::PeakUnderStalledReader(
      kProbeLimit, 400,
      [&](int) {
        for (int i = 0; i < kEntries; ++i) map.try_emplace(i);
        map.clear();
      },
      &rcu_test::LiveCounted::Live);
  std::printf("refresh loop of %d entries: peak %llu entries alive (limit %zu)\n", kEntries,
              static_cast<unsigned long long>(peak), kProbeLimit);
  EXPECT_LE(peak, 2 * kProbeLimit + kEntries);
}

// --- 9: filling a map from another map's iterators -------------------------------

// The destination has just resized, so its next resize needs a grace period
// that the source iterator's section used to hold up for the whole fill
// (no presize, no growth: load factor in the thousands). The iterator now
// renews its section between buckets, so the presize happens during the
// fill (as soon as a grace period passes: the resize hurries one along).
TEST(HashMapReviewTest, InsertFromAnotherMapsIteratorsPresizes) {
  constexpr int kEntries = 100000;
  rcu::HashMap<int, int> source;
  source.reserve(kEntries);
  for (int i = 0; i < kEntries; ++i) source.insert({i, i});
  rcu::HashMap<int, int> dest;
  dest.insert({-1, -1});
  dest.rehash(64);  // a resize just now: the next one needs a grace period
  dest.insert(source.begin(), source.end());
  std::printf("insert(other.begin(), other.end()) of %d: %zu buckets, load factor %.2f\n", kEntries,
              dest.bucket_count(), static_cast<double>(dest.load_factor()));
  EXPECT_EQ(dest.size(), static_cast<std::size_t>(kEntries) + 1);
  EXPECT_LE(dest.load_factor(), dest.max_load_factor());
  EXPECT_FALSE(rcu::InReadSection());
  // merge() iterates its source the same way.
  rcu::HashMap<int, int> merged;
  merged.insert({-1, -1});
  merged.rehash(64);
  merged.merge(dest);
  EXPECT_EQ(merged.size(), static_cast<std::size_t>(kEntries) + 1);
  EXPECT_LE(merged.load_factor(), merged.max_load_factor());
  EXPECT_EQ(dest.size(), 1u);  // -1 was present in both
}

// --- 11: a stateful allocator's resource and the map's destructor ----------------

// Counts what is outstanding, so that a test can tell whether everything
// allocated through it was returned by a given moment.
class CountingResource : public std::pmr::memory_resource {
 public:
  long outstanding() const { return outstanding_.load(); }

 private:
  void* do_allocate(std::size_t bytes, std::size_t align) override {
    outstanding_.fetch_add(1);
    return std::pmr::new_delete_resource()->allocate(bytes, align);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t align) override {
    outstanding_.fetch_sub(1);
    std::pmr::new_delete_resource()->deallocate(p, bytes, align);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }
  std::atomic<long> outstanding_{0};
};

using PmrMap = rcu::HashMap<int, int, std::hash<int>, std::equal_to<int>,
                            std::pmr::polymorphic_allocator<std::pair<const int, int>>>;

// The map's destructor returns only once every entry it allocated (and
// every one it erased or replaced earlier) has gone back to the resource,
// so the resource may be destroyed right after the map.
TEST(HashMapReviewTest, DestructorWithAStatefulAllocatorReturnsEverything) {
  CountingResource resource;
  {
    PmrMap map(&resource);
    for (int i = 0; i < 1000; ++i) map.insert({i, i});
    for (int i = 0; i < 100; ++i) map.erase(i);
    for (int i = 100; i < 200; ++i) map.insert_or_assign(i, -i);
    map.clear();
    for (int i = 0; i < 100; ++i) map.insert({i, i});
  }
  std::printf("entries outstanding in the resource after the map's destructor: %ld\n",
              resource.outstanding());
  EXPECT_EQ(resource.outstanding(), 0);
}

// Under AddressSanitizer: the pool is destroyed right after the map; the
// callback thread must not free into it afterwards.
TEST(HashMapReviewTest, PoolResourceMayGoRightAfterTheMap) {
  auto pool = std::make_unique<std::pmr::unsynchronized_pool_resource>();
  {
    PmrMap map(pool.get());
    for (int i = 0; i < 1000; ++i) map.insert({i, i});
    for (int i = 0; i < 500; ++i) map.erase(i);
  }
  pool.reset();
  rcu::Barrier();  // any free left behind would touch the released pool now
  SUCCEED();
}

// Inside a read-side section the destructor cannot wait: it returns, and the
// entries are freed later (the header tells the user to call rcu::Barrier()
// before releasing the resource then).
TEST(HashMapReviewTest, DestructorInsideAReadGuardDoesNotWait) {
  CountingResource resource;
  {
    rcu::ReadGuard guard;
    PmrMap map(&resource);
    for (int i = 0; i < 100; ++i) map.insert({i, i});
  }
  rcu::Barrier();
  EXPECT_EQ(resource.outstanding(), 0);
}

}  // namespace
