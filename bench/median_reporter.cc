#include "bench/median_reporter.h"

#include <cstdio>

namespace rcu_bench {

bool MedianReporter::ReportContext(const Context& context) {
  if (!quiet_) {
    std::fprintf(stderr, "Measuring on %d CPUs%s\n", context.cpu_info.num_cpus, intro_.c_str());
  }
  return true;
}

void MedianReporter::ReportRuns(const std::vector<Run>& runs) {
  for (const Run& run : runs) {
    if (run.error_occurred) {
      if (!quiet_) {
        std::fprintf(stderr, "  %s: error: %s\n", run.benchmark_name().c_str(),
                     run.error_message.c_str());
      }
      continue;
    }
    // A repeated benchmark reports its repetitions, then aggregates: keep
    // only the median.
    const bool aggregate = run.run_type == Run::RT_Aggregate;
    if (run.repetitions > 1 && (!aggregate || run.aggregate_name != "median")) continue;
    results_[{run.run_name.function_name, run.threads}] = run;
    has_medians_ = has_medians_ || aggregate;
    if (!quiet_) std::fprintf(stderr, "  measured %s\n", run.benchmark_name().c_str());
  }
}

const MedianReporter::Run* MedianReporter::Find(const std::string& name, int threads) const {
  auto it = results_.find({name, threads});
  return it == results_.end() ? nullptr : &it->second;
}

double CounterValue(const benchmark::BenchmarkReporter::Run& run, const char* name) {
  auto it = run.counters.find(name);
  return it == run.counters.end() ? 0 : it->second.value;
}

double CpuNsPerIteration(const benchmark::BenchmarkReporter::Run& run) {
  return run.cpu_accumulated_time / static_cast<double>(run.iterations) * 1e9;
}

}  // namespace rcu_bench
