// Tests of the benchmarks' textbook RCU peer (bench/naive_rcu_peer.h): its
// Synchronize() must wait for the sections that began before it, or the
// peer's figures in bench/domain_bench.cc would be those of a broken RCU.
#include "bench/naive_rcu_peer.h"

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace rcu_bench {
namespace {

// On the heap: NaiveRcu is 64-byte aligned, which AddressSanitizer's fake
// stacks (detect_stack_use_after_return) do not honour.
std::unique_ptr<NaiveRcu> MakeNaiveRcu() { return std::make_unique<NaiveRcu>(); }

TEST(NaiveRcuTest, SynchronizeWaitsForASectionThatBeganBeforeIt) {
  const std::unique_ptr<NaiveRcu> owned = MakeNaiveRcu();
  NaiveRcu& rcu = *owned;
  std::atomic<bool> entered{false};
  std::atomic<bool> writer_started{false};
  std::atomic<bool> left{false};
  std::thread reader([&] {
    NaiveRcu::Guard guard(rcu);
    entered.store(true);
    while (!writer_started.load()) std::this_thread::yield();
    // Not synchronization: room for a Synchronize() that does not wait to
    // return while this section is still open, so that the test sees it.
    for (int i = 0; i < 1000; ++i) std::this_thread::yield();
    left.store(true);
  });
  while (!entered.load()) std::this_thread::yield();
  writer_started.store(true);
  rcu.Synchronize();
  EXPECT_TRUE(left.load()) << "Synchronize() returned while a section that began before it was "
                              "still open";
  reader.join();
}

TEST(NaiveRcuTest, SynchronizeWithoutReadersReturns) {
  const std::unique_ptr<NaiveRcu> owned = MakeNaiveRcu();
  NaiveRcu& rcu = *owned;
  rcu.Synchronize();
  { NaiveRcu::Guard guard(rcu); }
  rcu.Synchronize();
  rcu.Synchronize();
}

// Readers check, all through each section, that the node they reached is
// live; writers replace the published node, wait for readers, then mark the old
// node dead and put it back in a pool for reuse. A Synchronize() that
// returns early lets a reader see a dead node (and, under ThreadSanitizer,
// races the writer's plain write with the reader's plain read).
TEST(NaiveRcuTest, TortureNoReaderSeesANodeAfterItsGracePeriod) {
  constexpr int kLive = 0x11fe;
  constexpr int kDead = 0xdead;
  constexpr int kReaders = 2;
  constexpr int kWriters = 2;
  constexpr int kSectionsPerReader = 200000;
  constexpr int kMinUpdatesPerWriter = 3000;
  struct Node {
    int state = kDead;  // plain: written by writers, read by readers
  };

  const std::unique_ptr<NaiveRcu> owned = MakeNaiveRcu();
  NaiveRcu& rcu = *owned;
  // Dead nodes are reused oldest first, so each stays dead for a while.
  std::vector<Node> nodes(64);
  std::mutex pool_mu;
  std::deque<Node*> pool;  // guarded by pool_mu
  for (std::size_t i = 1; i < nodes.size(); ++i) pool.push_back(&nodes[i]);
  nodes[0].state = kLive;
  std::atomic<Node*> head{&nodes[0]};

  std::atomic<int> readers_started{0};
  std::atomic<int> readers_running{kReaders};
  std::atomic<std::int64_t> updates{0};
  std::atomic<std::int64_t> dead_seen{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&] {
      std::int64_t bad = 0;
      readers_started.fetch_add(1);
      for (int s = 0; s < kSectionsPerReader; ++s) {
        NaiveRcu::Guard guard(rcu);
        const Node* node = head.load(std::memory_order_acquire);
        // Reads the node again and again, for a section long enough that a
        // writer that does not wait marks it dead meanwhile.
        for (int i = 0; i < 100; ++i) {
          if (node->state != kLive) {
            ++bad;
            break;
          }
          asm volatile("" ::: "memory");  // read it again each time
        }
      }
      dead_seen.fetch_add(bad);
      readers_running.fetch_sub(1);
    });
  }
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&] {
      // Updates for as long as the readers read, and at least a few.
      while (readers_started.load() < kReaders) std::this_thread::yield();
      for (int i = 0; i < kMinUpdatesPerWriter || readers_running.load() > 0; ++i) {
        Node* next;
        {
          std::lock_guard<std::mutex> lock(pool_mu);
          next = pool.front();
          pool.pop_front();
        }
        next->state = kLive;
        Node* old = head.exchange(next, std::memory_order_acq_rel);
        rcu.Synchronize();
        old->state = kDead;
        std::lock_guard<std::mutex> lock(pool_mu);
        pool.push_back(old);
        updates.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(dead_seen.load(), 0) << "readers reached a node after its grace period";
  EXPECT_GE(updates.load(), kWriters * kMinUpdatesPerWriter);
}

}  // namespace
}  // namespace rcu_bench
