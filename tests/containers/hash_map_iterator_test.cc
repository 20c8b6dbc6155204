// rcu::HashMap iterators, obtained every way the map offers, across resizes
// and beside concurrent writers: every key present throughout an iteration
// is visited exactly once, no key twice, and an iteration that starts at an
// entry never goes back before it. Also: the iterator's category and the
// standard algorithms that accept it, and the read-side section it owns.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <iterator>
#include <list>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "containers/hash_map.h"
#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/grace_period.h"
#include "rcu/read_guard.h"
#include "tests/containers/hash_map_test_util.h"

namespace {

using ::rcu_test::Churn;
using ::rcu_test::KnownHash;
using ::rcu_test::RangeOf;
using ::rcu_test::Tracked;
using Map = rcu::HashMap<int, Tracked, KnownHash>;
using Iterator = Map::const_iterator;

static_assert(
    std::is_same_v<std::iterator_traits<Iterator>::iterator_category, std::input_iterator_tag>,
    "one weakly consistent pass: not a forward iterator");
static_assert(std::is_same_v<Map::iterator, Map::const_iterator>);
static_assert(std::is_same_v<std::iterator_traits<Iterator>::reference, const Map::value_type&>);

constexpr int kStable = 1500;        // keys [0, kStable): present throughout
constexpr int kChurnFirst = 100000;  // keys the churner inserts and erases
constexpr int kChurnCount = 1500;

// Walks from `it` to the end and checks the promise: no key twice, every
// value intact; from begin(), every stable key exactly once; from an entry
// in the key range RangeOf(start), no key of an earlier range, and every
// stable key of a later range exactly once. `first` (if set) must be the
// first key visited. Returns the number of entries visited.
long CheckPass(const Map& map, Iterator it, std::optional<int> start, std::optional<int> first,
               const std::string& how) {
  SCOPED_TRACE(how);
  std::vector<int> stable_seen(kStable, 0);
  std::set<int> others_seen;
  long visited = 0;
  for (; it != map.end(); ++it) {
    const int key = it->first;
    if (visited == 0 && first.has_value()) {
      EXPECT_EQ(key, *first) << "the first key visited";
    }
    ++visited;
    EXPECT_TRUE(it->second.intact()) << "key " << key << ": a freed value";
    if (start.has_value() && RangeOf(key) < RangeOf(*start)) {
      ADD_FAILURE() << "key " << key << " lies before the start " << *start;
    }
    if (key >= 0 && key < kStable) {
      EXPECT_EQ(it->second.value, key);
      ++stable_seen[key];
    } else {
      EXPECT_GE(key, kChurnFirst);
      EXPECT_LT(key, kChurnFirst + kChurnCount);
      EXPECT_TRUE(others_seen.insert(key).second) << "key " << key << " visited twice";
    }
  }
  for (int k = 0; k < kStable; ++k) {
    if (!start.has_value() || RangeOf(k) > RangeOf(*start)) {
      EXPECT_EQ(stable_seen[k], 1) << "stable key " << k;
    } else {
      EXPECT_LE(stable_seen[k], 1) << "stable key " << k;
    }
  }
  return visited;
}

// Every way of getting an iterator at (or, for erase, after) an entry:
// each returns the iterator, the key of the range it starts in, and the key
// it must visit first, if known.
struct Way {
  const char* name;
  std::function<void(Map&, int key, const std::function<void(Iterator, int, std::optional<int>)>&)>
      run;
};

std::vector<Way> WaysToGetAnIterator() {
  using Check = std::function<void(Iterator, int, std::optional<int>)>;
  return {
      {"find(key)", [](Map& m, int k, const Check& c) { c(m.find(k), k, k); }},
      {"find(guard, key)",
       [](Map& m, int k, const Check& c) {
         rcu::ReadGuard guard;
         c(m.find(guard, k), k, k);
       }},
      {"insert(existing)",
       [](Map& m, int k, const Check& c) {
         c(m.insert({k, Tracked(k)}).first, k, k);
       }},
      {"insert(hint, existing)",
       [](Map& m, int k, const Check& c) {
         c(m.insert(m.end(), {k, Tracked(k)}), k, k);
       }},
      {"emplace(existing)", [](Map& m, int k, const Check& c) { c(m.emplace(k, k).first, k, k); }},
      {"emplace_hint",
       [](Map& m, int k, const Check& c) { c(m.emplace_hint(m.end(), k, k), k, k); }},
      {"try_emplace", [](Map& m, int k, const Check& c) { c(m.try_emplace(k, k).first, k, k); }},
      {"try_emplace(hint)",
       [](Map& m, int k, const Check& c) { c(m.try_emplace(m.end(), k, k), k, k); }},
      {"insert_or_assign (a replacement)",
       [](Map& m, int k, const Check& c) { c(m.insert_or_assign(k, Tracked(k)).first, k, k); }},
      {"insert_or_assign(hint)",
       [](Map& m, int k, const Check& c) { c(m.insert_or_assign(m.end(), k, Tracked(k)), k, k); }},
      {"equal_range(key).first",
       [](Map& m, int k, const Check& c) { c(m.equal_range(k).first, k, k); }},
      {"equal_range(guard, key).first",
       [](Map& m, int k, const Check& c) {
         rcu::ReadGuard guard;
         c(m.equal_range(guard, k).first, k, k);
       }},
      {"a copy of find(key)",
       [](Map& m, int k, const Check& c) {
         const Iterator original = m.find(k);
         Iterator copy = original;
         c(copy, k, k);
       }},
      {"a moved find(key)",
       [](Map& m, int k, const Check& c) {
         Iterator original = m.find(k);
         Iterator moved = std::move(original);
         c(std::move(moved), k, k);
       }},
      {"find(key)++ (post-increment returns the old position)",
       [](Map& m, int k, const Check& c) {
         Iterator it = m.find(k);
         c(it++, k, k);
       }},
      {"std::next(find(key))",
       [](Map& m, int k, const Check& c) { c(std::next(m.find(k)), k, std::nullopt); }},
      {"erase(find(churn key)) returns the next",
       [](Map& m, int, const Check& c) {
         // A churn key that is present now; its successor starts the pass.
         for (int j = kChurnFirst; j < kChurnFirst + kChurnCount; ++j) {
           Iterator found = m.find(j);
           if (found == m.end()) continue;
           c(m.erase(std::move(found)), j, std::nullopt);
           return;
         }
       }},
  };
}

std::vector<std::pair<const char*, std::function<Iterator(const Map&, const rcu::ReadGuard&)>>>
WaysToBegin() {
  return {
      {"begin()", [](const Map& m, const rcu::ReadGuard&) { return m.begin(); }},
      {"cbegin()", [](const Map& m, const rcu::ReadGuard&) { return m.cbegin(); }},
      {"Iterate(guard).begin()",
       [](const Map& m, const rcu::ReadGuard& g) { return m.Iterate(g).begin(); }},
  };
}

Map StableMap() {
  Map map;
  for (int k = 0; k < kStable; ++k) map.try_emplace(k, k);
  // Automatic resizes never wait for a grace period, so the fill may have
  // left one for a later write; make it now, so that writes of present keys
  // (below) change no iteration order.
  map.rehash(0);
  return map;
}

// --- Without concurrent writers: the exact order -----------------------------------

TEST(HashMapIteratorTest, EveryWayContinuesInIterationOrder) {
  Map map = StableMap();
  for (int resize = 0; resize < 3; ++resize) {
    std::vector<int> order;
    for (const auto& entry : map) order.push_back(entry.first);
    ASSERT_EQ(order.size(), static_cast<std::size_t>(kStable));
    for (const Way& way : WaysToGetAnIterator()) {
      if (std::string(way.name).rfind("erase", 0) == 0) continue;  // changes the map
      for (std::size_t i = 0; i < order.size(); i += 97) {
        way.run(map, order[i], [&](Iterator it, int, std::optional<int> first) {
          std::vector<int> rest;
          for (; it != map.end(); ++it) rest.push_back(it->first);
          const std::size_t from = first.has_value() ? i : i + 1;
          ASSERT_EQ(rest, std::vector<int>(order.begin() + static_cast<std::ptrdiff_t>(from),
                                           order.end()))
              << way.name << " at " << order[i];
        });
      }
    }
    map.rehash(resize % 2 == 0 ? 8192 : 0);  // grow, then shrink to fit
  }
}

TEST(HashMapIteratorTest, ReachingTheEndLeavesTheSection) {
  Map map = StableMap();
  ASSERT_FALSE(rcu::InReadSection());
  Iterator it = map.begin();
  EXPECT_TRUE(rcu::InReadSection());
  while (it != map.end()) ++it;
  EXPECT_FALSE(rcu::InReadSection()) << "an iterator at end() still holds a section";
  Map empty;
  EXPECT_EQ(empty.begin(), empty.end());
  EXPECT_FALSE(rcu::InReadSection());
  {
    auto range = map.equal_range(-5);  // absent: two end()s
    EXPECT_EQ(range.first, map.end());
    EXPECT_FALSE(rcu::InReadSection());
  }
  rcu::Barrier();  // would abort inside a section
}

// --- Beside writers and resizes ------------------------------------------------

TEST(HashMapIteratorTest, FromBeginEveryStableKeyExactlyOnceBesideWritersAndResizes) {
  Map map = StableMap();
  Churn<Map> churn(map, kStable, kChurnFirst, kChurnCount);
  const long resizes_before = churn.resizes();
  const long rounds_before = churn.rounds();
  long passes = 0;
  while (passes < 60 || churn.resizes() < resizes_before + 10) {
    for (const auto& [name, get] : WaysToBegin()) {
      rcu::ReadGuard guard;
      CheckPass(map, get(map, guard), std::nullopt, std::nullopt, name);
      ++passes;
    }
    ASSERT_FALSE(HasFailure());
  }
  EXPECT_GE(churn.resizes(), resizes_before + 10);
  EXPECT_GT(churn.rounds(), rounds_before);
}

TEST(HashMapIteratorTest, FromAnyEntryOnwardBesideWritersAndResizes) {
  Map map = StableMap();
  Churn<Map> churn(map, kStable, kChurnFirst, kChurnCount);
  const long resizes_before = churn.resizes();
  int start = 0;
  for (int round = 0; round < 6 || churn.resizes() < resizes_before + 10; ++round) {
    for (const Way& way : WaysToGetAnIterator()) {
      start = (start + 211) % kStable;
      way.run(map, start, [&](Iterator it, int range_key, std::optional<int> first) {
        CheckPass(map, std::move(it), range_key, first, way.name);
      });
    }
    ASSERT_FALSE(HasFailure());
  }
  EXPECT_GE(churn.resizes(), resizes_before + 10);
}

// Passes that stop halfway until the array has been replaced: the rest of
// the pass runs on links of a newer array.
TEST(HashMapIteratorTest, PassesPausedAcrossAResize) {
  Map map = StableMap();
  Churn<Map> churn(map, kStable, kChurnFirst, kChurnCount);
  int paused_across_resize = 0;
  for (int pass = 0; pass < 30 || paused_across_resize < 5; ++pass) {
    ASSERT_LT(pass, 4000) << "no resize completed during a pause";
    Iterator it = map.begin();  // owns its section
    std::vector<int> stable_seen(kStable, 0);
    std::set<int> others;
    long steps = 0;
    bool paused = false;
    for (; it != map.end(); ++it, ++steps) {
      if (!paused && steps == kStable / 2) {
        paused = true;
        const long resizes = churn.resizes();
        // Bounded: the resize after next cannot finish while we pause.
        for (int spin = 0; spin < 20000 && churn.resizes() == resizes; ++spin) {
          std::this_thread::yield();
        }
        if (churn.resizes() != resizes) ++paused_across_resize;
      }
      const int key = it->first;
      ASSERT_TRUE(it->second.intact());
      if (key < kStable) {
        ++stable_seen[key];
      } else {
        ASSERT_TRUE(others.insert(key).second) << "key " << key << " twice";
      }
    }
    for (int k = 0; k < kStable; ++k)
      ASSERT_EQ(stable_seen[k], 1) << "key " << k << " pass " << pass;
  }
}

// The erase-while-iterating idiom beside writers: every stable key is
// visited exactly once, the ones dropped are gone, the rest remain.
TEST(HashMapIteratorTest, EraseWhileIteratingBesideWritersAndResizes) {
  Map map = StableMap();
  Churn<Map> churn(map, /*stable=*/0, kChurnFirst, kChurnCount);  // no replacer on stable keys
  const long resizes_before = churn.resizes();
  for (int round = 0; round < 30 || churn.resizes() < resizes_before + 5; ++round) {
    std::vector<int> seen(kStable, 0);
    for (auto it = map.begin(); it != map.end();) {
      const int key = it->first;
      if (key < kStable) {
        ++seen[key];
        it = (key + round) % 3 == 0 ? map.erase(it) : std::next(it);
      } else {
        ++it;
      }
    }
    EXPECT_FALSE(rcu::InReadSection());
    for (int k = 0; k < kStable; ++k) {
      ASSERT_EQ(seen[k], 1) << k;
      ASSERT_EQ(map.contains(k), (k + round) % 3 != 0) << k;
      map.try_emplace(k, k);  // back for the next round
    }
  }
}

// --- Standard algorithms -------------------------------------------------------------

// Checks a copy made by an algorithm: no key twice, every stable key.
template <typename Keys>
void ExpectStableKeysOnce(const Keys& keys, const char* what) {
  std::vector<int> sorted(keys.begin(), keys.end());
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end())
      << what << ": a key twice";
  for (int k = 0; k < kStable; ++k) {
    EXPECT_TRUE(std::binary_search(sorted.begin(), sorted.end(), k)) << what << ": missing " << k;
  }
}

