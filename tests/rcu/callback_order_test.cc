// The ordering promises of rcu/call_rcu.h, against the callback worker's own
// hand-overs racing with the threads that retire:
//  - one thread's callbacks run in the order it queued them, whichever way
//    each was queued (batched Retire, Retire with a stateful deleter,
//    CallRcu, RcuObjBase), while the worker hands over partial retire blocks
//    as often as it can (a quick check: the race it looks for is narrow, and
//    stress/callback_torture_test is the one that finds it every time);
//  - Barrier() waits for every callback queued before it, including those of
//    threads that exited just before it (their partial blocks are handed
//    over as they exit).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/internal/retire_buffer.h"
#include "rcu/stats.h"

namespace {

// Restores the worker's flush delay when a test ends.
class FlushDelay {
 public:
  explicit FlushDelay(std::chrono::nanoseconds delay) : saved_(rcu::internal::RetireFlushDelay()) {
    rcu::internal::SetRetireFlushDelayForTesting(delay);
  }
  ~FlushDelay() { rcu::internal::SetRetireFlushDelayForTesting(saved_); }

 private:
  std::chrono::nanoseconds saved_;
};

constexpr int kProducers = 4;

// What each producer's callbacks record as they run: the last sequence
// number seen, and how often one ran out of order.
struct OrderLog {
  std::atomic<std::int64_t> last[kProducers];
  std::atomic<std::int64_t> out_of_order{0};
  std::atomic<std::int64_t> ran{0};

  OrderLog() {
    for (auto& l : last) l.store(-1);
  }
  void Ran(int producer, std::int64_t seq) {
    const std::int64_t previous = last[producer].exchange(seq);
    if (previous + 1 != seq) out_of_order.fetch_add(1);
    ran.fetch_add(1);
  }
};

OrderLog* order_log = nullptr;

struct Numbered {
  int producer;
  std::int64_t seq;
};

// A stateless deleter: Retire() batches these in the thread's retire block.
struct RecordAndDelete {
  void operator()(Numbered* n) const {
    order_log->Ran(n->producer, n->seq);
    delete n;
  }
};

struct NumberedObj : rcu::RcuObjBase<NumberedObj> {
  NumberedObj(int p, std::int64_t s) : producer(p), seq(s) {}
  ~NumberedObj() { order_log->Ran(producer, seq); }
  int producer;
  std::int64_t seq;
};

TEST(CallbackOrderTest, OneThreadsCallbacksRunInQueueingOrder) {
  FlushDelay flush_constantly(std::chrono::nanoseconds(0));
  OrderLog log;
  order_log = &log;
  constexpr std::int64_t kPerProducer = 100000;
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([p] {
      std::uint64_t rng = 0x9e3779b97f4a7c15u * (p + 1);
      for (std::int64_t seq = 0; seq < kPerProducer; ++seq) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Mostly batched retirements, so that a partial block is usually
        // waiting when another kind of callback is queued.
        switch (rng % 8) {
          case 0:
            rcu::CallRcu([p, seq] { order_log->Ran(p, seq); });
            break;
          case 1: {
            auto* n = new Numbered{p, seq};
            const std::string tag = "stateful";  // the deleter has state
            rcu::Retire(n, [tag](Numbered* x) {
              order_log->Ran(x->producer, x->seq);
              delete x;
            });
            break;
          }
          case 2:
            rcu::Retire(new NumberedObj(p, seq));
            break;
          default:
            rcu::Retire(new Numbered{p, seq}, RecordAndDelete());
            break;
        }
      }
    });
  }
  for (std::thread& t : producers) t.join();
  rcu::Barrier();
  std::printf("callbacks run: %lld, out of order: %lld\n", static_cast<long long>(log.ran.load()),
              static_cast<long long>(log.out_of_order.load()));
  EXPECT_EQ(log.ran.load(), kProducers * kPerProducer);
  EXPECT_EQ(log.out_of_order.load(), 0);
  order_log = nullptr;
}

std::atomic<std::int64_t> reclaimed{0};

struct Counted {
  ~Counted() { reclaimed.fetch_add(1, std::memory_order_relaxed); }
};

// Threads retire a few objects (a partial block), count them, and exit; other
// threads read the count, call Barrier() and check that everything counted
// before it was reclaimed.
TEST(CallbackOrderTest, BarrierWaitsForBlocksOfThreadsThatJustExited) {
  // The worker must not hand the blocks over first: only the thread exit
  // and Barrier() itself may.
  FlushDelay never(std::chrono::hours(1));
  rcu::Barrier();
  reclaimed.store(0);
  std::atomic<std::int64_t> retired{0};
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> early{0}, barriers{0};
  std::vector<std::thread> checkers;
  for (int i = 0; i < 2; ++i) {
    checkers.emplace_back([&] {
      while (!stop.load()) {
        const std::int64_t before = retired.load();
        rcu::Barrier();
        if (reclaimed.load() < before) early.fetch_add(1);
        barriers.fetch_add(1);
      }
    });
  }
  constexpr int kThreads = 3000;
  for (int i = 0; i < kThreads; ++i) {
    std::thread([&] {
      for (int j = 0; j < 5; ++j) rcu::Retire(new Counted);
      retired.fetch_add(5);
    }).join();
  }
  stop.store(true);
  for (std::thread& t : checkers) t.join();
  rcu::Barrier();
  std::printf("%lld barriers; %lld returned before earlier retirements were reclaimed\n",
              static_cast<long long>(barriers.load()), static_cast<long long>(early.load()));
  EXPECT_EQ(early.load(), 0);
  EXPECT_EQ(reclaimed.load(), retired.load());
}

}  // namespace
