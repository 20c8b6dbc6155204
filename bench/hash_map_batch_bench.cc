// bench/hash_map_batch_bench.cc: rcu::HashMap's batched lookups (find_many,
// get_many) against loops of single lookups, one reader, no writer.
//
// The map holds n uint64_t keys (bench/map_keys.h: distinct, bijectively
// mixed), n = 2^11 (cache-resident), 2^20 and 2^22 (DRAM). Keys are looked
// up uniformly at random from a pre-generated stream, every lookup a hit,
// in batches of 8, 16, 32 and 64 keys:
//   single_find_guard_each   a ReadGuard and find(guard, key) per key: the
//                            single-lookup rate of bench/hash_map_bench.cc
//   single_find_one_guard    find(guard, key) for each key of the batch under
//                            one guard: what batching alone, without the
//                            staged prefetching, would give
//   find_many                find_many(guard, batch, out) under one guard
//   get_many                 get_many(batch, out): copies, its own guards
// Each batch's values are summed, so no lookup is optimized away. Rates are
// lookups per second (items_per_second).
//
//   tools/bazel run -c opt //bench:hash_map_batch_bench --
//       --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
// (one command line)
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "absl/types/span.h"
#include "bench/map_keys.h"
#include "benchmark/benchmark.h"
#include "containers/hash_map.h"
#include "rcu/read_guard.h"

namespace {

using Map = rcu::HashMap<std::uint64_t, std::uint64_t>;

// One map and lookup stream per size, built on first use and kept for the
// whole run (so repetitions and batch sizes share them).
struct Fixture {
  Map map;
  std::vector<std::uint64_t> lookups;
};

Fixture& FixtureFor(std::size_t n) {
  static std::map<std::size_t, std::unique_ptr<Fixture>> fixtures;
  std::unique_ptr<Fixture>& f = fixtures[n];
  if (f == nullptr) {
    f = std::make_unique<Fixture>();
    f->map.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t key = rcu_bench::KeyAt(i);
      f->map.try_emplace(key, rcu_bench::ValueFor(key));
    }
    f->lookups = rcu_bench::RandomKeys(n, rcu_bench::LookupStreamLength(n), /*seed=*/n);
  }
  return *f;
}

// Calls body(batch) for consecutive batches of the stream, wrapping around.
template <typename Body>
void RunBatches(benchmark::State& state, Body body) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  const std::size_t batch = static_cast<std::size_t>(state.range(1));
  Fixture& f = FixtureFor(n);
  const std::size_t stream = f.lookups.size() - f.lookups.size() % batch;
  std::size_t pos = 0;
  std::uint64_t sum = 0;
  for (auto _ : state) {
    sum += body(f.map, absl::MakeConstSpan(f.lookups.data() + pos, batch));
    pos += batch;
    if (pos == stream) pos = 0;
  }
  benchmark::DoNotOptimize(sum);
  if (sum == 0) state.SkipWithError("every lookup should hit");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
}

void BM_single_find_guard_each(benchmark::State& state) {
  RunBatches(state, [](const Map& map, absl::Span<const std::uint64_t> keys) {
    std::uint64_t sum = 0;
    for (std::uint64_t key : keys) {
      rcu::ReadGuard guard;
      const auto it = map.find(guard, key);
      if (it != map.end()) sum += it->second;
    }
    return sum;
  });
}

void BM_single_find_one_guard(benchmark::State& state) {
  RunBatches(state, [](const Map& map, absl::Span<const std::uint64_t> keys) {
    std::uint64_t sum = 0;
    rcu::ReadGuard guard;
    for (std::uint64_t key : keys) {
      const auto it = map.find(guard, key);
      if (it != map.end()) sum += it->second;
    }
    return sum;
  });
}

void BM_find_many(benchmark::State& state) {
  std::vector<Map::const_pointer> out(static_cast<std::size_t>(state.range(1)));
  RunBatches(state, [&out](const Map& map, absl::Span<const std::uint64_t> keys) {
    std::uint64_t sum = 0;
    rcu::ReadGuard guard;
    map.find_many(guard, keys, absl::MakeSpan(out));
    for (Map::const_pointer entry : out) {
      if (entry != nullptr) sum += entry->second;
    }
    return sum;
  });
}

void BM_get_many(benchmark::State& state) {
  std::vector<std::optional<std::uint64_t>> out(static_cast<std::size_t>(state.range(1)));
  RunBatches(state, [&out](const Map& map, absl::Span<const std::uint64_t> keys) {
    std::uint64_t sum = 0;
    map.get_many(keys, absl::MakeSpan(out));
    for (const std::optional<std::uint64_t>& v : out) sum += v.value_or(0);
    return sum;
  });
}

void Sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t n : {std::int64_t{1} << 11, std::int64_t{1} << 20, std::int64_t{1} << 22}) {
    for (std::int64_t batch : {8, 16, 32, 64}) b->Args({n, batch});
  }
  b->ArgNames({"n", "batch"});
}

BENCHMARK(BM_single_find_guard_each)->Apply(Sizes);
BENCHMARK(BM_single_find_one_guard)->Apply(Sizes);
BENCHMARK(BM_find_many)->Apply(Sizes);
BENCHMARK(BM_get_many)->Apply(Sizes);

}  // namespace

BENCHMARK_MAIN();