TEST(HashMapIteratorTest, StandardAlgorithmsBesideWritersAndResizes) {
  Map map = StableMap();
  Churn<Map> churn(map, kStable, kChurnFirst, kChurnCount);
  auto key_of = [](const Map::value_type& entry) { return entry.first; };
  for (int round = 0; round < 8; ++round) {
    {
      std::vector<Map::value_type> v(map.begin(), map.end());  // counted twice if forward
      std::vector<int> keys;
      std::transform(v.begin(), v.end(), std::back_inserter(keys), key_of);
      ExpectStableKeysOnce(keys, "std::vector(begin, end)");
    }
    {
      std::vector<int> keys;
      std::transform(map.begin(), map.end(), std::back_inserter(keys), key_of);
      ExpectStableKeysOnce(keys, "std::transform");
    }
    {
      std::deque<Map::value_type> d(map.begin(), map.end());
      std::list<Map::value_type> l(map.begin(), map.end());
      std::map<int, Tracked> ordered(map.begin(), map.end());
      std::unordered_map<int, Tracked> unordered(map.begin(), map.end());
      std::vector<int> keys;
      for (const auto& e : d) keys.push_back(e.first);
      ExpectStableKeysOnce(keys, "std::deque");
      keys.clear();
      for (const auto& e : l) keys.push_back(e.first);
      ExpectStableKeysOnce(keys, "std::list");
      keys.clear();
      for (const auto& e : ordered) keys.push_back(e.first);
      ExpectStableKeysOnce(keys, "std::map");
      keys.clear();
      for (const auto& e : unordered) keys.push_back(e.first);
      ExpectStableKeysOnce(keys, "std::unordered_map");
    }
    {
      std::vector<int> keys;
      std::vector<Map::value_type> copied;
      std::copy(map.begin(), map.end(), std::back_inserter(copied));
      std::copy_if(map.begin(), map.end(), std::back_inserter(copied),
                   [](const auto& e) { return e.first < 0; });
      for (const auto& e : copied) keys.push_back(e.first);
      ExpectStableKeysOnce(keys, "std::copy");
    }
    const std::ptrdiff_t distance = std::distance(map.begin(), map.end());
    EXPECT_GE(distance, kStable);
    EXPECT_LE(distance, kStable + kChurnCount);
    EXPECT_EQ(
        std::count_if(map.begin(), map.end(), [](const auto& e) { return e.first < kStable; }),
        kStable);
    EXPECT_NE(std::find_if(map.begin(), map.end(), [](const auto& e) { return e.first == 7; }),
              map.end());
    EXPECT_TRUE(
        std::all_of(map.begin(), map.end(), [](const auto& e) { return e.second.intact(); }));
    long sum = 0;
    std::for_each(map.begin(), map.end(), [&](const auto& e) {
      if (e.first < kStable) sum += e.first;
    });
    EXPECT_EQ(sum, static_cast<long>(kStable) * (kStable - 1) / 2);
    EXPECT_EQ(
        std::accumulate(map.begin(), map.end(), 0L,
                        [](long s, const auto& e) { return s + (e.first < kStable ? 1 : 0); }),
        kStable);
    {
      // Into another map through std::inserter, and through insert(first, last).
      rcu::HashMap<int, Tracked, KnownHash> other;
      std::copy(map.begin(), map.end(), std::inserter(other, other.end()));
      rcu::HashMap<int, Tracked, KnownHash> ranged;
      ranged.insert(map.begin(), map.end());
      rcu::HashMap<int, Tracked, KnownHash> constructed(map.begin(), map.end());
      for (int k = 0; k < kStable; ++k) {
        ASSERT_TRUE(other.contains(k));
        ASSERT_TRUE(ranged.contains(k));
        ASSERT_TRUE(constructed.contains(k));
      }
    }
    ASSERT_FALSE(HasFailure()) << "round " << round;
  }
  EXPECT_FALSE(rcu::InReadSection());
}

