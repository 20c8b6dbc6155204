// A Google Benchmark reporter for binaries that print their own tables: it
// keeps each benchmark's result (the median, when repeated), prints one
// progress line per benchmark to stderr, and looks results up by name.
//
//   rcu_bench::MedianReporter results(", about 15 s");
//   benchmark::RunSpecifiedBenchmarks(&results);
//   if (const auto* run = results.Find("read/rcu", /*threads=*/2)) ...
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

  // `intro` follows "Measuring on N CPUs" in the first progress line.
  explicit MedianReporter(std::string intro) : intro_(std::move(intro)) {}

  bool ReportContext(const Context& context) override;
  void ReportRuns(const std::vector<Run>& runs) override;

  // The result of `name` (the benchmark's function name) at `threads`
  // threads, or nullptr if it did not run.
  const Run* Find(const std::string& name, int threads = 1) const;

 private:
  const std::string intro_;
  std::map<std::pair<std::string, std::int64_t>, Run> results_;
};

}  // namespace rcu_bench

#endif  // BENCH_MEDIAN_REPORTER_H_
