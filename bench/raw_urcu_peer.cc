// bench/raw_urcu_peer.cc: the raw liburcu peers of the RCU core's benchmarks.
//
// Measures liburcu's memb flavor used directly: inlined read-side sections,
// call_rcu() and synchronize_rcu(). Compiled with _LGPL_SOURCE, so that
// urcu_memb_read_lock()/urcu_memb_read_unlock() and rcu_dereference() are
// inlined into the loops below, the fastest way liburcu can be used. (This
// file is part of the benchmarks only; like the library's default build it
// inlines LGPL code, see README.md, "License".)
//
// Run through bench/rcu_core_bench.cc or bench/showcase.cc:
//   bazel run -c opt //bench:rcu_core_bench -- --benchmark_filter=raw
#define _LGPL_SOURCE
#include "bench/raw_urcu_peer.h"

#include <urcu/urcu-memb.h>

#include <atomic>
#include <cstdint>

#include "benchmark/benchmark.h"

namespace rcu_bench {
namespace {

struct Target {
  int value;
};

Target raw_target{42};
Target* raw_target_ptr = &raw_target;  // read through rcu_dereference()

// A 64-byte payload with liburcu's queue link embedded.
struct RawPayload {
  rcu_head head;
  char bytes[64];
};
static_assert(offsetof(RawPayload, head) == 0, "the callback casts back");

void DeleteRawPayload(rcu_head* head) { delete reinterpret_cast<RawPayload*>(head); }

// Counts for RawPendingCallbacks(); used by the storm only, so that the
// throughput peer pays for nothing it would not pay in real use.
std::atomic<std::uint64_t> storm_queued{0};
std::atomic<std::uint64_t> storm_invoked{0};

void DeleteCountedRawPayload(rcu_head* head) {
  delete reinterpret_cast<RawPayload*>(head);
  storm_invoked.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

RawUrcuThread::RawUrcuThread() : registered_here_(!URCU_TLS(urcu_memb_reader).registered) {
  if (registered_here_) urcu_memb_register_thread();
}

RawUrcuThread::~RawUrcuThread() {
  if (registered_here_) urcu_memb_unregister_thread();
}

void BM_RawUrcuEnterExit(benchmark::State& state) {
  RawUrcuThread thread;
  for (auto _ : state) {
    urcu_memb_read_lock();
    urcu_memb_read_unlock();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RawUrcuEnterDerefExit(benchmark::State& state) {
  RawUrcuThread thread;
  for (auto _ : state) {
    urcu_memb_read_lock();
    benchmark::DoNotOptimize(rcu_dereference(raw_target_ptr)->value);
    urcu_memb_read_unlock();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RawCallRcu(benchmark::State& state) {
  RawUrcuThread thread;
  for (auto _ : state) {
    auto* payload = new RawPayload;
    urcu_memb_call_rcu(&payload->head, &DeleteRawPayload);
  }
  state.SetItemsProcessed(state.iterations());
  urcu_memb_barrier();  // untimed: the loop above has ended
}

void RawSynchronize() { urcu_memb_synchronize_rcu(); }

void RawRetireBurst(std::int64_t n) {
  RawUrcuThread thread;
  for (std::int64_t i = 0; i < n; ++i) {
    auto* payload = new RawPayload;
    storm_queued.fetch_add(1, std::memory_order_relaxed);
    urcu_memb_call_rcu(&payload->head, &DeleteCountedRawPayload);
  }
}

void RawBarrier() {
  RawUrcuThread thread;
  urcu_memb_barrier();
}

std::uint64_t RawPendingCallbacks() {
  const std::uint64_t invoked = storm_invoked.load(std::memory_order_relaxed);
  return storm_queued.load(std::memory_order_relaxed) - invoked;
}

}  // namespace rcu_bench

extern "C" __attribute__((noinline)) void rcu_bench_raw_read_loop(long n) {
  for (long i = 0; i < n; ++i) {
    urcu_memb_read_lock();
    urcu_memb_read_unlock();
  }
}

extern "C" __attribute__((noinline)) void rcu_bench_raw_read_deref_loop(long n) {
  for (long i = 0; i < n; ++i) {
    urcu_memb_read_lock();
    benchmark::DoNotOptimize(rcu_dereference(rcu_bench::raw_target_ptr)->value);
    urcu_memb_read_unlock();
  }
}
