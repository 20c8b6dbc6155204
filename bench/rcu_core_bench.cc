// bench/rcu_core_bench.cc: every benchmark of the RCU core, beside its peers.
//
// Measures (details in core_benchmarks.h):
//  - read_enter_exit/*, read_deref/*: rcu::ReadGuard against raw inlined
//    liburcu and std::shared_mutex at 1 and 2 threads; the CPU column is
//    the cost of one section to the thread running it (the Time column is
//    wall time over all threads' sections, an inverse throughput);
//  - synchronize/*: rcu::Synchronize() against synchronize_rcu() with idle
//    registered readers; counters median_us, p90_us, p99_us;
//  - retire/*: rcu::Retire() throughput from one thread against call_rcu()
//    and delete; retire_below_limit/*: the same in bursts that never hit
//    backpressure;
//  - retire_storm/*: peak RSS growth (peak_rss_growth_MiB) while one thread
//    retires --storm_objects 64-byte objects (default 20,000,000), with
//    backlog_waits and max_pending (sampled pending callbacks);
//  - retire_storm_slow_reader/*: the same for --slow_reader_storm_objects
//    (default 2,000,000) while another thread holds read-side sections of
//    --slow_reader_hold_ms (default 50) each, so reclamation lags.
//    --raw_storm=false skips the raw call_rcu() storms (about 100 bytes per
//    object pending).
//
// Run (always -c opt; on 2 cores compare ratios within one run):
//   bazel run -c opt //bench:rcu_core_bench
//   bazel run -c opt //bench:rcu_core_bench -- --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true      (one command line)
//   bazel run -c opt //bench:rcu_core_bench -- --benchmark_filter=retire_storm
//       --storm_objects=5000000 --raw_storm=false    (one command line)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bench/core_benchmarks.h"
#include "benchmark/benchmark.h"

namespace {

// If `arg` is `--<name>=<positive integer>`, stores the integer and returns
// true. Sets *bad on a malformed or non-positive value.
bool ParseIntFlag(const char* arg, const char* name, std::int64_t* value, bool* bad) {
  const std::string prefix = std::string("--") + name + "=";
  if (std::strncmp(arg, prefix.c_str(), prefix.size()) != 0) return false;
  char* end = nullptr;
  const long long n = std::strtoll(arg + prefix.size(), &end, 10);
  if (end == arg + prefix.size() || *end != '\0' || n <= 0) {
    std::fprintf(stderr, "rcu_core_bench: bad value in %s\n", arg);
    *bad = true;
  } else {
    *value = n;
  }
  return true;
}

// Consumes this binary's own flags from argv; returns false on a bad value.
bool ParseOwnFlags(int* argc, char** argv, rcu_bench::SuiteOptions* options) {
  int out = 1;
  bool bad = false;
  std::int64_t hold_ms = options->slow_reader_hold_ms;
  for (int i = 1; i < *argc; ++i) {
    const char* arg = argv[i];
    if (ParseIntFlag(arg, "storm_objects", &options->storm_objects, &bad) ||
        ParseIntFlag(arg, "slow_reader_storm_objects", &options->slow_reader_storm_objects, &bad) ||
        ParseIntFlag(arg, "slow_reader_hold_ms", &hold_ms, &bad)) {
      continue;
    }
    if (std::strcmp(arg, "--raw_storm=false") == 0) {
      options->raw_storm = false;
    } else if (std::strcmp(arg, "--raw_storm=true") == 0) {
      options->raw_storm = true;
    } else {
      argv[out++] = argv[i];
    }
  }
  options->slow_reader_hold_ms = static_cast<int>(hold_ms);
  *argc = out;
  return !bad;
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  rcu_bench::SuiteOptions options;
  if (!ParseOwnFlags(&argc, argv, &options)) return 1;
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
#ifndef NDEBUG
  std::fprintf(stderr,
               "rcu_core_bench: built without -c opt (NDEBUG is not defined); "
               "the numbers below are not meaningful\n");
#endif
  rcu_bench::AddRcuContext();
  rcu_bench::RegisterReadSideBenchmarks(options);
  rcu_bench::RegisterSynchronizeBenchmarks(options);
  rcu_bench::RegisterRetireBenchmarks(options);
  rcu_bench::RegisterRetireStormBenchmarks(options);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