// std::inserter keeps no iterator, so no section, between inserts: a large
// copy through it grows the table as inserts outside a section do.
TEST(HashMapIteratorTest, InserterHoldsNoSectionBetweenInserts) {
  std::vector<std::pair<int, Tracked>> source;
  for (int k = 0; k < 200000; ++k) source.emplace_back(k, Tracked(k));
  Map map;
  auto out = std::inserter(map, map.end());
  *out = Map::value_type(-1, Tracked(-1));
  EXPECT_FALSE(rcu::InReadSection());
  std::copy(source.begin(), source.end(), out);
  EXPECT_EQ(map.size(), source.size() + 1);
  EXPECT_FALSE(rcu::InReadSection());
  // Automatic resizes never wait for a grace period: the last growth may
  // have been left for a later write, if the callback worker has not yet
  // ended the grace period of the one before (as in HashMapTest's
  // GrowsAndShrinks). A section held across the copy would make this fatal.
  rcu::Synchronize();
  *out = Map::value_type(-2, Tracked(-2));
  EXPECT_LE(map.load_factor(), map.max_load_factor());
}

// Inside one long section the map grows at most once more (the next resize
// must wait for that section): reserve() up front is the remedy, and works.
TEST(HashMapIteratorTest, FillingFromInsideASectionAfterReserve) {
  Map source = StableMap();
  Map map;
  {
    rcu::ReadGuard guard;
    map.reserve(source.size());
    for (const auto& entry : source.Iterate(guard)) map.insert(entry);
  }
  EXPECT_EQ(map.size(), source.size());
  EXPECT_LE(map.load_factor(), map.max_load_factor());
}

