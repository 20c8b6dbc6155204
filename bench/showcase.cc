// bench/showcase.cc: the RCU core against its peers in well under a minute,
// ending with a table of ratios.
//
// Measures, in one run (a short subset of bench/rcu_core_bench.cc):
//  - read side at 1 and 2 threads: rcu::ReadGuard enter+exit, and with one
//    RcuPtr::Dereference, against raw inlined liburcu and std::shared_mutex
//    (CPU time per section, median of 3 runs);
//  - rcu::Synchronize() latency with 2 idle registered readers against raw
//    synchronize_rcu() (median and p99 of per-call times);
//  - rcu::Retire() throughput from one thread against raw call_rcu() and
//    delete;
//  - peak memory of a retire storm while a slow reader holds up grace
//    periods, against raw call_rcu().
// Every number printed is measured in this run; ratios compare peers that
// ran moments apart, which is what holds up on a busy 2-core machine.
//
//   tools/bazel run -c opt //bench:showcase
//   tools/bazel run -c opt //bench:showcase -- --benchmark_filter=read_
// (Google Benchmark's flags work; --benchmark_out=FILE keeps the raw results.)
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "bench/core_benchmarks.h"
#include "bench/median_reporter.h"
#include "benchmark/benchmark.h"

namespace {

using Run = benchmark::BenchmarkReporter::Run;
using rcu_bench::CounterValue;
using rcu_bench::CpuNsPerIteration;  // CPU ns per operation, per thread

double MedianUs(const Run& run) { return CounterValue(run, "median_us"); }
double P99Us(const Run& run) { return CounterValue(run, "p99_us"); }
double MObjectsPerSecond(const Run& run) { return CounterValue(run, "items_per_second") / 1e6; }
double PeakRssGrowthMiB(const Run& run) { return CounterValue(run, "peak_rss_growth_MiB"); }
double MaxPending(const Run& run) { return CounterValue(run, "max_pending"); }
double Seconds(const Run& run) { return run.real_accumulated_time; }

// "12.34", or "n/a" when missing.
std::string Format(const Run* run, double (*value)(const Run&), const char* format) {
  if (run == nullptr) return "n/a";
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), format, value(*run));
  return buffer;
}

struct ReadRow {
  const char* label;
  const char* name;
};

void PrintReadTable(const rcu_bench::MedianReporter& results, const char* title,
                    const ReadRow (&rows)[3]) {
  std::printf("  %s\n", title);
  for (const ReadRow& row : rows) {
    std::printf("    %-28s %10s %12s\n", row.label,
                Format(results.Find(row.name, 1), &CpuNsPerIteration, "%.2f").c_str(),
                Format(results.Find(row.name, 2), &CpuNsPerIteration, "%.2f").c_str());
  }
}

// `what`: ReadGuard vs raw liburcu and vs std::shared_mutex, per thread count.
void PrintReadSummary(const rcu_bench::MedianReporter& results, const char* what,
                      const ReadRow (&rows)[3]) {
  std::string line = std::string("  ") + what + ":";
  for (int threads : {1, 2}) {
    const Run* ours = results.Find(rows[0].name, threads);
    const Run* raw = results.Find(rows[1].name, threads);
    const Run* mutex = results.Find(rows[2].name, threads);
    if (ours == nullptr || raw == nullptr || mutex == nullptr) continue;
    char buffer[160];
    std::snprintf(buffer, sizeof(buffer),
                  "%s %.2fx the cost of raw liburcu, %.1fx cheaper than std::shared_mutex "
                  "at %d thread%s",
                  threads == 1 ? "" : ";", CpuNsPerIteration(*ours) / CpuNsPerIteration(*raw),
                  CpuNsPerIteration(*mutex) / CpuNsPerIteration(*ours), threads,
                  threads == 1 ? "" : "s");
    line += buffer;
  }
  std::printf("%s\n", line.c_str());
}

