// rcu::HashMap's per-thread reuse of retired entries
// (containers/internal/hash_map_recycler.h): never before the entry's grace
// period, no allocation once reuse runs, bounded while a reader stalls,
// nothing leaked at thread exit (also when a later thread-exit destructor
// still writes), maps whose values have destructors never recycled, and a
// fork() child that goes on writing.
//
// Negative control: //tests/containers:hash_map_recycler_negative_control_test
// builds this file with RCU_BUG_MAP_RECYCLE_EARLY (entries reused without
// waiting for their grace period) and expects
// EntryUnderAGuardIsNeverReused to fail (RECYCLER_NEGATIVE_CONTROL set).
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "containers/hash_map.h"
#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/internal/sanitizer.h"
#include "rcu/read_guard.h"
#include "tests/util/allocation_counter.h"
#include "tests/util/test_util.h"

namespace {

using rcu::internal::kRecyclerBatches;
using rcu::internal::kRecyclerBatchSize;
using Map = rcu::HashMap<std::uint64_t, std::uint64_t>;
using Recycler = rcu::internal::NodeRecycler<rcu::internal::HashNode<
    std::uint64_t, std::uint64_t, std::allocator<std::pair<const std::uint64_t, std::uint64_t>>>>;

constexpr std::size_t kCapacity = kRecyclerBatchSize * (kRecyclerBatches + 1);

// The value `writes` rounds of insert_or_assign(i % keys, i) leave at key k.
std::uint64_t LastWritten(std::uint64_t writes, std::uint64_t keys, std::uint64_t k) {
  return writes - 1 - (writes - 1 - k) % keys;
}

// What a thread may keep after an erase loop that retired `erased` nodes
// since every earlier batch passed its grace period: the few batches past
// their grace period it may keep, those it sealed meanwhile, the open one
// and slack of one.
constexpr std::size_t KeptAfterAnEraseLoop(std::size_t erased) {
  return (rcu::internal::kRecyclerReadyBatches + erased / kRecyclerBatchSize + 2) *
         kRecyclerBatchSize;
}

// The guarantee readers rely on: an entry a reader can still reach is
// never rebuilt under it, however many entries its own thread retires and
// asks for meanwhile.
TEST(HashMapRecyclerTest, EntryUnderAGuardIsNeverReused) {
  Map map;
  for (std::uint64_t k = 0; k < 64; ++k) map.insert({k, k * 10});
  rcu::ReadGuard guard;
  auto it = map.find(guard, 7);
  ASSERT_NE(it, map.end());
  const std::pair<const std::uint64_t, std::uint64_t>* held = &*it;
  map.insert_or_assign(7, 71);  // retires the entry `held` points to
  // Enough retirements and inserts to seal every batch several times over.
  for (std::uint64_t i = 0; i < kCapacity + 4 * kRecyclerBatchSize; ++i) {
    map.insert_or_assign(i % 64 == 7 ? 8 : i % 64, i);
    EXPECT_NE(&*map.find(guard, i % 64 == 7 ? 8 : i % 64), held) << "reused under a guard at " << i;
    if (held->first != 7 || held->second != 70) break;
  }
  EXPECT_EQ(held->first, 7u);
  EXPECT_EQ(held->second, 70u) << "the entry was rebuilt while a reader could still reach it";
}

// The performance property: once grace periods pass, updates build their
// entries in retired nodes and allocate nothing.
TEST(HashMapRecyclerTest, UpdatesAllocateNothingOnceReuseRuns) {
  Map map;
  for (std::uint64_t k = 0; k < 1024; ++k) map.insert({k, k});
  // Fill the thread's recycler with sealed batches and let their grace
  // periods pass (Barrier() runs the cookies' completions).
  for (std::uint64_t i = 0; i < 4 * kRecyclerBatchSize; ++i) map.insert_or_assign(i % 1024, i);
  rcu::Barrier();
  const long before = rcu_test::ThreadAllocations();
  for (std::uint64_t i = 0; i < 2 * kRecyclerBatchSize; ++i) map.insert_or_assign(i % 1024, i + 1);
  // Only the grace-period cookie of each batch sealed meanwhile (two)
  // allocates: rcu::StartPoll()'s completion and its queue entry. Without
  // reuse each of the 512 updates would allocate.
  EXPECT_LE(rcu_test::ThreadAllocations() - before, 4)
      << "updates allocated although nodes were ready";
  for (std::uint64_t i = 0; i < 2 * kRecyclerBatchSize; ++i) {
    ASSERT_EQ(map.get(i % 1024), i + 1);
  }
}

// A busy updater seals many batches while one grace period is pending.
// When that period ends, the thread must go on reusing every batch it
// released, not free all but a few of them at its next seal and allocate
// again (which left the stress test reusing about 10% of its nodes).
TEST(HashMapRecyclerTest, UpdatesReuseEveryBatchAGracePeriodReleases) {
  constexpr std::uint64_t kBatchesPerPeriod = 16;
  static_assert(kBatchesPerPeriod > rcu::internal::kRecyclerReadyBatches);
  constexpr std::uint64_t kUpdates = kBatchesPerPeriod * kRecyclerBatchSize;
  constexpr int kPeriods = 8;
  Map map;
  for (std::uint64_t k = 0; k < 1024; ++k) map.insert({k, k});
  std::uint64_t i = 0;
  long allocations = 0;
  for (int period = 0; period < kPeriods; ++period) {
    rcu::Barrier();  // every batch sealed so far is past its grace period
    const long before = rcu_test::ThreadAllocations();
    for (std::uint64_t n = 0; n < kUpdates; ++n, ++i) map.insert_or_assign(i % 1024, i);
    if (period > 0) allocations += rcu_test::ThreadAllocations() - before;
  }
  // Each batch sealed allocates its grace-period cookie (two allocations);
  // without reuse each of the updates would allocate a node.
  const long updates = static_cast<long>((kPeriods - 1) * kUpdates);
  EXPECT_LE(allocations, (kPeriods - 1) * static_cast<long>(2 * kBatchesPerPeriod + 8))
      << allocations << " allocations for " << updates << " updates";
  for (std::uint64_t k = 0; k < 1024; ++k) {
    ASSERT_EQ(map.get(k), LastWritten(i, 1024, k));
  }
}

// While a reader stalls, no batch completes: the thread keeps at most its
// capacity, then retires through the core (whose backlog limit applies).
TEST(HashMapRecyclerTest, KeptNodesAreBoundedWhileAReaderStalls) {
  Map map;
  for (std::uint64_t k = 0; k < 100; ++k) map.insert({k, k});
  std::size_t kept = 0;
  {
    rcu_test::ParkedReader reader;
    std::thread writer([&] {
      // Past the capacity, but within the core's backlog limit (which
      // would make the writer wait for the parked reader).
      for (std::uint64_t i = 0; i < kCapacity + 4 * kRecyclerBatchSize; ++i) {
        map.insert_or_assign(i % 100, i);
      }
      kept = Recycler::ForThisThread().KeptForTesting();
    });
    writer.join();
  }
  EXPECT_GT(kept, 0u);
  EXPECT_LE(kept, kCapacity);
  rcu::Barrier();
}

// A thread that retires more than it reuses (an erase loop) frees what
// it keeps beyond a few batches past their grace period, rather than
// sitting on its whole capacity.
TEST(HashMapRecyclerTest, EraseLoopKeepsOnlyAFewBatches) {
  constexpr std::uint64_t kEntries = 100000;  // more than the capacity
  static_assert(kEntries > kCapacity);
  constexpr std::uint64_t kChunk = 10 * kRecyclerBatchSize;
  Map map;
  for (std::uint64_t k = 0; k < kEntries; ++k) map.insert({k, k});
  std::size_t kept = 0;
  std::thread eraser([&] {
    for (std::uint64_t k = 0; k < kEntries; ++k) {
      map.erase(k);
      if (k % kChunk == kChunk - 1) rcu::Barrier();  // the chunk's grace periods pass
    }
    kept = Recycler::ForThisThread().KeptForTesting();
  });
  eraser.join();
  // Since the last Barrier() it erased one chunk.
  EXPECT_LE(kept, KeptAfterAnEraseLoop(kChunk));
  EXPECT_TRUE(map.empty());
  rcu::Barrier();
}

// An erase loop that follows a phase which filled every slot of the ring
// (here: updates and erases, one each, which ask for half as many nodes as
// they retire) must still free what is past its grace period, not keep the
// thread's whole capacity while every node it retires takes the usual path.
TEST(HashMapRecyclerTest, EraseLoopAfterAFullRingKeepsOnlyAFewBatches) {
  constexpr std::uint64_t kMixed = kCapacity;  // two retirements each
  constexpr std::uint64_t kErased = 8 * kRecyclerBatchSize;
  constexpr std::uint64_t kEntries = kMixed + 1 + kErased;
  constexpr std::uint64_t kChunk = 10 * kRecyclerBatchSize;
  Map map;
  for (std::uint64_t k = 0; k < kEntries; ++k) map.insert({k, k});
  std::size_t after_mix = 0;
  std::size_t kept = 0;
  std::thread writer([&] {
    for (std::uint64_t k = 0; k < kMixed; ++k) {
      map.insert_or_assign(k + 1, k);                // asks for one node, retires one
      map.erase(k);                                  // retires one
      if (k % kChunk == kChunk - 1) rcu::Barrier();  // the chunk's grace periods pass
    }
    rcu::Barrier();  // every batch sealed so far is past its grace period
    after_mix = Recycler::ForThisThread().KeptForTesting();
    for (std::uint64_t k = kMixed; k < kMixed + kErased; ++k) map.erase(k);
    kept = Recycler::ForThisThread().KeptForTesting();
  });
  writer.join();
  EXPECT_LE(kept, KeptAfterAnEraseLoop(kErased))
      << "kept " << after_mix << " nodes after the mixed phase";
  EXPECT_EQ(map.size(), 1u);
  rcu::Barrier();
}

// The same after a reader stalled while the thread updated: once the
// reader leaves, every batch is past its grace period, and an erase loop
// must not sit on them.
TEST(HashMapRecyclerTest, EraseLoopAfterAStalledReaderKeepsOnlyAFewBatches) {
  constexpr std::uint64_t kKeys = 100;
  constexpr std::uint64_t kErased = 8 * kRecyclerBatchSize;
  Map map;
  for (std::uint64_t k = 0; k < kKeys + kErased; ++k) map.insert({k, k});
  std::size_t after_stall = 0;
  std::size_t kept = 0;
  {
    rcu_test::ParkedReader reader;
    std::thread writer([&] {
      // Past the capacity, within the core's backlog limit (as in
      // KeptNodesAreBoundedWhileAReaderStalls).
      for (std::uint64_t i = 0; i < kCapacity + 4 * kRecyclerBatchSize; ++i) {
        map.insert_or_assign(i % kKeys, i);
      }
      reader.Release();
      rcu::Barrier();  // waits for the reader to leave: every batch is past its grace period
      after_stall = Recycler::ForThisThread().KeptForTesting();
      for (std::uint64_t k = kKeys; k < kKeys + kErased; ++k) map.erase(k);
      kept = Recycler::ForThisThread().KeptForTesting();
    });
    writer.join();
  }
  EXPECT_LE(kept, KeptAfterAnEraseLoop(kErased))
      << "kept " << after_stall << " nodes after the stall";
  EXPECT_EQ(map.size(), kKeys);
  rcu::Barrier();
}

// Nodes are counted by a stateless allocator, so the test sees every node
// the map (and the recycler) holds.
std::atomic<long> live_nodes{0};

template <typename T>
struct CountingAllocator {
  using value_type = T;
  using is_always_equal = std::true_type;
  using rcu_recycle_nodes = std::true_type;  // opts into reuse (hash_map_table.h)
  CountingAllocator() = default;
  template <typename U>
  CountingAllocator(const CountingAllocator<U>&) {}  // NOLINT: converting
  T* allocate(std::size_t n) {
    live_nodes.fetch_add(static_cast<long>(n));
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) {
    live_nodes.fetch_sub(static_cast<long>(n));
    std::allocator<T>().deallocate(p, n);
  }
  friend bool operator==(const CountingAllocator&, const CountingAllocator&) { return true; }
  friend bool operator!=(const CountingAllocator&, const CountingAllocator&) { return false; }
};
using CountedMap = rcu::HashMap<int, int, std::hash<int>, std::equal_to<int>,
                                CountingAllocator<std::pair<const int, int>>>;

TEST(HashMapRecyclerTest, ThreadExitFreesEveryKeptNode) {
  CountedMap map;
  for (int k = 0; k < 100; ++k) map.insert({k, k});
  rcu::Barrier();
  const long base = live_nodes.load();
  std::thread writer([&] {
    for (int i = 0; i < static_cast<int>(kCapacity + 1000); ++i) map.insert_or_assign(i % 100, i);
    rcu::Barrier();  // some batches ready, the newest still open
    for (int i = 0; i < 1000; ++i) map.insert_or_assign(i % 100, -i);
  });
  writer.join();
  rcu::Barrier();
  EXPECT_EQ(live_nodes.load(), base) << "nodes kept by an exited thread were not freed";
  for (int k = 0; k < 100; ++k) EXPECT_EQ(map.get(k), -(900 + k));
}

// A thread_local made before the recycler is destroyed after it; its
// destructor still writes. Those writes take the usual path, and nothing
// the recycler held is retired twice (ASan) or lost (the count).
struct WritesAtExit {
  CountedMap* map = nullptr;
  ~WritesAtExit() {
    if (map == nullptr) return;
    for (int i = 0; i < 3 * static_cast<int>(kRecyclerBatchSize); ++i) {
      map->insert_or_assign(i % 50, i);
    }
  }
};

TEST(HashMapRecyclerTest, WritesFromALaterThreadExitDestructorTakeTheUsualPath) {
  CountedMap map;
  for (int k = 0; k < 50; ++k) map.insert({k, k});
  rcu::Barrier();
  const long base = live_nodes.load();
  std::thread writer([&] {
    static thread_local WritesAtExit at_exit;  // constructed first, destroyed last
    at_exit.map = &map;
    for (int i = 0; i < 2000; ++i) map.insert_or_assign(i % 50, i);
  });
  writer.join();
  rcu::Barrier();
  EXPECT_EQ(live_nodes.load(), base);
  for (int k = 0; k < 50; ++k) {
    EXPECT_EQ(map.get(k), static_cast<int>(LastWritten(3 * kRecyclerBatchSize, 50, k)));
  }
}

// Values with destructors are destroyed after their grace period, as
// before: Barrier() still means every erased value is gone.
TEST(HashMapRecyclerTest, ValuesWithDestructorsAreDestroyedByBarrier) {
  static std::atomic<int> destroyed{0};
  struct Tracked {
    explicit Tracked(int v) : v(v) {}
    Tracked(const Tracked& other) : v(other.v) {}
    ~Tracked() { destroyed.fetch_add(1); }
    int v;
  };
  rcu::HashMap<int, Tracked> map;
  for (int k = 0; k < 10; ++k) map.try_emplace(k, k);
  rcu::Barrier();
  const int before = destroyed.load();
  for (int k = 0; k < 10; ++k) map.erase(k);
  rcu::Barrier();
  EXPECT_EQ(destroyed.load() - before, 10);
}

// A fork() child inherits the forking thread's kept nodes and their
// cookies, and goes on updating with correct results.
TEST(HashMapRecyclerTest, ChildOfForkGoesOnReusing) {
  if (RCU_INTERNAL_TSAN) GTEST_SKIP() << "ThreadSanitizer cannot start threads in a fork child";
  Map map;
  for (std::uint64_t k = 0; k < 512; ++k) map.insert({k, k});
  for (std::uint64_t i = 0; i < 5 * kRecyclerBatchSize; ++i) map.insert_or_assign(i % 512, i);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int bad = 0;
    for (std::uint64_t i = 0; i < 3 * kCapacity; ++i) map.insert_or_assign(i % 512, i);
    for (std::uint64_t k = 0; k < 512; ++k) {
      bad += map.get(k) != LastWritten(3 * kCapacity, 512, k);
    }
    rcu::Barrier();
    _exit(bad == 0 ? 0 : 3);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