// clear() racing passes: a pass that overlaps a clear() sees a weakly
// consistent mix of the old and new contents; nothing freed, no key twice.
TEST(HashMapIteratorTest, PassesBesideClearAndRefill) {
  Map map = StableMap();
  std::atomic<bool> stop{false};
  std::atomic<long> clears{0};
  std::thread clearer([&] {
    while (!stop.load()) {
      map.clear();
      for (int k = 0; k < kStable; ++k) map.try_emplace(k, k);
      clears.fetch_add(1);
    }
  });
  for (int pass = 0; pass < 40 || clears.load() < 10; ++pass) {
    std::set<int> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      ASSERT_TRUE(it->second.intact());
      ASSERT_EQ(it->second.value, it->first);
      ASSERT_TRUE(seen.insert(it->first).second) << "key " << it->first << " twice";
    }
  }
  stop.store(true);
  clearer.join();
}

// Move construction needs no exclusive access to the source, only no other
// writer: readers keep iterating and looking up in the source while its
// entries move to another map, which is then destroyed.
TEST(HashMapIteratorTest, ReadersBesideMovesOutOfTheMap) {
  Map map = StableMap();
  std::atomic<bool> stop{false};
  std::atomic<long> passes{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        std::set<int> seen;
        for (const auto& [key, value] : map) {
          ASSERT_TRUE(value.intact());
          ASSERT_TRUE(seen.insert(key).second);
        }
        auto it = map.find(17);
        if (it != map.end()) {
          ASSERT_TRUE(it->second.intact());
        }
        passes.fetch_add(1);
      }
    });
  }
  for (int round = 0; round < 20 || passes.load() < 20; ++round) {
    {
      Map moved(std::move(map));
      EXPECT_EQ(moved.size(), static_cast<std::size_t>(kStable));
    }  // its entries are retired here, while readers may still be on them
    for (int k = 0; k < kStable; ++k) map.try_emplace(k, k);
  }
  stop.store(true);
  for (std::thread& t : readers) t.join();
}

