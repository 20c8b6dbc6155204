// Outside review of rcu::HashMap's per-thread node recycler
// (containers/internal/hash_map_recycler.h) and its huge-page bucket arrays.
// Each test states the guarantee it attacks.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <new>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "containers/hash_map.h"
#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/grace_period.h"
#include "rcu/read_guard.h"
#include "tests/util/allocation_counter.h"
#include "tests/util/test_util.h"

namespace {

using rcu::internal::kRecyclerBatches;
using rcu::internal::kRecyclerBatchSize;
constexpr std::size_t kCapacity = kRecyclerBatchSize * (kRecyclerBatches + 1);

// A stateless allocator (is_always_equal, default constructible) over a
// process-wide pool, like boost::pool_allocator over boost::singleton_pool:
// the pool counts what is live, and Purge() releases everything still
// allocated (boost's purge_memory(), done once every container using the
// pool is gone). Each Tag gives its own pool and its own node type.
template <int Tag>
struct Pool {
  // Immortal: without the recycler every node was back by the tests'
  // Barrier(); with it, the main thread's kept nodes are freed by the
  // callback worker at exit, after function-local statics constructed
  // after the core's first use are destroyed (ASan: heap-use-after-free in
  // deallocate(); see the review report).
  static std::mutex& mu() {
    static auto* m = new std::mutex;
    return *m;
  }
  static std::set<void*>& live() {
    static auto* s = new std::set<void*>;
    return *s;
  }
  static std::set<void*>& purged() {
    static auto* s = new std::set<void*>;
    return *s;
  }
  static long Live() {
    std::lock_guard<std::mutex> lock(mu());
    return static_cast<long>(live().size());
  }
  // Releases every block still allocated. (Instead of free(), which would
  // make the reuse that follows undefined, the blocks are remembered, so
  // that a later use of one can be detected deterministically.)
  static void Purge() {
    std::lock_guard<std::mutex> lock(mu());
    for (void* p : live()) purged().insert(p);
    live().clear();
  }
  static bool WasPurged(const void* p) {
    std::lock_guard<std::mutex> lock(mu());
    for (void* q : purged()) {
      // p points into the block (the entry is inside the node).
      if (static_cast<const char*>(p) >= static_cast<char*>(q) &&
          static_cast<const char*>(p) < static_cast<char*>(q) + 256) {
        return true;
      }
    }
    return false;
  }
};

template <typename T, int Tag>
struct PoolAllocator {
  using value_type = T;
  using is_always_equal = std::true_type;
  // Pools 1 and 2 stand for pools whose memory the user tracks or purges:
  // they do not opt into node reuse, and get every node back after its
  // grace period (the review's defects D1 and D2). Pool 3 opts in, so that
  // its test exercises the recycler at thread exit.
  using rcu_recycle_nodes = std::bool_constant<(Tag >= 3)>;
  template <typename U>
  struct rebind {
    using other = PoolAllocator<U, Tag>;
  };
  PoolAllocator() = default;
  template <typename U>
  PoolAllocator(const PoolAllocator<U, Tag>&) {}  // NOLINT: converting
  T* allocate(std::size_t n) {
    void* p = std::malloc(n * sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    std::lock_guard<std::mutex> lock(Pool<Tag>::mu());
    Pool<Tag>::live().insert(p);
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) {
    {
      std::lock_guard<std::mutex> lock(Pool<Tag>::mu());
      if (Pool<Tag>::live().erase(p) == 0) return;  // purged: the pool owns it
    }
    std::free(p);
  }
  friend bool operator==(const PoolAllocator&, const PoolAllocator&) { return true; }
  friend bool operator!=(const PoolAllocator&, const PoolAllocator&) { return false; }
};

template <int Tag>
using PoolMap = rcu::HashMap<int, int, std::hash<int>, std::equal_to<int>,
                             PoolAllocator<std::pair<const int, int>, Tag>>;

// Guarantee attacked: "Erased and replaced entries are freed after a grace
// period" (containers/hash_map.h) and "Barrier() waits until every callback
// queued before it has run" (rcu/call_rcu.h): once a map with a stateless
// allocator is destroyed and rcu::Barrier() has returned, the allocator has
// got every node back. Before the recycler this held; now the destroying
// thread keeps the entries it replaced, allocated from the pool, until it
// exits.
TEST(HashMapRecyclerAttackTest, BarrierAfterDestroyReturnsEveryNodeToAStatelessAllocator) {
  {
    PoolMap<1> map;
    for (int k = 0; k < 100; ++k) map.insert({k, k});
    for (int i = 0; i < 2000; ++i) map.insert_or_assign(i % 100, i);
  }
  rcu::Barrier();
  EXPECT_EQ(Pool<1>::Live(), 0) << "nodes still allocated from the map's allocator after the "
                                   "map was destroyed and rcu::Barrier() returned";
}

// The consequence with a pool that is purged once its containers are gone
// (boost::pool_allocator + singleton_pool::purge_memory(), an arena reset
// per request...): the thread's next map of the same type builds its
// entries in purged memory. Here that is detected by address; with a real
// purge it is a heap-use-after-free under ASan, and silent corruption
// without.
TEST(HashMapRecyclerAttackTest, NoEntryIsBuiltInMemoryThePoolPurgedAfterBarrier) {
  {
    PoolMap<2> map;
    for (int k = 0; k < 100; ++k) map.insert({k, k});
    for (int i = 0; i < 2000; ++i) map.insert_or_assign(i % 100, i);
  }
  rcu::Barrier();
  Pool<2>::Purge();  // every container of the pool is gone
  PoolMap<2> next;
  for (int k = 0; k < 600; ++k) next.insert({k, k});
  for (int i = 0; i < 600; ++i) next.insert_or_assign(i, -i);
  int in_purged = 0;
  {
    rcu::ReadGuard guard;
    for (const auto& entry : next.Iterate(guard)) in_purged += Pool<2>::WasPurged(&entry);
  }
  EXPECT_EQ(in_purged, 0) << "entries built in nodes the allocator had already released";
}

// Guarantee attacked: nothing leaks at thread exit, whatever the order in
// which a thread's thread_locals were made. Here the recycler is made by
// the thread's very first call (emplace builds its node before anything
// else), before the RCU core's own per-thread state, so it is closed
// after that state is torn down.
TEST(HashMapRecyclerAttackTest, ThreadWhoseFirstCallIsEmplaceFreesEverythingAtExit) {
  PoolMap<3> map;
  for (int k = 0; k < 100; ++k) map.insert({k, k});
  rcu::Barrier();
  const long base = Pool<3>::Live();
  for (int round = 0; round < 4; ++round) {
    std::thread writer([&] {
      map.emplace(1000 + round, 1);  // first call of the thread
      for (int i = 0; i < static_cast<int>(3 * kRecyclerBatchSize); ++i) {
        map.insert_or_assign(i % 100, i);
      }
      rcu::Barrier();  // some batches complete
      for (int i = 0; i < 700; ++i) map.insert_or_assign(i % 100, -i);
      map.erase(1000 + round);
    });
    writer.join();
  }
  rcu::Barrier();
  EXPECT_EQ(Pool<3>::Live(), base);
  for (int k = 0; k < 100; ++k) EXPECT_EQ(map.get(k), -(600 + k));
}

// Guarantee attacked: writes from RCU callbacks work, and Barrier() still
// means their results are in place. The callback worker has a recycler of
// its own; its cookies complete through the very queue it is running.
using U64Map = rcu::HashMap<std::uint64_t, std::uint64_t>;
U64Map* callback_map = nullptr;
std::atomic<int> callback_rounds{0};

TEST(HashMapRecyclerAttackTest, WritesFromRcuCallbacksReuseAndStayCorrect) {
  U64Map map;
  callback_map = &map;
  for (std::uint64_t k = 0; k < 64; ++k) map.insert({k, k});
  constexpr int kRounds = 40;
  for (int r = 0; r < kRounds; ++r) {
    rcu::CallRcu([r] {
      for (std::uint64_t i = 0; i < kRecyclerBatchSize * 3; ++i) {
        callback_map->insert_or_assign(i % 64, static_cast<std::uint64_t>(r) * 100000 + i);
      }
      callback_rounds.fetch_add(1);
    });
    if (r % 8 == 0) rcu::Barrier();
  }
  rcu::Barrier();
  EXPECT_EQ(callback_rounds.load(), kRounds);
  for (std::uint64_t k = 0; k < 64; ++k) {
    const std::uint64_t last = kRecyclerBatchSize * 3 - 64 + k;
    EXPECT_EQ(map.get(k), static_cast<std::uint64_t>(kRounds - 1) * 100000 + last);
  }
  callback_map = nullptr;
}

// Guarantee attacked: an entry read under a guard is unchanged until the
// guard ends, while the same thread's recycler cycles through writes to
// *another* map of the same type and that map is destroyed and replaced.
TEST(HashMapRecyclerAttackTest, EntryHeldUnderGuardSurvivesAnotherMapsChurnOnTheSameThread) {
  U64Map a;
  for (std::uint64_t k = 0; k < 64; ++k) a.insert({k, k + 1000});
  rcu::ReadGuard guard;
  const auto* held = &*a.find(guard, 5);
  a.erase(5);
  a.clear();
  for (int round = 0; round < 3; ++round) {
    U64Map b;
    for (std::uint64_t i = 0; i < 2 * kCapacity; ++i) b.insert_or_assign(i % 128, i);
    U64Map c(std::move(b));
    c.clear();
  }
  EXPECT_EQ(held->first, 5u);
  EXPECT_EQ(held->second, 1005u);
}

// Guarantee attacked: another thread's reader keeps its entry while a
// writer retires and reuses entries at full speed, including while the
// reader holds many entries across erase/re-insert.
TEST(HashMapRecyclerAttackTest, ReaderOnAnotherThreadSeesItsEntriesUnchanged) {
  U64Map map;
  constexpr std::uint64_t kKeys = 256;
  for (std::uint64_t k = 0; k < kKeys; ++k) map.insert({k, k + kKeys});
  std::atomic<bool> stop{false};
  std::atomic<long> bad{0};
  std::thread reader([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      rcu::ReadGuard guard;
      std::vector<const std::pair<const std::uint64_t, std::uint64_t>*> held;
      std::vector<std::uint64_t> seen;
      for (std::uint64_t k = 0; k < kKeys; k += 7) {
        auto it = map.find(guard, k);
        if (it == map.end()) continue;
        held.push_back(&*it);
        seen.push_back(it->second);
      }
      for (int spin = 0; spin < 200; ++spin) {
        for (std::size_t i = 0; i < held.size(); ++i) {
          if (held[i]->second != seen[i] || held[i]->second % kKeys != held[i]->first) {
            bad.fetch_add(1);
          }
        }
      }
    }
  });
  for (std::uint64_t i = 0; i < 20 * kCapacity; ++i) {
    const std::uint64_t k = i % kKeys;
    switch (i % 3) {
      case 0:
        map.insert_or_assign(k, k + kKeys * i);
        break;
      case 1:
        map.erase(k);
        break;
      default:
        map.insert({k, k + kKeys * (i + 1)});
        break;
    }
  }
  stop.store(true);
  reader.join();
  EXPECT_EQ(bad.load(), 0);
}

// Guarantee attacked: allocation failure at any point (StartPoll() when a
// batch is sealed, the node for a write) crashes nothing, loses nothing,
// and leaks nothing; the map stays consistent. Runs on a fresh thread so
// that its exit frees what the recycler keeps; then every allocation is
// accounted for.
TEST(HashMapRecyclerAttackTest, AllocationFailureSweepWhileSealingAndReusing) {
  // A first thread makes the core's one-time, process-wide allocations.
  std::thread([] {
    U64Map warm;
    warm.insert({1, 1});
    warm.insert_or_assign(1, 2);
  }).join();
  rcu::Barrier();  // what earlier tests retired is freed before counting
  const long live_before = rcu_test::LiveAllocations();
  int injected = 0;
  int thrown = 0;
  {
    U64Map map;
    std::thread worker([&] {
      // Entries made here, not on the main thread, whose recycler may hold
      // nodes of this type from earlier tests (they would not be counted).
      for (std::uint64_t k = 0; k < 64; ++k) map.insert({k, k});
      std::uint64_t value = 1000;
      std::vector<std::uint64_t> expect(64);
      for (std::uint64_t k = 0; k < 64; ++k) expect[k] = k;
      // Prime: several sealed batches, some ready.
      for (std::uint64_t i = 0; i < 4 * kRecyclerBatchSize; ++i) {
        map.insert_or_assign(i % 64, ++value);
        expect[i % 64] = value;
      }
      rcu::Barrier();
      for (std::uint64_t i = 0; i < 3 * kRecyclerBatchSize + 7; ++i) {
        const std::uint64_t k = i % 64;
        for (long n = 1;; ++n) {
          ++value;
          rcu_test::FailNthAllocation(n);
          bool threw = false;
          try {
            switch (i % 4) {
              case 0:
                map.insert_or_assign(k, value);
                break;
              case 1:
                map.update(k, [&](const std::uint64_t&) { return value; });
                break;
              case 2:
                map.erase(k);
                map.emplace(k, value);
                break;
              default:
                map.compute(
                    k, [&](const std::uint64_t*) -> std::optional<std::uint64_t> { return value; });
                break;
            }
          } catch (const std::bad_alloc&) {
            threw = true;
          }
          const bool failed = rcu_test::InjectedFailureHappened();
          rcu_test::FailNthAllocation(0);
          injected += failed;
          thrown += threw;
          const auto got = map.get(k);
          if (!threw) {
            ASSERT_EQ(got, value) << "i=" << i << " n=" << n;
            expect[k] = value;
          } else if (i % 4 == 2) {
            // erase then emplace: the erase may have happened.
            if (got.has_value()) {
              ASSERT_EQ(*got, expect[k]);
            } else {
              map.insert({k, expect[k]});
            }
          } else {
            ASSERT_EQ(got, expect[k]) << "a failed write changed the map, i=" << i << " n=" << n;
          }
          if (!failed) break;
        }
      }
      for (std::uint64_t k = 0; k < 64; ++k) ASSERT_EQ(map.get(k), expect[k]);
      ASSERT_EQ(map.size(), 64u);
    });
    worker.join();
  }
  rcu::Barrier();
  // Read before any check below can fail: gtest records a failure in memory
  // from operator new, which the count would take for a leak.
  const long live_after = rcu_test::LiveAllocations();
  // Failures were injected, some inside the recycler (StartPoll() when a
  // batch is sealed: swallowed there), some thrown to the caller.
  EXPECT_GT(injected, thrown);
  EXPECT_GT(thrown, 0);
  EXPECT_EQ(live_after, live_before);
}

// Guarantee attacked: writes made inside the writer's own guard, whose
// section holds up every grace period: the thread keeps at most its bound
// (plus the batch it is filling), and the entry it holds is never reused.
TEST(HashMapRecyclerAttackTest, BoundedAndUnreusedWhileTheWritersOwnGuardStalls) {
  U64Map map;
  for (std::uint64_t k = 0; k < 100; ++k) map.insert({k, k});
  using Recycler = rcu::internal::NodeRecycler<rcu::internal::HashNode<
      std::uint64_t, std::uint64_t, std::allocator<std::pair<const std::uint64_t, std::uint64_t>>>>;
  std::size_t kept = 0;
  bool intact = false;
  std::thread writer([&] {
    rcu::ReadGuard guard;
    const auto* held = &*map.find(guard, 3);
    for (std::uint64_t i = 0; i < 2 * kCapacity; ++i) map.insert_or_assign(i % 100, i + 7);
    kept = Recycler::ForThisThread().KeptForTesting();
    intact = held->first == 3 && held->second == 3;
  });
  writer.join();
  EXPECT_TRUE(intact);
  EXPECT_LE(kept, kCapacity + kRecyclerBatchSize);
  rcu::Barrier();
}

// Huge-page bucket arrays: grow across the 2 MiB threshold and shrink back
// (rehash/clear/move/swap), under ASan that checks each delete matches its
// new (alignment included), and with a reader holding an entry of a big
// array meanwhile.
TEST(HashMapRecyclerAttackTest, BucketArraysAcrossTheHugePageThreshold) {
  U64Map map;
  constexpr std::size_t kBig = std::size_t{1} << 18;  // 2 MiB of buckets
  map.reserve(kBig);
  for (std::uint64_t k = 0; k < 1000; ++k) map.insert({k, k});
  {
    rcu::ReadGuard guard;
    const auto* held = &*map.find(guard, 10);
    map.rehash(64);  // shrinks below the threshold
    map.rehash(kBig * 2);
    map.rehash(kBig / 2);
    map.rehash(kBig);
    EXPECT_EQ(held->second, 10u);
  }
  for (std::uint64_t k = 0; k < 1000; ++k) ASSERT_EQ(map.get(k), k);
  U64Map other;
  other.reserve(kBig * 4);
  other.insert({1, 1});
  map.swap(other);
  EXPECT_EQ(map.size(), 1u);
  other.clear();
  map = std::move(other);
  EXPECT_TRUE(map.empty());
  map.insert({5, 5});
  U64Map moved(std::move(map));
  EXPECT_EQ(moved.get(5), 5u);
  rcu::Barrier();
}

}  // namespace
