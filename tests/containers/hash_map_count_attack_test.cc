// Outside review of 1b1bcbf ("HashMap: the entry count lives in the
// stripes"): size() now sums 32 per-stripe counts, and the grow and shrink
// checks read only the key's stripe unless it holds its share of the
// threshold. These tests aim at what that can break: the load-factor bound
// when the stripes are uneven, shrinking when the keys left are in few
// stripes, size() as one value the map had, and size() exactness through
// every writer, container-wide operation and fork().
//
// Keys are picked by the stripe their hash falls in (the stripe is the low
// five bits of the mixed hash, containers/internal/hash_map_hash.h). The
// default absl::Hash is honest and avalanching; picking keys by hash bits is
// what a map does whose keys were sharded by the same hash (one map per
// shard), or what a hash-flooding input does.
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "containers/hash_map.h"
#include "gtest/gtest.h"
#include "rcu/grace_period.h"

namespace {

#if defined(__SANITIZE_THREAD__)
#define COUNT_ATTACK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define COUNT_ATTACK_TSAN 1
#endif
#endif

using Map = rcu::HashMap<std::uint64_t, std::uint64_t>;
constexpr std::size_t kStripes = 32;

// Hands out distinct keys by the stripe their hash falls in.
class KeysByStripe {
 public:
  explicit KeysByStripe(const Map& map) : hash_(map.hash_function()) {}

  static std::size_t StripeOf(const Map& map, std::uint64_t key) {
    return rcu::internal::MixedHash<Map::hasher>(map.hash_function()(key)) & (kStripes - 1);
  }

  std::uint64_t Take(std::size_t stripe) {
    while (queues_[stripe].empty()) {
      const std::uint64_t key = next_++;
      queues_[Stripe(key)].push_back(key);
    }
    const std::uint64_t key = queues_[stripe].front();
    queues_[stripe].pop_front();
    return key;
  }

 private:
  std::size_t Stripe(std::uint64_t key) const {
    return rcu::internal::MixedHash<Map::hasher>(hash_(key)) & (kStripes - 1);
  }