// reserve() and rehash() from inside read-side sections, on several
// threads, beside writers: nothing waits or aborts, and the last request
// is honoured by the next write outside a section.
TEST(HashMapIteratorTest, ReserveAndRehashInsideSectionsBesideWriters) {
  Map map = StableMap();
  std::atomic<bool> stop{false};
  std::atomic<long> rounds{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      unsigned seed = 7 + t;
      for (; !stop.load(); rounds.fetch_add(1)) {
        rcu::ReadGuard guard;
        seed = seed * 1103515245u + 12345u;
        const std::size_t n = (seed >> 8) % 40000;
        if ((seed >> 4) % 2 == 0) {
          map.reserve(n);
        } else {
          map.rehash(n);
        }
        for (int k = 0; k < 50; ++k) map.insert_or_assign(kChurnFirst + t * 100 + k, Tracked(-1));
        auto it = map.find(3);
        ASSERT_NE(it, map.end());
      }
    });
  }
  for (int round = 0; round < 300 || rounds.load() < 400; ++round) {
    rcu::ReadGuard guard;
    for (int k = 0; k < kStable; k += 97) ASSERT_TRUE(map.find(guard, k)->second.intact());
  }
  stop.store(true);
  for (std::thread& t : threads) t.join();
  map.reserve(100000);
  map.insert_or_assign(0, Tracked(0));
  EXPECT_GE(map.bucket_count(), 100000u);
  for (int k = 0; k < kStable; ++k) ASSERT_EQ(map.at(k).value, k);
}

}  // namespace
