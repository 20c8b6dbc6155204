// bench/naive_rcu_peer.h: the textbook RCU whose readers all share one pair
// of counters, as a peer for rcu::Domain in bench/domain_bench.cc.
//
// This is the "starvation-free counter-based RCU" of McKenney's perfbook
// (toy implementations appendix, rcu_rcpg): every reader, on every thread,
// does an atomic increment of counters[index] on entry and an atomic
// decrement of the same counter on exit. Synchronize() flips `index`, so
// that new readers take the other counter, and waits for the old one to
// drain to zero; it flips and waits twice, because a reader may have read
// `index` just before a flip and increment the old counter just after the
// drain (the second flip-and-wait of the next grace period would otherwise
// miss it). Updaters are serialized by one mutex; no grace period is shared.
//
// It is correct and simple, and it is what rcu::Domain avoids: every read
// section is two atomic read-modify-writes on one cache line that all
// readers write, so readers on different cores bounce that line between
// them. rcu::Domain keeps per-thread counters instead (rcu/domain.h).
//
//   rcu_bench::NaiveRcu rcu;
//   std::atomic<Node*> head;
//
//   {                                   // reader, any thread
//     rcu_bench::NaiveRcu::Guard guard(rcu);
//     Use(head.load(std::memory_order_acquire));
//   }
//   Node* old = head.exchange(next);    // updater
//   rcu.Synchronize();                  // every reader of `old` has left
//   delete old;
//
// Synchronize() waits by spinning, then yielding the CPU (perfbook's toy
// sleeps 10 ms per poll instead): the lowest latency this design can have,
// paid for with the waiting thread's CPU. Calling Synchronize() inside a
// section of the same NaiveRcu waits forever. Sections may nest.
#ifndef BENCH_NAIVE_RCU_PEER_H_
#define BENCH_NAIVE_RCU_PEER_H_

#include <atomic>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "rcu/mutex.h"

namespace rcu_bench {

class NaiveRcu {
 public:
  NaiveRcu() = default;
  NaiveRcu(const NaiveRcu&) = delete;
  NaiveRcu& operator=(const NaiveRcu&) = delete;

  // Begins a read section; pass the result to ReadUnlock().
  unsigned ReadLock() {
    const unsigned index = shared_.index.load(std::memory_order_relaxed);
    shared_.counters[index].fetch_add(1, std::memory_order_seq_cst);
    FenceAfterAtomic();  // the section's reads come after the increment
    return index;
  }
  // Ends the section that ReadLock() returned `index` for.
  void ReadUnlock(unsigned index) {
    // Release: the section's reads come before the decrement, which a
    // Synchronize() that sees the counter drain reads with acquire.
    shared_.counters[index].fetch_sub(1, std::memory_order_release);
  }

  // Waits until every section that began before the call has ended.
  void Synchronize() ABSL_LOCKS_EXCLUDED(mu_);

  // RAII section.
  class Guard {
   public:
    explicit Guard(NaiveRcu& rcu) : rcu_(rcu), index_(rcu.ReadLock()) {}
    ~Guard() { rcu_.ReadUnlock(index_); }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

   private:
    NaiveRcu& rcu_;
    const unsigned index_;
  };

 private:
  // Linux's smp_mb__after_atomic(): on x86 a locked read-modify-write is
  // already a full barrier, so only the compiler is held back there.
  static void FenceAfterAtomic() {
#if defined(__x86_64__) || defined(__i386__)
    std::atomic_signal_fence(std::memory_order_seq_cst);
#else
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
  }

  // Flips the index and waits for the counter readers took before the flip.
  void FlipAndWait() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // What every reader touches, on one cache line, as the textbook's globals.
  struct alignas(64) Shared {
    std::atomic<unsigned> index{0};  // read by anyone, written only under mu_
    std::atomic<std::int64_t> counters[2] = {};
  };
  Shared shared_;
  rcu::Mutex mu_;  // serializes Synchronize() (a std::mutex, annotated)
};

}  // namespace rcu_bench

#endif  // BENCH_NAIVE_RCU_PEER_H_
