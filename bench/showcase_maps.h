// bench/showcase_maps.h: the showcase's short subset of the hash-map
// benchmarks (bench/hash_map_bench.cc has the full set and every peer).
//
// Registers, for rcu::HashMap, std::unordered_map under std::shared_mutex,
// liburcu's rculfhash and libcds's SplitListMap (uint64_t keys and values,
// uniform hits from a pre-generated stream):
//  - lookups per second by one reader with no writer, at each table size;
//  - the same reader while a writer thread updates random existing keys
//    nonstop on the largest table, right after its no-writer baseline on the
//    same map, so that `kept` = beside-writer / baseline compares runs
//    moments apart.
// Every rate is per wall-clock second (items_per_second). The libcds rows
// need an rcu_bench::LibcdsRuntime (bench/libcds_peer.h) alive from before
// the benchmarks run until after DropShowcaseMapFixture().
//
//   rcu_bench::LibcdsRuntime libcds;
//   rcu_bench::MapSuiteOptions options;
//   options.log2_sizes = {11, 20};
//   rcu_bench::RegisterShowcaseMapBenchmarks(options);
//   ... benchmark::RunSpecifiedBenchmarks(&reporter);
//   reporter.Find(rcu_bench::MapLookupName("rcu_HashMap", 20));
#ifndef BENCH_SHOWCASE_MAPS_H_
#define BENCH_SHOWCASE_MAPS_H_

#include <string>
#include <vector>

namespace rcu_bench {

struct MapSuiteOptions {
  std::vector<int> log2_sizes = {11, 20};
  double min_time = 0.1;  // seconds per benchmark
  int repetitions = 1;    // > 1: medians only
  bool with_writer = true;
};

// The maps, in display order (rcu::HashMap first).
const std::vector<std::string>& ShowcaseMapNames();

// Benchmark names, for MedianReporter::Find().
std::string MapLookupName(const std::string& map, int log2_size);
// The no-writer baseline and the reader beside a writer, on 2^log2_size.
std::string MapBaselineName(const std::string& map);
std::string MapBesideWriterName(const std::string& map);

void RegisterShowcaseMapBenchmarks(const MapSuiteOptions& options);

// Destroys the map the benchmarks kept and waits for what it retired.
void DropShowcaseMapFixture();

}  // namespace rcu_bench

#endif  // BENCH_SHOWCASE_MAPS_H_
