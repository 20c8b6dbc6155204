// bench/showcase_maps.cc: the showcase's hash-map benchmarks; see
// showcase_maps.h. The adapters follow bench/hash_map_bench.cc's.
#include "bench/showcase_maps.h"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bench/libcds_peer.h"
#include "bench/locked_map_peer.h"
#include "bench/map_keys.h"
#include "bench/rculfhash_peer.h"
#include "benchmark/benchmark.h"
#include "containers/hash_map.h"
#include "rcu/call_rcu.h"
#include "rcu/read_guard.h"

namespace rcu_bench {
namespace {

using Key = std::uint64_t;
using Value = std::uint64_t;

// Registers the calling thread with liburcu (through the RCU core, so that
// rcu::ReadGuard and raw liburcu share one registration).
void RegisterThisThread() { rcu::ReadGuard registers_this_thread; }

class RcuHashMapAdapter {
 public:
  static constexpr const char* kName = "rcu_HashMap";
  explicit RcuHashMapAdapter(std::size_t capacity) { map_.reserve(capacity); }
  Value Lookup(Key key) const {
    rcu::ReadGuard guard;
    auto it = map_.find(guard, key);
    return it != map_.end() ? it->second : 0;
  }
  void Insert(Key key, Value value) { map_.try_emplace(key, value); }
  void Assign(Key key, Value value) { map_.insert_or_assign(key, value); }

 private:
  rcu::HashMap<Key, Value> map_;
};

struct SharedMutexMapAdapter
    : LockedMapPeer<std::unordered_map<Key, Value>, std::shared_mutex, SharedMutexMapAdapter> {
  static constexpr const char* kName = "unordered_map+shared_mutex";
  using LockedMapPeer::LockedMapPeer;
};

class LfhtAdapter {
 public:
  static constexpr const char* kName = "urcu_rculfhash";
  explicit LfhtAdapter(std::size_t capacity) : map_(capacity) {}
  Value Lookup(Key key) const { return map_.Lookup(key); }
  void Insert(Key key, Value value) { map_.Insert(key, value); }
  void Assign(Key key, Value value) { map_.Assign(key, value); }

 private:
  RculfhashMap map_;
};

// Requires a live rcu_bench::LibcdsRuntime (bench/showcase.cc's main()).
class LibcdsAdapter {
 public:
  static constexpr const char* kName = "libcds_SplitListMap";
  explicit LibcdsAdapter(std::size_t capacity) : map_(capacity) {}
  Value Lookup(Key key) const { return map_.Lookup(key); }
  void Insert(Key key, Value value) { map_.Insert(key, value); }
  void Assign(Key key, Value value) { map_.Assign(key, value); }

