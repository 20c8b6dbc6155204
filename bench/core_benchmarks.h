// bench/core_benchmarks.h: the RCU core's benchmarks, each beside its peers.
//
// Measures, always against peers in the same run so that ratios hold even
// where absolute times drift:
//  - read side: rcu::ReadGuard enter+exit, and enter + RcuPtr::Dereference +
//    exit, against raw inlined liburcu (raw_urcu_peer.h) and
//    std::shared_mutex, at 1 and 2 threads;
//  - grace periods: rcu::Synchronize() latency with idle registered readers
//    (median and p99 from a per-call histogram) against raw synchronize_rcu();
//  - reclamation: rcu::Retire() throughput from one thread against raw
//    call_rcu() and plain delete, with the barrier outside the timed region;
//  - a retire storm: peak RSS growth while one thread retires millions of
//    64-byte objects, with rcu::GetStats().backlog_waits, against raw
//    call_rcu(), which has no backpressure; and the same while a slow reader
//    holds up every grace period, where that difference shows.
//
// Binaries register what they need and run it:
//   bazel run -c opt //bench:rcu_core_bench   (everything, full size)
//   bazel run -c opt //bench:showcase         (a short subset and a ratio table)
#ifndef BENCH_CORE_BENCHMARKS_H_
#define BENCH_CORE_BENCHMARKS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "bench/bench_util.h"

namespace rcu_bench {

// Benchmark names (the part before "/threads:" etc.), for reporters that
// pick results out of a run (bench/showcase.cc).
inline constexpr char kEnterExitReadGuard[] = "read_enter_exit/ReadGuard";
inline constexpr char kEnterExitRawUrcu[] = "read_enter_exit/raw_liburcu";
inline constexpr char kEnterExitSharedMutex[] = "read_enter_exit/shared_mutex";
// The textbook RCU whose readers share one counter (bench/naive_rcu_peer.h).
inline constexpr char kEnterExitNaive[] = "read_enter_exit/naive_one_counter";
inline constexpr char kDerefReadGuard[] = "read_deref/ReadGuard";
inline constexpr char kDerefRawUrcu[] = "read_deref/raw_liburcu";
inline constexpr char kDerefSharedMutex[] = "read_deref/shared_mutex";
inline constexpr char kSynchronizeRcu[] = "synchronize/rcu_Synchronize";
inline constexpr char kSynchronizeRaw[] = "synchronize/raw_synchronize_rcu";
inline constexpr char kRetireRcu[] = "retire/rcu_Retire";
inline constexpr char kRetireRcuObj[] = "retire/rcu_Retire_RcuObjBase";
inline constexpr char kRetireRaw[] = "retire/raw_call_rcu";
inline constexpr char kRetireDelete[] = "retire/delete";
inline constexpr char kRetireBurstRcu[] = "retire_below_limit/rcu_Retire";
inline constexpr char kRetireBurstRaw[] = "retire_below_limit/raw_call_rcu";
inline constexpr char kStormRcu[] = "retire_storm/rcu_Retire";
inline constexpr char kStormRaw[] = "retire_storm/raw_call_rcu";
inline constexpr char kSlowStormRcu[] = "retire_storm_slow_reader/rcu_Retire";
inline constexpr char kSlowStormRaw[] = "retire_storm_slow_reader/raw_call_rcu";

struct SuiteOptions {
  // Minimum seconds per benchmark; 0 leaves it to --benchmark_min_time.
  double min_time = 0;
  // The same for the sustained retire/* benchmarks, whose rate moves in
  // steps of the worker's batches (one per grace period plus 10 ms); 0: as
  // min_time.
  double retire_min_time = 0;
  // Repetitions with only aggregates (mean, median, ...) reported; 0 leaves
  // it to --benchmark_repetitions.
  int repetitions = 0;
  // Registered, idle reader threads while Synchronize() is timed.
  int idle_readers = 2;
  // Objects retired by one thread in a retire storm; 0: no such storm.
  std::int64_t storm_objects = 20'000'000;
  // Objects retired in a storm while a slow reader holds read-side sections
  // of slow_reader_hold_ms each, so that reclamation lags; 0: no such storm.
  std::int64_t slow_reader_storm_objects = 2'000'000;
  int slow_reader_hold_ms = 50;
  // Also run the storms through raw call_rcu(), which has no backpressure:
  // every object not yet reclaimed (about 100 bytes each) stays allocated.
  bool raw_storm = true;
  // Also measure rcu::Retire() in bursts below the backlog limit, where it
  // never waits for the worker.
  bool below_limit_bursts = true;
};

// Each registers its benchmarks, in the order they will run.
void RegisterReadSideBenchmarks(const SuiteOptions& options);
void RegisterSynchronizeBenchmarks(const SuiteOptions& options);
void RegisterRetireBenchmarks(const SuiteOptions& options);
void RegisterRetireStormBenchmarks(const SuiteOptions& options);

// The memory samples (every 2 ms) of the last run of retire storm `name`
// (kSlowStormRcu, ...), or nullptr if it has not run. For charts.
const std::vector<MemorySample>* StormSeries(const std::string& name);

// How rcu::ReadGuard reaches liburcu in this build: "inline" (the default,
// _LGPL_SOURCE) or "call" (--define=rcu_lgpl_inline=false, or TSan).
const char* ReadSideMode();

// Adds the read-side mode and the backlog limit to the benchmark context.
void AddRcuContext();

}  // namespace rcu_bench

#endif  // BENCH_CORE_BENCHMARKS_H_