void PrintReport(const rcu_bench::MedianReporter& results, const rcu_bench::SuiteOptions& options) {
  const ReadRow enter_exit[3] = {
      {"rcu::ReadGuard", rcu_bench::kEnterExitReadGuard},
      {"raw liburcu (inlined)", rcu_bench::kEnterExitRawUrcu},
      {"std::shared_mutex (shared)", rcu_bench::kEnterExitSharedMutex},
  };
  const ReadRow deref[3] = {
      {"ReadGuard + Dereference", rcu_bench::kDerefReadGuard},
      {"raw lock + rcu_dereference", rcu_bench::kDerefRawUrcu},
      {"shared_mutex + load", rcu_bench::kDerefSharedMutex},
  };

  std::printf("\nRead side: CPU ns per section, per thread (median of %d runs; lower is better)\n",
              options.repetitions);
  std::printf("    %-28s %10s %12s\n", "", "1 thread", "2 threads");
  PrintReadTable(results, "enter + exit", enter_exit);
  PrintReadTable(results, "enter + dereference one pointer + exit", deref);

  std::printf("\nGrace period: Synchronize() with %d idle registered readers\n",
              options.idle_readers);
  std::printf("    %-28s %10s %12s\n", "", "median us", "p99 us");
  const std::pair<const char*, const char*> synchronize_rows[] = {
      {"rcu::Synchronize()", rcu_bench::kSynchronizeRcu},
      {"raw synchronize_rcu()", rcu_bench::kSynchronizeRaw},
  };
  for (const auto& [label, name] : synchronize_rows) {
    const Run* run = results.Find(name);
    std::printf("    %-28s %10s %12s\n", label, Format(run, &MedianUs, "%.2f").c_str(),
                Format(run, &P99Us, "%.2f").c_str());
  }

  std::printf(
      "\nReclamation from one thread, 64-byte objects (sustained, backpressure included)\n");
  std::printf("    %-28s %10s\n", "", "M objects/s");
  const std::pair<const char*, const char*> retire_rows[] = {
      {"rcu::Retire(new T)", rcu_bench::kRetireRcu},
      {"rcu::Retire, RcuObjBase", rcu_bench::kRetireRcuObj},
      {"raw call_rcu()", rcu_bench::kRetireRaw},
      {"delete (no grace period)", rcu_bench::kRetireDelete},
  };
  for (const auto& [label, name] : retire_rows) {
    std::printf("    %-28s %10s\n", label,
                Format(results.Find(name), &MObjectsPerSecond, "%.2f").c_str());
  }

  std::printf(
      "\nRetire storm: %lld objects from one thread while a reader holds each "
      "section %d ms\n",
      static_cast<long long>(options.slow_reader_storm_objects), options.slow_reader_hold_ms);
  std::printf("    %-28s %12s %12s %10s\n", "", "peak RSS MiB", "max pending", "s");
  const std::pair<const char*, const char*> storm_rows[] = {
      {"rcu::Retire", rcu_bench::kSlowStormRcu},
      {"raw call_rcu()", rcu_bench::kSlowStormRaw},
  };
  for (const auto& [label, name] : storm_rows) {
    const Run* run = results.Find(name);
    std::printf("    %-28s %12s %12s %10s\n", label,
                Format(run, &PeakRssGrowthMiB, "+%.1f").c_str(),
                Format(run, &MaxPending, "%.0f").c_str(), Format(run, &Seconds, "%.2f").c_str());
  }

  std::printf("\nSummary (ratios of the numbers above)\n");
  PrintReadSummary(results, "ReadGuard enter+exit", enter_exit);
  PrintReadSummary(results, "ReadGuard + Dereference", deref);
  std::printf(
      "    (at about 2 ns, a few tenths either way between ReadGuard and raw liburcu come\n"
      "    from branch layout; `tools/bazel run -c opt //bench:callgrind_read_side` counts\n"
      "    the instructions)\n");
  const Run* sync_ours = results.Find(rcu_bench::kSynchronizeRcu);
  const Run* sync_raw = results.Find(rcu_bench::kSynchronizeRaw);
  if (sync_ours != nullptr && sync_raw != nullptr) {
    std::printf("  Synchronize(): median %.2f us, %.2fx raw synchronize_rcu(); p99 %.2fx\n",
                MedianUs(*sync_ours), MedianUs(*sync_ours) / MedianUs(*sync_raw),
                P99Us(*sync_ours) / P99Us(*sync_raw));
  }
  const Run* retire_ours = results.Find(rcu_bench::kRetireRcu);
  const Run* retire_obj = results.Find(rcu_bench::kRetireRcuObj);
  const Run* retire_raw = results.Find(rcu_bench::kRetireRaw);
  if (retire_ours != nullptr && retire_obj != nullptr && retire_raw != nullptr) {
    std::printf(
        "  Retire: %.2f M objects/s, %.2fx the rate of raw call_rcu() "
        "(%.2fx with RcuObjBase, which allocates no node)\n",
        MObjectsPerSecond(*retire_ours),
        MObjectsPerSecond(*retire_ours) / MObjectsPerSecond(*retire_raw),
        MObjectsPerSecond(*retire_obj) / MObjectsPerSecond(*retire_raw));
  }
  const Run* storm_ours = results.Find(rcu_bench::kSlowStormRcu);
  const Run* storm_raw = results.Find(rcu_bench::kSlowStormRaw);
  if (storm_ours != nullptr && storm_raw != nullptr) {
    std::printf(
        "  Retire storm: peak RSS +%.1f MiB with at most %.0f pending "
        "(backlog limit %.0f, %.0f backlog waits); raw call_rcu() +%.1f MiB\n",
        PeakRssGrowthMiB(*storm_ours), MaxPending(*storm_ours),
        CounterValue(*storm_ours, "backlog_limit"), CounterValue(*storm_ours, "backlog_waits"),
        PeakRssGrowthMiB(*storm_raw));
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
#ifndef NDEBUG
  std::fprintf(stderr,
               "showcase: built without -c opt (NDEBUG is not defined), so the "
               "numbers are not meaningful: tools/bazel run -c opt //bench:showcase\n");
#endif
  if (std::string(rcu_bench::ReadSideMode()) != "inline") {
    std::fprintf(stderr,
                 "showcase: rcu::ReadGuard calls into liburcu in this build "
                 "(--define=rcu_lgpl_inline=false or a sanitizer); the default build "
                 "inlines it\n");
  }

  rcu_bench::SuiteOptions options;
  options.min_time = 0.1;
  options.retire_min_time = 0.3;
  options.repetitions = 3;
  options.idle_readers = 2;
  options.storm_objects = 0;  // the plain storm is rcu_core_bench's
  options.slow_reader_storm_objects = 2'000'000;
  options.slow_reader_hold_ms = 50;
  options.below_limit_bursts = false;
  rcu_bench::RegisterReadSideBenchmarks(options);
  rcu_bench::RegisterSynchronizeBenchmarks(options);
  rcu_bench::RegisterRetireBenchmarks(options);
  rcu_bench::RegisterRetireStormBenchmarks(options);

  rcu_bench::MedianReporter reporter(std::string(" (read side: ") +
                                     rcu_bench::ReadSideMode() + "); this takes 10 to 40 s");
  benchmark::RunSpecifiedBenchmarks(&reporter);
  PrintReport(reporter, options);
  benchmark::Shutdown();
  return 0;
}