  Map::hasher hash_;
  std::uint64_t next_ = 1;
  std::deque<std::uint64_t> queues_[kStripes];
};

double Capacity(const Map& map) {
  return static_cast<double>(map.bucket_count()) * static_cast<double>(map.max_load_factor());
}

// An automatic resize is skipped while the grace period after the last one
// is pending; every write that checks retries it. After Synchronize() the
// next checking write can resize.

// The header: "Grows when size() would exceed this many entries per bucket".
// One stripe holds the map's entries (its inserts take the exact count and
// grow the map as needed); then every other stripe gets one entry short of
// its share of the capacity, which no insert there checks.
TEST(HashMapCountAttack, LoadFactorBoundHoldsWhenStripesAreUneven) {
  Map map;
  KeysByStripe keys(map);
  for (int i = 0; i < 1000; ++i) map.insert({keys.Take(1), 0});
  rcu::Synchronize();
  map.insert({keys.Take(1), 0});
  ASSERT_LE(static_cast<double>(map.size()), Capacity(map));
  const std::size_t share = map.bucket_count() / kStripes;  // 1024 / 32
  for (std::size_t s = 0; s < kStripes; ++s) {
    if (s == 1) continue;
    for (std::size_t i = 0; i + 1 < share; ++i) map.insert({keys.Take(s), 0});
  }
  rcu::Synchronize();             // no resize is held up any more
  map.insert({keys.Take(0), 0});  // stripe 0 now at its share
  map.insert({keys.Take(2), 0});
  EXPECT_LE(static_cast<double>(map.size()), Capacity(map))
      << "size " << map.size() << ", bucket_count " << map.bucket_count() << ", load factor "
      << map.load_factor() << " > max_load_factor " << map.max_load_factor();
}

// The header: "shrinks below an eighth of it" (and "8 to 64 bytes per entry"
// of bucket array). Every key in one stripe: the stripe's count is the whole
// count, and the stripe-local shrink check waits for it to fall below
// 1/256 of the capacity instead of 1/8.
TEST(HashMapCountAttack, ShrinksWhenAllKeysShareOneStripe) {
  Map map;
  KeysByStripe keys(map);
  std::vector<std::uint64_t> inserted;
  for (int i = 0; i < 4096; ++i) {
    inserted.push_back(keys.Take(5));
    map.insert({inserted.back(), 0});
  }
  rcu::Synchronize();
  map.insert({keys.Take(5), 0});  // growth caught up
  const std::size_t grown = map.bucket_count();
  ASSERT_GE(grown, 4096u);
  // Down to well under an eighth of the capacity.
  while (map.size() > 200) {
    map.erase(inserted.back());
    inserted.pop_back();
  }
  rcu::Synchronize();
  map.erase(inserted.back());  // a shrink held up by a grace period happens now
  inserted.pop_back();
  EXPECT_GE(static_cast<double>(map.size()) * 8, Capacity(map))
      << "size " << map.size() << ", bucket_count " << map.bucket_count() << " (grown to " << grown
      << "): " << (map.bucket_count() * 8.0 / static_cast<double>(map.size()))
      << " bytes of bucket array per entry";
}

// The same with an ordinary key set: erasing while iterating (the header's
// own idiom) walks the map in reversed-hash order, so stripe by stripe; the
// entries that stay are the last stripes'.
TEST(HashMapCountAttack, ShrinksAfterErasingInIterationOrder) {
  Map map;
  for (std::uint64_t k = 0; k < 65536; ++k) map.insert({k, k});
  rcu::Synchronize();
  for (auto it = map.begin(); it != map.end() && map.size() > 1000;) it = map.erase(it);
  rcu::Synchronize();
  map.erase(map.begin());  // a shrink held up by a grace period happens now
  EXPECT_GE(static_cast<double>(map.size()) * 8, Capacity(map))
      << "size " << map.size() << ", bucket_count " << map.bucket_count();
}

// Growth and shrinking with keys in one stripe: every operation ends with
// the map inside its load-factor band (after the grace period that a
// resize may wait for), and the bucket count does not oscillate.
TEST(HashMapCountAttack, NoResizeStormWithOneStripe) {
  Map map;
  KeysByStripe keys(map);
  std::deque<std::uint64_t> held;
  for (int i = 0; i < 2048; ++i) {
    held.push_back(keys.Take(9));
    map.insert({held.back(), 0});
  }
  rcu::Synchronize();
  map.insert({keys.Take(9), 0});
  const std::size_t buckets = map.bucket_count();
  // Churn around a steady size: one erase, one insert; must not resize.
  std::size_t changes = 0;
  std::size_t last = buckets;
  for (int i = 0; i < 20000; ++i) {
    map.erase(held.front());
    held.pop_front();
    held.push_back(keys.Take(9));
    map.insert({held.back(), 0});
    if (map.bucket_count() != last) {
      ++changes;
      last = map.bucket_count();
    }
  }
  EXPECT_EQ(changes, 0u);
  EXPECT_EQ(map.bucket_count(), buckets);
}

// --- size() exactness through every writer --------------------------------------------

void ExpectSameSize(const Map& map, const std::unordered_map<std::uint64_t, std::uint64_t>& model,
                    const char* after) {
  EXPECT_EQ(map.size(), model.size()) << "after " << after;
  EXPECT_EQ(map.empty(), model.empty()) << "after " << after;
  std::size_t walked = 0;
  for (const auto& entry : map) {
    (void)entry;
    ++walked;
  }
  EXPECT_EQ(walked, model.size()) << "after " << after;
  EXPECT_FLOAT_EQ(map.load_factor(),
                  static_cast<float>(model.size()) / static_cast<float>(map.bucket_count()))
      << "after " << after;
}

TEST(HashMapCountAttack, SizeIsExactThroughEveryWriter) {
  Map map;
  std::unordered_map<std::uint64_t, std::uint64_t> model;
  ExpectSameSize(map, model, "construction");
  for (std::uint64_t k = 0; k < 3000; ++k) {
    map.insert({k, k});
    model.insert({k, k});
  }
  ExpectSameSize(map, model, "insert");
  for (std::uint64_t k = 2000; k < 4000; ++k) {
    map.insert_or_assign(k, k + 1);
    model.insert_or_assign(k, k + 1);
    map.try_emplace(k + 10000, k);
    model.try_emplace(k + 10000, k);
    map.emplace(k, 7);  // present: no change
    model.emplace(k, 7);
  }
  ExpectSameSize(map, model, "insert_or_assign/try_emplace/emplace");
  for (std::uint64_t k = 0; k < 5000; ++k) {
    const rcu::ComputeResult r = map.compute(k, [&](const std::uint64_t* v) {
      if (k % 3 == 0) return std::optional<std::uint64_t>();  // erase or leave absent
      return std::optional<std::uint64_t>(v == nullptr ? 1 : *v + 1);
    });
    (void)r;
    if (k % 3 == 0) {
      model.erase(k);
    } else {
      model[k] = model.count(k) ? model[k] + 1 : 1;
    }
    map.update(k + 10000, [](const std::uint64_t& v) { return v + 1; });
  }
  ExpectSameSize(map, model, "compute/update");
  for (std::uint64_t k = 0; k < 14000; k += 5) {
    EXPECT_EQ(map.erase(k), model.erase(k));
  }
  ExpectSameSize(map, model, "erase(key)");
  for (auto it = map.begin(); it != map.end();) {
    if (it->first % 7 == 0) {
      model.erase(it->first);
      it = map.erase(it);
    } else {
      ++it;
    }
  }
  ExpectSameSize(map, model, "erase(iterator)");
  std::size_t model_removed = 0;
  for (auto it = model.begin(); it != model.end();) {
    if (it->first % 11 == 0) {
      it = model.erase(it);
      ++model_removed;
    } else {
      ++it;
    }
  }
  EXPECT_EQ(map.erase_if([](const std::pair<const std::uint64_t, std::uint64_t>& e) {
    return e.first % 11 == 0;
  }),
            model_removed);
  ExpectSameSize(map, model, "erase_if");
  {
    auto first = map.begin();
    auto last = first;
    for (int i = 0; i < 100 && last != map.end(); ++i) {
      model.erase(last->first);
      ++last;
    }
    map.erase(first, last);
  }
  ExpectSameSize(map, model, "erase(range)");

  Map copy(map);
  ExpectSameSize(copy, model, "copy construction");
  Map assigned;
  assigned.insert({99999, 1});
  assigned = copy;
  ExpectSameSize(assigned, model, "copy assignment");

  Map other;
  std::unordered_map<std::uint64_t, std::uint64_t> other_model;
  for (std::uint64_t k = 100000; k < 100500; ++k) {
    other.insert({k, k});
    other_model.insert({k, k});
  }
  for (std::uint64_t k = 0; k < 300; ++k) {  // some overlap with map
    other.insert({k, 0});
    other_model.insert({k, 0});
  }
  Map merged(map);
  auto merged_model = model;
  merged.merge(other);
  for (auto it = other_model.begin(); it != other_model.end();) {
    if (merged_model.insert(*it).second) {
      it = other_model.erase(it);
    } else {
      ++it;
    }
  }
  ExpectSameSize(merged, merged_model, "merge (target)");
  ExpectSameSize(other, other_model, "merge (source)");

  merged.swap(other);
  ExpectSameSize(merged, other_model, "swap (a)");
  ExpectSameSize(other, merged_model, "swap (b)");

  Map moved(std::move(other));
  ExpectSameSize(moved, merged_model, "move construction (target)");
  ExpectSameSize(other, {}, "move construction (source)");  // NOLINT(bugprone-use-after-move)
  other.insert({1, 1});
  EXPECT_EQ(other.size(), 1u);
  Map move_assigned;
  move_assigned.insert({5, 5});
  move_assigned = std::move(moved);
  ExpectSameSize(move_assigned, merged_model, "move assignment (target)");
  ExpectSameSize(moved, {}, "move assignment (source)");  // NOLINT(bugprone-use-after-move)

  move_assigned.clear();
  ExpectSameSize(move_assigned, {}, "clear");
  move_assigned.insert({3, 3});
  EXPECT_EQ(move_assigned.size(), 1u);

  map.rehash(0);
  ExpectSameSize(map, model, "rehash");
  map.reserve(100000);
  ExpectSameSize(map, model, "reserve");
}

// fork(): the child's map has the parent's count, and counts its own writes.
TEST(HashMapCountAttack, SizeInForkChild) {
#ifdef COUNT_ATTACK_TSAN
  GTEST_SKIP() << "TSan cannot start threads after a multi-threaded fork (see no_tsan tags)";
#endif
  Map map;
  for (std::uint64_t k = 0; k < 5000; ++k) map.insert({k, k});
  for (std::uint64_t k = 0; k < 5000; k += 2) map.erase(k);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int bad = 0;
    if (map.size() != 2500) bad |= 1;
    for (std::uint64_t k = 0; k < 5000; k += 2) map.insert({k, k});
    if (map.size() != 5000) bad |= 2;
    map.clear();
    if (map.size() != 0 || !map.empty()) bad |= 4;
    _exit(bad);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(map.size(), 2500u);
}

// --- size() while writers run ----------------------------------------------------------

// Writers insert and erase disjoint keys in every stripe while readers take
// size() and clear() runs: TSan must see no race, and the counts must be
// exact once every writer has returned.
TEST(HashMapCountAttack, SizeWhileWritersAndClearRun) {
  Map map;
  constexpr int kWriters = 2;
  constexpr std::uint64_t kKeys = 4000;
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> observed_max{0};
  std::thread reader([&] {
    while (!stop.load(std::memory_order_acquire)) {
      const std::size_t s = map.size();
      (void)map.empty();
      (void)map.load_factor();
      if (s > observed_max.load(std::memory_order_relaxed)) {
        observed_max.store(s, std::memory_order_relaxed);
      }
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int round = 0; round < 3; ++round) {
        for (std::uint64_t k = 0; k < kKeys; ++k) map.insert({k * kWriters + w, k});
        for (std::uint64_t k = 0; k < kKeys; k += 2) map.erase(k * kWriters + w);
        for (std::uint64_t k = 0; k < kKeys; k += 2) map.insert({k * kWriters + w, k});
      }
    });
  }
  for (std::thread& t : writers) t.join();
  EXPECT_EQ(map.size(), kWriters * kKeys);
  std::thread clearer([&] { map.clear(); });
  std::thread writer([&] {
    for (std::uint64_t k = 0; k < 1000; ++k) map.insert({1000000 + k, k});
  });
  clearer.join();
  writer.join();
  stop.store(true, std::memory_order_release);
  reader.join();
  std::size_t walked = 0;
  for (const auto& e : map) {
    (void)e;
    ++walked;
  }
  EXPECT_EQ(map.size(), walked);
  EXPECT_LE(observed_max.load(), kWriters * kKeys + 1000);
}