 private:
  LibcdsMap map_;
};

// One prefilled map at a time, kept across the runs of a benchmark (and
// from the baseline to the beside-writer run).
struct Fixture {
  virtual ~Fixture() = default;
};
std::unique_ptr<Fixture> current_fixture;
std::string current_key;

template <typename Map>
struct Prefilled : Fixture {
  explicit Prefilled(std::size_t n)
      : map(n), lookups(RandomKeys(n, LookupStreamLength(n), /*seed=*/n)) {
    for (std::size_t i = 0; i < n; ++i) map.Insert(KeyAt(i), ValueFor(KeyAt(i)));
  }
  Map map;
  std::vector<Key> lookups;
};

template <typename Map>
Prefilled<Map>& GetPrefilled(std::size_t n) {
  const std::string key = std::string(Map::kName) + "/" + std::to_string(n);
  if (current_fixture == nullptr || current_key != key) {
    current_fixture.reset();
    rcu::Barrier();  // what the last map retired is freed now, not while measuring
    RculfhashBarrier();
    LibcdsBarrier();
    current_fixture = std::make_unique<Prefilled<Map>>(n);
    current_key = key;
  }
  return static_cast<Prefilled<Map>&>(*current_fixture);
}

template <typename Map>
void ReaderLoop(benchmark::State& state, const Map& map, const std::vector<Key>& lookups) {
  const Key* const keys = lookups.data();
  const std::size_t mask = lookups.size() - 1;  // a power of two
  std::size_t i = 0;
  Value sum = 0;
  for (auto _ : state) sum += map.Lookup(keys[i++ & mask]);
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}

template <typename Map>
void BM_Lookup(benchmark::State& state, int log2_size) {
  RegisterThisThread();
  Prefilled<Map>& fixture = GetPrefilled<Map>(std::size_t{1} << log2_size);
  ReaderLoop(state, fixture.map, fixture.lookups);
}

// The reader beside a writer that assigns new values to random existing keys
// nonstop (rcu::HashMap and rculfhash publish a new node and retire the old
// one; the locked map writes in place under its exclusive lock, libcds with
// an atomic store into the entry).
template <typename Map>
void BM_LookupBesideWriter(benchmark::State& state, int log2_size) {
  RegisterThisThread();
  const std::size_t n = std::size_t{1} << log2_size;
  Prefilled<Map>& fixture = GetPrefilled<Map>(n);
  std::atomic<bool> started{false};
  std::atomic<bool> stop{false};
  std::uint64_t writes = 0;
  double writer_seconds = 0;
  std::thread writer([&] {
    RegisterThisThread();
    const std::vector<Key> keys = RandomKeys(n, std::size_t{1} << 16, /*seed=*/n + 7);
    std::size_t next = 0;
    Value version = 0;
    const auto start = std::chrono::steady_clock::now();
    started.store(true, std::memory_order_release);
    while (!stop.load(std::memory_order_relaxed)) {
      for (int batch = 0; batch < 64; ++batch) {
        fixture.map.Assign(keys[next++ & (keys.size() - 1)], (version += 2) | 1);
      }
      writes += 64;
    }
    writer_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  });
  while (!started.load(std::memory_order_acquire)) std::this_thread::yield();
  ReaderLoop(state, fixture.map, fixture.lookups);
  stop.store(true, std::memory_order_relaxed);
  writer.join();
  state.counters["writer_ops_per_s"] =
      writer_seconds > 0 ? static_cast<double>(writes) / writer_seconds : 0;
}

template <typename Map>
void RegisterMap(const MapSuiteOptions& options) {
  auto apply = [&](benchmark::internal::Benchmark* b) {
    b->MinTime(options.min_time)->UseRealTime()->Unit(benchmark::kNanosecond);
    if (options.repetitions > 1) b->Repetitions(options.repetitions)->ReportAggregatesOnly(true);
  };
  for (int log2 : options.log2_sizes) {
    apply(benchmark::RegisterBenchmark(MapLookupName(Map::kName, log2).c_str(), &BM_Lookup<Map>,
                                       log2));
  }
  if (!options.with_writer || options.log2_sizes.empty()) return;
  const int log2 = options.log2_sizes.back();
  apply(benchmark::RegisterBenchmark(MapBaselineName(Map::kName).c_str(), &BM_Lookup<Map>, log2));
  apply(benchmark::RegisterBenchmark(MapBesideWriterName(Map::kName).c_str(),
                                     &BM_LookupBesideWriter<Map>, log2));
}

}  // namespace

const std::vector<std::string>& ShowcaseMapNames() {
  static const auto* names =
      new std::vector<std::string>{RcuHashMapAdapter::kName, SharedMutexMapAdapter::kName,
                                   LfhtAdapter::kName, LibcdsAdapter::kName};
  return *names;
}

std::string MapLookupName(const std::string& map, int log2_size) {
  return "map_lookup_2^" + std::to_string(log2_size) + "/" + map;
}
std::string MapBaselineName(const std::string& map) { return "map_writer_none/" + map; }
std::string MapBesideWriterName(const std::string& map) { return "map_writer_update/" + map; }

void DropShowcaseMapFixture() {
  current_fixture.reset();
  current_key.clear();
  rcu::Barrier();
  RculfhashBarrier();
  LibcdsBarrier();
}

void RegisterShowcaseMapBenchmarks(const MapSuiteOptions& options) {
  // Map by map, so that each is filled once for its sizes and its writer run.
  RegisterMap<RcuHashMapAdapter>(options);
  RegisterMap<SharedMutexMapAdapter>(options);
  RegisterMap<LfhtAdapter>(options);
  RegisterMap<LibcdsAdapter>(options);
}

}  // namespace rcu_bench
