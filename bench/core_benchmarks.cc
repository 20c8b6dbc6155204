// bench/core_benchmarks.cc: the RCU core's benchmarks and their peers.
//
// Measures rcu::ReadGuard (enter+exit, and with one RcuPtr dereference),
// rcu::Synchronize() latency, rcu::Retire() throughput and a retire storm's
// peak memory, each beside its peers (raw inlined liburcu from
// raw_urcu_peer.cc, std::shared_mutex, plain delete). See core_benchmarks.h.
//
//   bazel run -c opt //bench:rcu_core_bench
//   bazel run -c opt //bench:rcu_core_bench -- --benchmark_filter=read_
#include "bench/core_benchmarks.h"

#include <malloc.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "bench/bench_util.h"
#include "bench/naive_rcu_peer.h"
#include "bench/raw_urcu_peer.h"
#include "benchmark/benchmark.h"
#include "rcu/call_rcu.h"
#include "rcu/grace_period.h"
#include "rcu/rcu_ptr.h"
#include "rcu/read_guard.h"
#include "rcu/stats.h"

namespace rcu_bench {
namespace {

// --- Read side ----------------------------------------------------------------

struct Target {
  int value;
};

alignas(64) Target target{42};
alignas(64) rcu::RcuPtr<Target> target_ptr(&target);
alignas(64) std::shared_mutex shared_mu;
alignas(64) Target* locked_target_ptr = &target;  // read under shared_mu

void BM_ReadGuardEnterExit(benchmark::State& state) {
  { rcu::ReadGuard registers_this_thread; }  // untimed
  for (auto _ : state) {
    rcu::ReadGuard guard;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_ReadGuardEnterDerefExit(benchmark::State& state) {
  { rcu::ReadGuard registers_this_thread; }
  for (auto _ : state) {
    rcu::ReadGuard guard;
    benchmark::DoNotOptimize(target_ptr.Dereference(guard)->value);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_SharedMutexEnterExit(benchmark::State& state) {
  for (auto _ : state) {
    shared_mu.lock_shared();
    shared_mu.unlock_shared();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_SharedMutexEnterDerefExit(benchmark::State& state) {
  for (auto _ : state) {
    shared_mu.lock_shared();
    benchmark::DoNotOptimize(locked_target_ptr->value);
    shared_mu.unlock_shared();
  }
  state.SetItemsProcessed(state.iterations());
}

alignas(64) NaiveRcu naive_rcu;

void BM_NaiveEnterExit(benchmark::State& state) {
  for (auto _ : state) {
    NaiveRcu::Guard guard(naive_rcu);
  }
  state.SetItemsProcessed(state.iterations());
}

// --- Grace periods ---------------------------------------------------------

// Times each call separately; the benchmark's own time is the mean, the
// counters give the median and tail of the per-call distribution.
void SynchronizeLatency(benchmark::State& state, void (*synchronize)()) {
  IdleReaders readers(static_cast<int>(state.range(0)));
  std::vector<double> micros;
  micros.reserve(static_cast<std::size_t>(state.max_iterations));
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    synchronize();
    const std::chrono::duration<double, std::micro> elapsed =
        std::chrono::steady_clock::now() - start;
    micros.push_back(elapsed.count());
  }
  state.counters["median_us"] = Quantile(micros, 0.5);
  state.counters["p90_us"] = Quantile(micros, 0.9);
  state.counters["p99_us"] = Quantile(micros, 0.99);
}

// --- Reclamation -----------------------------------------------------------

struct Payload {
  char bytes[64];
};
static_assert(sizeof(Payload) == 64, "64-byte objects");

struct RcuPayload : rcu::RcuObjBase<RcuPayload> {
  char bytes[64];
};

std::uint64_t RcuPendingCallbacks() {
  const rcu::Stats stats = rcu::GetStats();
  return stats.callbacks_queued - stats.callbacks_invoked;
}

void BM_Retire(benchmark::State& state) {
  rcu::Barrier();  // start with an empty queue; untimed
  const std::uint64_t waits_before = rcu::GetStats().backlog_waits;
  for (auto _ : state) {
    rcu::Retire(new Payload);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["backlog_waits"] =
      static_cast<double>(rcu::GetStats().backlog_waits - waits_before);
  rcu::Barrier();  // untimed: the loop has ended
}

void BM_RetireRcuObj(benchmark::State& state) {
  rcu::Barrier();
  const std::uint64_t waits_before = rcu::GetStats().backlog_waits;
  for (auto _ : state) {
    rcu::Retire(new RcuPayload);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["backlog_waits"] =
      static_cast<double>(rcu::GetStats().backlog_waits - waits_before);
  rcu::Barrier();
}

void BM_Delete(benchmark::State& state) {
  for (auto _ : state) {
    // const: DoNotOptimize only reads it. (The read-write overload, under
    // GCC 12 with ASan's fake stack, made delete see a stale copy and leak.)
    Payload* const payload = new Payload;
    benchmark::DoNotOptimize(payload);
    delete payload;
  }
  state.SetItemsProcessed(state.iterations());
}

std::map<std::string, std::vector<MemorySample>>& StormSeriesByName() {
  static auto* series = new std::map<std::string, std::vector<MemorySample>>;
  return *series;
}

void RcuRetireBurst(std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) rcu::Retire(new Payload);
}

// range(0): objects to retire; range(1): if not 0, a SlowReader holds
// read-side sections of that many milliseconds meanwhile.
void RetireStorm(benchmark::State& state, const char* name, void (*burst)(std::int64_t),
                 std::function<std::uint64_t()> pending, void (*barrier)()) {
  const std::int64_t n = state.range(0);
  const int hold_ms = static_cast<int>(state.range(1));
  barrier();
  malloc_trim(0);  // so that the storm cannot hide in memory freed earlier
  std::unique_ptr<SlowReader> slow_reader;
  if (hold_ms > 0) slow_reader = std::make_unique<SlowReader>(hold_ms);
  const rcu::Stats before = rcu::GetStats();
  MemorySampler sampler(std::move(pending), /*period_ms=*/2);
  for (auto _ : state) {
    burst(n);
  }
  slow_reader.reset();
  barrier();  // untimed, but still sampled: memory is freed while it drains
  sampler.Stop();
  const rcu::Stats after = rcu::GetStats();
  state.SetItemsProcessed(n * static_cast<std::int64_t>(state.iterations()));
  state.counters["peak_rss_growth_MiB"] = KiBToMiB(sampler.peak_growth_kib());
  state.counters["baseline_rss_MiB"] = KiBToMiB(sampler.baseline_rss_kib());
  state.counters["max_pending"] = static_cast<double>(sampler.max_pending());
  state.counters["backlog_waits"] = static_cast<double>(after.backlog_waits - before.backlog_waits);
  state.counters["backlog_limit"] = static_cast<double>(rcu::CallbackBacklogLimit());
  if (!sampler.hwm_was_reset()) state.SetLabel("VmHWM not resettable; sampled RSS only");
  StormSeriesByName()[name] = sampler.series();
}

// --- Registration ----------------------------------------------------------

benchmark::internal::Benchmark* Apply(const SuiteOptions& options,
                                      benchmark::internal::Benchmark* b) {
  if (options.min_time > 0) b->MinTime(options.min_time);
  if (options.repetitions > 0) {
    b->Repetitions(options.repetitions)->ReportAggregatesOnly(true);
  }
  return b;
}

}  // namespace

void RegisterReadSideBenchmarks(const SuiteOptions& options) {
  struct Peer {
    const char* name;
    void (*fn)(benchmark::State&);
  };
  const Peer peers[] = {
      {kEnterExitReadGuard, &BM_ReadGuardEnterExit},
      {kEnterExitRawUrcu, &BM_RawUrcuEnterExit},
      {kEnterExitSharedMutex, &BM_SharedMutexEnterExit},
      {kEnterExitNaive, &BM_NaiveEnterExit},
      {kDerefReadGuard, &BM_ReadGuardEnterDerefExit},
      {kDerefRawUrcu, &BM_RawUrcuEnterDerefExit},
      {kDerefSharedMutex, &BM_SharedMutexEnterDerefExit},
  };
  // All peers at one thread count, then all at the next, so that peers
  // compared with each other run close together in time. Timed by CPU time:
  // these loops never block, so each thread's CPU time per operation is its
  // cost per read-side section (cache-line contention included), and unlike
  // wall time it does not count time the thread spent descheduled on a
  // shared 2-core machine.
  for (int threads : {1, 2}) {
    for (const Peer& peer : peers) {
      Apply(options, benchmark::RegisterBenchmark(peer.name, peer.fn)
                         ->Threads(threads)
                         ->Unit(benchmark::kNanosecond));
    }
  }
}

void RegisterSynchronizeBenchmarks(const SuiteOptions& options) {
  const std::pair<const char*, void (*)()> peers[] = {
      {kSynchronizeRcu, &rcu::Synchronize},
      {kSynchronizeRaw, &RawSynchronize},
  };
  for (const auto& [name, synchronize] : peers) {
    Apply(options, benchmark::RegisterBenchmark(name, &SynchronizeLatency, synchronize)
                       ->ArgName("idle_readers")
                       ->Arg(options.idle_readers)
                       ->UseRealTime()
                       ->Unit(benchmark::kMicrosecond));
  }
}

void RegisterRetireBenchmarks(const SuiteOptions& options) {
  const std::pair<const char*, void (*)(benchmark::State&)> peers[] = {
      {kRetireRcu, &BM_Retire},
      {kRetireRcuObj, &BM_RetireRcuObj},
      {kRetireRaw, &BM_RawCallRcu},
      {kRetireDelete, &BM_Delete},
  };
  SuiteOptions retire_options = options;
  if (options.retire_min_time > 0) retire_options.min_time = options.retire_min_time;
  for (const auto& [name, fn] : peers) {
    Apply(retire_options,
          benchmark::RegisterBenchmark(name, fn)->UseRealTime()->Unit(benchmark::kNanosecond));
  }
  if (!options.below_limit_bursts) return;
  // Bursts of 90% of the backlog limit, each starting with an empty queue:
  // rcu::Retire() never waits for the worker here, so this is its cost to
  // the caller alone.
  const auto burst = static_cast<benchmark::IterationCount>(rcu::CallbackBacklogLimit() / 10 * 9);
  const std::pair<const char*, void (*)(benchmark::State&)> bursts[] = {
      {kRetireBurstRcu, &BM_Retire},
      {kRetireBurstRaw, &BM_RawCallRcu},
  };
  for (const auto& [name, fn] : bursts) {
    benchmark::RegisterBenchmark(name, fn)
        ->Iterations(burst)
        ->Repetitions(options.repetitions > 0 ? options.repetitions : 20)
        ->ReportAggregatesOnly(true)
        ->UseRealTime()
        ->Unit(benchmark::kNanosecond);
  }
}

void RegisterRetireStormBenchmarks(const SuiteOptions& options) {
  struct Storm {
    const char* name;
    void (*burst)(std::int64_t);
    std::uint64_t (*pending)();
    void (*barrier)();
    std::int64_t objects;
    int hold_ms;
  };
  const Storm storms[] = {
      {kStormRcu, &RcuRetireBurst, &RcuPendingCallbacks, &rcu::Barrier, options.storm_objects, 0},
      {kStormRaw, &RawRetireBurst, &RawPendingCallbacks, &RawBarrier,
       options.raw_storm ? options.storm_objects : 0, 0},
      {kSlowStormRcu, &RcuRetireBurst, &RcuPendingCallbacks, &rcu::Barrier,
       options.slow_reader_storm_objects, options.slow_reader_hold_ms},
      {kSlowStormRaw, &RawRetireBurst, &RawPendingCallbacks, &RawBarrier,
       options.raw_storm ? options.slow_reader_storm_objects : 0, options.slow_reader_hold_ms},
  };
  for (const Storm& storm : storms) {
    if (storm.objects <= 0) continue;
    benchmark::RegisterBenchmark(storm.name, &RetireStorm, storm.name, storm.burst,
                                 std::function<std::uint64_t()>(storm.pending), storm.barrier)
        ->ArgNames({"objects", "reader_hold_ms"})
        ->Args({storm.objects, storm.hold_ms})
        ->Iterations(1)
        ->Repetitions(1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
}

const std::vector<MemorySample>* StormSeries(const std::string& name) {
  auto it = StormSeriesByName().find(name);
  return it == StormSeriesByName().end() ? nullptr : &it->second;
}

const char* ReadSideMode() {
  // rcu/internal/urcu.h decides; read_guard.h includes it.
#if RCU_INTERNAL_INLINE_READ_SIDE
  return "inline";
#else
  return "call";
#endif
}

void AddRcuContext() {
  benchmark::AddCustomContext(
      "rcu_read_side",
      std::string(ReadSideMode()) +
          (RCU_INTERNAL_INLINE_READ_SIDE
               ? " (liburcu's read side inlined, _LGPL_SOURCE)"
               : " (calls into liburcu; not the default build, ReadGuard numbers are "
                 "not representative)"));
  benchmark::AddCustomContext("rcu_callback_backlog_limit",
                              std::to_string(rcu::CallbackBacklogLimit()));
}

}  // namespace rcu_bench
