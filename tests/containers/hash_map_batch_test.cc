// rcu::HashMap's batched lookups (find_many, get_many): differential against
// single lookups, quiescent and beside writers and resize storms.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/types/span.h"
#include "containers/hash_map.h"
#include "gtest/gtest.h"
#include "rcu/read_guard.h"
#include "tests/containers/hash_map_test_util.h"

namespace {

using ::rcu_test::Churn;
using ::rcu_test::KnownHash;
using ::rcu_test::Tracked;

using IntMap = rcu::HashMap<int, int>;

// Sizes around the group boundaries (kBatchGroup keys per group), and a
// batch of many groups.
constexpr std::size_t kGroup = IntMap::kBatchGroup;
const std::size_t kBatchSizes[] = {
    1, 2, kGroup - 1, kGroup, kGroup + 1, 2 * kGroup, 2 * kGroup + 3, 100, 1000};

TEST(HashMapBatchTest, EmptyBatch) {
  IntMap never_written;
  IntMap map;
  for (int k = 0; k < 100; ++k) map.insert({k, k});
  for (const IntMap* m : {&never_written, &map}) {
    EXPECT_TRUE(m->get_many(absl::Span<const int>()).empty());
    m->get_many(absl::Span<const int>(), absl::Span<std::optional<int>>());
    rcu::ReadGuard guard;
    m->find_many(guard, absl::Span<const int>(), absl::Span<IntMap::const_pointer>());
  }
}

TEST(HashMapBatchTest, NeverWrittenMapFindsNothing) {
  IntMap map;
  const std::vector<int> keys = {0, 1, 2, 3, 0, -5};
  for (const std::optional<int>& got : map.get_many(keys)) EXPECT_FALSE(got.has_value());
  const IntMap::value_type sentinel{1, 1};
  rcu::ReadGuard guard;
  std::vector<IntMap::const_pointer> out(keys.size(), &sentinel);
  map.find_many(guard, keys, absl::MakeSpan(out));
  for (IntMap::const_pointer p : out) EXPECT_EQ(p, nullptr);
}

// Present, absent and duplicate keys, in batches of every size around the
// group boundaries, agree exactly with find() and get(); find_many returns
// the very entries find() does.
TEST(HashMapBatchTest, MatchesSingleLookups) {
  IntMap map;
  for (int k = 0; k < 5000; k += 2) map.insert({k, k * 3});
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> pick(-100, 5100);
  for (std::size_t n : kBatchSizes) {
    for (int round = 0; round < 20; ++round) {
      std::vector<int> keys(n);
      for (int& k : keys) k = pick(rng);
      if (n > 2) keys[n - 1] = keys[0];  // a duplicate
      SCOPED_TRACE(testing::Message() << "batch of " << n);
      rcu::ReadGuard guard;
      std::vector<IntMap::const_pointer> out(n);
      map.find_many(guard, keys, absl::MakeSpan(out));
      const std::vector<std::optional<int>> got = map.get_many(keys);
      std::vector<std::optional<int>> got_span(n, 12345);
      map.get_many(keys, absl::MakeSpan(got_span));
      for (std::size_t i = 0; i < n; ++i) {
        const auto it = map.find(guard, keys[i]);
        EXPECT_EQ(out[i], it == map.end() ? nullptr : &*it) << "key " << keys[i];
        EXPECT_EQ(got[i], map.get(keys[i])) << "key " << keys[i];
        EXPECT_EQ(got_span[i], map.get(keys[i])) << "key " << keys[i];
      }
    }
  }
}

// A larger `out` keeps its tail untouched.
TEST(HashMapBatchTest, WritesOnlyTheFirstResults) {
  IntMap map({{1, 10}, {2, 20}});
  const std::vector<int> keys = {2, 3};
  std::vector<std::optional<int>> out(4, 7);
  map.get_many(keys, absl::MakeSpan(out));
  EXPECT_EQ(out, (std::vector<std::optional<int>>{20, std::nullopt, 7, 7}));
}

// Heterogeneous keys: string_views and C strings against std::string keys,
// without temporaries.
TEST(HashMapBatchTest, HeterogeneousKeys) {
  rcu::HashMap<std::string, int> map;
  for (int k = 0; k < 300; ++k) map.insert({"key" + std::to_string(k), k});
  std::vector<std::string> storage;
  for (int k = -20; k < 320; k += 3) storage.push_back("key" + std::to_string(k));
  std::vector<std::string_view> views(storage.begin(), storage.end());
  std::vector<const char*> c_strings;
  for (const std::string& s : storage) c_strings.push_back(s.c_str());

  const auto by_view = map.get_many(absl::MakeConstSpan(views));
  const auto by_c_string = map.get_many(absl::MakeConstSpan(c_strings));
  const auto by_string = map.get_many(storage);
  rcu::ReadGuard guard;
  std::vector<rcu::HashMap<std::string, int>::const_pointer> out(views.size());
  map.find_many(guard, absl::MakeConstSpan(views), absl::MakeSpan(out));
  for (std::size_t i = 0; i < storage.size(); ++i) {
    const std::optional<int> want = map.get(storage[i]);
    EXPECT_EQ(by_view[i], want) << storage[i];
    EXPECT_EQ(by_c_string[i], want) << storage[i];
    EXPECT_EQ(by_string[i], want) << storage[i];
    ASSERT_EQ(out[i] != nullptr, want.has_value()) << storage[i];
    if (out[i] != nullptr) {
      EXPECT_EQ(out[i]->first, storage[i]);
    }
  }
}

// Beside a churner, a replacer and a resizer (rehash storms), and with the
// batch's own inserts and erases of filler keys forcing automatic resizes:
// keys present throughout are always found with their own intact value,
// keys never inserted never are, churned keys come back whole or not at
// all, and for the first two kinds a batch agrees with find() under the
// same guard.
using ChurnMap = rcu::HashMap<int, Tracked, KnownHash>;
constexpr int kStable = 2000;        // [0, kStable): present throughout
constexpr int kChurnFirst = 100000;  // [kChurnFirst, +kChurnCount): churned
constexpr int kChurnCount = 2000;
constexpr int kAbsentFirst = 200000;  // [kAbsentFirst, +kAbsentCount): never inserted
constexpr int kAbsentCount = 2000;
constexpr int kFillerFirst = 300000;  // inserted and erased by a grower thread

void CheckResult(int key, const ChurnMap::value_type* entry, bool single_found) {
  if (key < kStable) {
    ASSERT_NE(entry, nullptr) << "stable key " << key << " missed";
    EXPECT_TRUE(single_found) << "stable key " << key;
  } else if (key >= kAbsentFirst) {
    ASSERT_EQ(entry, nullptr) << "absent key " << key << " found";
    EXPECT_FALSE(single_found) << "absent key " << key;
    return;
  }
  if (entry == nullptr) return;
  ASSERT_EQ(entry->first, key) << "the entry of another key";
  ASSERT_TRUE(entry->second.intact()) << "key " << key << ": a freed value";
  EXPECT_EQ(entry->second.value, key < kStable ? key : -1) << "key " << key;
}

void CheckOptional(int key, const std::optional<Tracked>& got) {
  if (key < kStable) {
    ASSERT_TRUE(got.has_value()) << "stable key " << key << " missed (get_many)";
  } else if (key >= kAbsentFirst) {
    ASSERT_FALSE(got.has_value()) << "absent key " << key << " found (get_many)";
  }
  if (!got.has_value()) return;
  ASSERT_TRUE(got->intact());
  EXPECT_EQ(got->value, key < kStable ? key : -1) << "key " << key << " (get_many)";
}

int DrawKey(std::mt19937& rng) {
  switch (std::uniform_int_distribution<int>(0, 2)(rng)) {
    case 0:
      return std::uniform_int_distribution<int>(0, kStable - 1)(rng);
    case 1:
      return kChurnFirst + std::uniform_int_distribution<int>(0, kChurnCount - 1)(rng);
    default:
      return kAbsentFirst + std::uniform_int_distribution<int>(0, kAbsentCount - 1)(rng);
  }
}

TEST(HashMapBatchTest, BesideWritersAndResizes) {
  ChurnMap map;
  for (int k = 0; k < kStable; ++k) map.insert({k, Tracked(k)});
  std::atomic<bool> stop{false};
  std::atomic<long> grow_rounds{0};
  {
    Churn<ChurnMap> churn(map, kStable, kChurnFirst, kChurnCount);
    // Automatic growth and shrinking too, not only rehash().
    std::thread grower([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        for (int i = 0; i < 20000; ++i) map.try_emplace(kFillerFirst + i, -2);
        for (int i = 0; i < 20000; ++i) map.erase(kFillerFirst + i);
        grow_rounds.fetch_add(1);
      }
    });
    auto reader = [&](unsigned seed, long* batches) {
      std::mt19937 rng(seed);
      std::vector<int> keys;
      std::vector<ChurnMap::const_pointer> out;
      const long resizes_at_start = churn.resizes();
      const long grows_at_start = grow_rounds.load();
      // Until every writer has run several rounds while this reader looked
      // (at least 400 batches, at most a bound).
      for (long b = 0; b < 200000; ++b) {
        if (b >= 400 && churn.resizes() - resizes_at_start >= 20 &&
            grow_rounds.load() - grows_at_start >= 3) {
          break;
        }
        const std::size_t n = kBatchSizes[b % std::size(kBatchSizes)];
        keys.resize(n);
        for (int& k : keys) k = DrawKey(rng);
        if (n > 3) keys[n / 2] = keys[1];  // a duplicate
        out.assign(n, nullptr);
        {
          rcu::ReadGuard guard;
          map.find_many(guard, keys, absl::MakeSpan(out));
          for (std::size_t i = 0; i < n; ++i) {
            const bool single = map.find(guard, keys[i]) != map.end();
            CheckResult(keys[i], out[i], single);
            if (testing::Test::HasFatalFailure()) return;
          }
        }
        const std::vector<std::optional<Tracked>> got = map.get_many(keys);
        for (std::size_t i = 0; i < n; ++i) {
          CheckOptional(keys[i], got[i]);
          if (testing::Test::HasFatalFailure()) return;
        }
        ++*batches;
      }
    };
    long batches[2] = {0, 0};
    std::thread second(reader, 2u, &batches[1]);
    reader(1u, &batches[0]);
    second.join();
    stop.store(true);
    grower.join();
    EXPECT_GE(churn.resizes(), 20);
    std::printf("batches checked: %ld + %ld, rehash storms %ld, grow rounds %ld\n", batches[0],
                batches[1], churn.resizes(), grow_rounds.load());
  }
}

}  // namespace
