// bench/naive_rcu_peer.cc: the update side of the textbook shared-counter
// RCU (see naive_rcu_peer.h).
#include "bench/naive_rcu_peer.h"

#include <sched.h>

#include <atomic>

#if defined(__SANITIZE_THREAD__)
#define RCU_BENCH_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RCU_BENCH_TSAN 1
#endif
#endif

namespace rcu_bench {
namespace {

// smp_mb(). ThreadSanitizer does not follow fences (GCC refuses them under
// -fsanitize=thread); there a sequentially consistent read-modify-write
// stands in (a full barrier on x86 as well), and TSan follows the counters'
// release decrements and acquire loads instead.
void FullFence() {
#ifdef RCU_BENCH_TSAN
  static std::atomic<int> fence_word{0};
  fence_word.fetch_add(0, std::memory_order_seq_cst);
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

}  // namespace

void NaiveRcu::Synchronize() {
  // Whatever the caller unpublished comes before the flips.
  FullFence();
  rcu::MutexLock lock(mu_);
  FlipAndWait();
  FlipAndWait();
}

void NaiveRcu::FlipAndWait() {
  const unsigned old_index = shared_.index.load(std::memory_order_relaxed);
  shared_.index.store(old_index ^ 1, std::memory_order_relaxed);
  // The flip, and everything before it, before the counter is read (pairs
  // with the readers' increment-then-fence).
  FullFence();
  for (int round = 0; shared_.counters[old_index].load(std::memory_order_acquire) != 0; ++round) {
    if (round >= 64) sched_yield();  // a reader about to leave: ask again at once
  }
  // The readers' sections before whatever the caller does next.
  FullFence();
}

}  // namespace rcu_bench
