// A Google Benchmark reporter for binaries that print their own tables: it
// keeps each benchmark's result (the median, when repeated), prints one
// progress line per benchmark to stderr, and looks results up by name.
//
//   rcu_bench::MedianReporter results(", about 15 s");
//   benchmark::RunSpecifiedBenchmarks(&results);
//   if (const auto* run = results.Find("read/rcu", /*threads=*/2)) {
//     std::printf("%.2f ns\n", rcu_bench::CpuNsPerIteration(*run));
//   }
//
// A reporter that prints its own output (a benchmark::ConsoleReporter) can
// keep its results in a quiet MedianReporter, passing each batch of runs on
// to its ReportRuns(); see TableReporter in bench/hash_map_bench.cc.
#ifndef BENCH_MEDIAN_REPORTER_H_
#define BENCH_MEDIAN_REPORTER_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"

namespace rcu_bench {

class MedianReporter : public benchmark::BenchmarkReporter {
 public:
  using Run = benchmark::BenchmarkReporter::Run;

  // Prints progress to stderr; `intro` follows "Measuring on N CPUs" in the
  // first line.
  explicit MedianReporter(std::string intro) : intro_(std::move(intro)), quiet_(false) {}
  // Prints nothing: keeps results for a reporter that prints its own.
  MedianReporter() : quiet_(true) {}

  bool ReportContext(const Context& context) override;
  void ReportRuns(const std::vector<Run>& runs) override;

  // The result of `name` (the benchmark's function name) at `threads`
  // threads, or nullptr if it did not run.
  const Run* Find(const std::string& name, int threads = 1) const;

  // Whether any result was kept.
  bool empty() const { return results_.empty(); }
  // Whether the results are medians of repetitions rather than single runs.
  bool has_medians() const { return has_medians_; }

 private:
  const std::string intro_;
  const bool quiet_;
  bool has_medians_ = false;
  std::map<std::pair<std::string, std::int64_t>, Run> results_;
};

// The value of the user counter `name` in `run`, or 0 if it has none.
double CounterValue(const benchmark::BenchmarkReporter::Run& run, const char* name);

// CPU nanoseconds per iteration, per thread.
double CpuNsPerIteration(const benchmark::BenchmarkReporter::Run& run);

}  // namespace rcu_bench

#endif  // BENCH_MEDIAN_REPORTER_H_
