// Tests of the benchmarks' libcds peer (bench/libcds_peer.h): a map that
// loses entries, or a thread that uses libcds without being attached, would
// make the peer's figures in bench/hash_map_bench.cc those of a broken map.
#include "bench/libcds_peer.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace rcu_bench {
namespace {

// The runtime for the whole test program, as a benchmark's main() holds it.
class LibcdsEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { runtime_ = std::make_unique<LibcdsRuntime>(); }
  void TearDown() override { runtime_.reset(); }

 private:
  std::unique_ptr<LibcdsRuntime> runtime_;
};

[[maybe_unused]] ::testing::Environment* const environment =
    ::testing::AddGlobalTestEnvironment(new LibcdsEnvironment);

constexpr std::uint64_t Key(std::uint64_t i) { return i * 0x9e3779b97f4a7c15ULL + 1; }

TEST(LibcdsMapTest, InsertLookupAssignErase) {
  LibcdsMap map(16);
  EXPECT_EQ(map.Lookup(Key(1)), 0u);
  map.Insert(Key(1), 10);
  EXPECT_EQ(map.Lookup(Key(1)), 10u);
  map.Insert(Key(1), 11);  // present: unchanged
  EXPECT_EQ(map.Lookup(Key(1)), 10u);
  map.Assign(Key(1), 12);
  EXPECT_EQ(map.Lookup(Key(1)), 12u);
  map.Assign(Key(2), 20);  // absent: inserted
  EXPECT_EQ(map.Lookup(Key(2)), 20u);
  map.Erase(Key(1));
  EXPECT_EQ(map.Lookup(Key(1)), 0u);
  EXPECT_EQ(map.Lookup(Key(2)), 20u);
  LibcdsBarrier();
}

// Two threads, each attached on its first call and detached when it exits,
// insert, find and erase in one map: each its own keys, then each checks the
// other's.
TEST(LibcdsMapTest, TwoThreadsInsertFindErase) {
  constexpr std::uint64_t kPerThread = 20000;  // more than the RCU buffer of 256
  LibcdsMap map(1024);                         // small: the split list grows while both insert
  std::atomic<int> inserted{0};
  std::atomic<int> erased{0};
  std::atomic<std::uint64_t> wrong{0};
  auto worker = [&](std::uint64_t self) {
    const std::uint64_t other = 1 - self;
    for (std::uint64_t i = 0; i < kPerThread; ++i) map.Insert(Key(2 * i + self), i + 1);
    inserted.fetch_add(1);
    while (inserted.load() < 2) std::this_thread::yield();
    for (std::uint64_t i = 0; i < kPerThread; ++i) {
      if (map.Lookup(Key(2 * i + other)) != i + 1) wrong.fetch_add(1);
    }
    // Erase the odd-indexed half of our own keys while the other thread does.
    for (std::uint64_t i = 1; i < kPerThread; i += 2) map.Erase(Key(2 * i + self));
    erased.fetch_add(1);
    while (erased.load() < 2) std::this_thread::yield();
    for (std::uint64_t i = 0; i < kPerThread; ++i) {
      const std::uint64_t expected = i % 2 == 1 ? 0 : i + 1;
      if (map.Lookup(Key(2 * i + other)) != expected) wrong.fetch_add(1);
    }
  };
  std::thread a(worker, 0);
  std::thread b(worker, 1);
  a.join();
  b.join();
  EXPECT_EQ(wrong.load(), 0u);
  for (std::uint64_t i = 0; i < 2 * kPerThread; ++i) {
    const std::uint64_t index = i / 2;
    ASSERT_EQ(map.Lookup(Key(i)), index % 2 == 1 ? 0 : index + 1) << i;
  }
  LibcdsBarrier();
}

// A reader looks up stable keys while a writer assigns new values to them
// and erases and reinserts others: every stable lookup hits and sees a value
// that some Assign wrote.
TEST(LibcdsMapTest, ReaderBesideWriter) {
  constexpr std::uint64_t kStable = 1000;
  constexpr std::uint64_t kChurn = 1000;
  LibcdsMap map(kStable + kChurn);
  for (std::uint64_t i = 0; i < kStable + kChurn; ++i) map.Insert(Key(i), 1);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::uint64_t version = 1;
    while (!stop.load(std::memory_order_relaxed)) {
      version += 2;
      for (std::uint64_t i = 0; i < kStable; i += 7) map.Assign(Key(i), version);
      for (std::uint64_t i = kStable; i < kStable + kChurn; ++i) map.Erase(Key(i));
      for (std::uint64_t i = kStable; i < kStable + kChurn; ++i) map.Insert(Key(i), version);
    }
  });
  std::uint64_t misses = 0;
  std::uint64_t even = 0;
  std::thread reader([&] {
    for (int round = 0; round < 200; ++round) {
      for (std::uint64_t i = 0; i < kStable; ++i) {
        const std::uint64_t value = map.Lookup(Key(i));
        misses += value == 0;
        even += value % 2 == 0;  // every value written is odd
      }
    }
  });
  reader.join();
  stop.store(true);
  writer.join();
  EXPECT_EQ(misses, 0u);
  EXPECT_EQ(even, 0u);
}

}  // namespace
}  // namespace rcu_bench
