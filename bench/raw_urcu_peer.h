// bench/raw_urcu_peer.h: raw liburcu (memb flavor) as the benchmarks' peer.
//
// Measures what liburcu itself costs when used directly, with no wrapper: the
// read side inlined (raw_urcu_peer.cc is compiled with _LGPL_SOURCE), explicit
// thread registration, call_rcu() with an embedded rcu_head, and
// synchronize_rcu(). The RCU core's benchmarks (core_benchmarks.h) compare
// rcu::ReadGuard, rcu::Synchronize() and rcu::Retire() against these in the
// same run. Not run by itself: see bench/rcu_core_bench.cc, bench/showcase.cc
// and bench/callgrind_read_side.sh.
//
// This header deliberately includes no liburcu header, so that _LGPL_SOURCE
// and liburcu's inline functions stay inside raw_urcu_peer.cc.
#ifndef BENCH_RAW_URCU_PEER_H_
#define BENCH_RAW_URCU_PEER_H_

#include <cstdint>

#include "benchmark/benchmark.h"

namespace rcu_bench {

// urcu_memb_read_lock() + urcu_memb_read_unlock(), inlined.
void BM_RawUrcuEnterExit(benchmark::State& state);

// urcu_memb_read_lock() + rcu_dereference() of one pointer and a load through
// it + urcu_memb_read_unlock().
void BM_RawUrcuEnterDerefExit(benchmark::State& state);

// urcu_memb_call_rcu() of a freshly allocated 64-byte payload with an
// embedded rcu_head (no extra allocation, no backpressure); the callback
// deletes it. Ends with urcu_memb_barrier() outside the timed region.
void BM_RawCallRcu(benchmark::State& state);

// urcu_memb_synchronize_rcu().
void RawSynchronize();

// Queues `n` call_rcu()s of freshly allocated 64-byte payloads from the
// calling thread, as fast as it can: liburcu applies no backpressure.
void RawRetireBurst(std::int64_t n);

// urcu_memb_barrier(): waits for every queued call_rcu() callback.
void RawBarrier();

// call_rcu() callbacks queued by this file and not yet run.
std::uint64_t RawPendingCallbacks();

// Registers the calling thread with liburcu for as long as it lives, unless
// the thread already is registered (rcu::ReadGuard registers threads too, and
// liburcu forbids registering twice); then it does nothing.
class RawUrcuThread {
 public:
  RawUrcuThread();
  ~RawUrcuThread();
  RawUrcuThread(const RawUrcuThread&) = delete;
  RawUrcuThread& operator=(const RawUrcuThread&) = delete;

 private:
  bool registered_here_;
};

}  // namespace rcu_bench

// Instruction-count loops for bench/callgrind_read_side.sh: `n` read-side
// sections through inlined liburcu, without and with a dereference. The
// calling thread must be registered (RawUrcuThread). C names, so that
// callgrind's --toggle-collect can name them.
extern "C" void rcu_bench_raw_read_loop(long n);
extern "C" void rcu_bench_raw_read_deref_loop(long n);

#endif  // BENCH_RAW_URCU_PEER_H_