// --- size() as a value the map had -----------------------------------------------------
//
// The map always holds one or two entries: the writer inserts the new key
// before it erases the old one, moving an entry between stripes 0 and 31.
// One shared counter never reads 0 then; a sum of the stripes taken one
// after another reads stripe 0 before the insert and stripe 31 after the
// erase, and says the map is empty. The reader is stopped inside size() by
// a signal whose handler waits for the writer's move, so that the window,
// otherwise a few nanoseconds, is hit every time the signal lands between
// the two loads.
std::atomic<int> g_handler_phase{0};  // 1: in the handler; 2: may return; 3: returned

void WaitingHandler(int) {
  g_handler_phase.store(1, std::memory_order_seq_cst);
  while (g_handler_phase.load(std::memory_order_seq_cst) != 2) {
  }
  g_handler_phase.store(3, std::memory_order_seq_cst);
}

TEST(HashMapCountAttack, EmptyIsNeverTrueForAMapThatAlwaysHoldsAnEntry) {
#ifdef COUNT_ATTACK_TSAN
  GTEST_SKIP() << "TSan defers asynchronous signals past the window";
#endif
  Map map;
  KeysByStripe keys(map);
  const std::uint64_t a = keys.Take(0);
  const std::uint64_t b = keys.Take(kStripes - 1);
  map.insert({b, 0});
  struct sigaction action = {};
  action.sa_handler = WaitingHandler;
  sigemptyset(&action.sa_mask);
  struct sigaction previous = {};
  ASSERT_EQ(sigaction(SIGUSR1, &action, &previous), 0);

  std::atomic<bool> stop{false};
  std::atomic<bool> running{false};
  std::atomic<int> saw_empty{0};
  std::thread reader([&] {
    running.store(true);
    while (!stop.load(std::memory_order_relaxed)) {
      if (map.empty()) saw_empty.fetch_add(1, std::memory_order_relaxed);
    }
  });
  while (!running.load()) {
  }
  constexpr int kRounds = 2000;
  for (int round = 0; round < kRounds && saw_empty.load() == 0; ++round) {
    g_handler_phase.store(0);
    ASSERT_EQ(pthread_kill(reader.native_handle(), SIGUSR1), 0);
    while (g_handler_phase.load() != 1) {
    }
    // {b} -> {a, b} -> {a}: never empty.
    map.insert({a, 0});
    map.erase(b);
    g_handler_phase.store(2);
    while (g_handler_phase.load() != 3) {
    }
    // Back, also never empty: {a} -> {a, b} -> {b}.
    map.insert({b, 0});
    map.erase(a);
  }
  stop.store(true);
  reader.join();
  sigaction(SIGUSR1, &previous, nullptr);
  EXPECT_EQ(saw_empty.load(), 0) << "empty() returned true for a map that held an entry at "
                                    "every moment of the test";
}

}  // namespace
