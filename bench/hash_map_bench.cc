// bench/hash_map_bench.cc: rcu::HashMap against its peers, in one run.
//
// Maps (uint64_t keys and values, each map with its default hash, every one
// presized for the entries it will hold, except in (f)'s rapid_grow):
//   rcu_HashMap              rcu::HashMap<uint64_t, uint64_t>: a ReadGuard and
//                            find(guard, key) per lookup
//   std_unordered_map        std::unordered_map, unsynchronized: the limit
//                            (read-only scenarios only)
//   unordered_map+shared_mutex   std::unordered_map under std::shared_mutex
//   flat_hash_map+absl_Mutex absl::flat_hash_map under absl::Mutex
//                            (ReaderMutexLock for lookups)
//   tbb_concurrent_hash_map  tbb::concurrent_hash_map, const_accessor lookups
//   libcuckoo                libcuckoo::cuckoohash_map, find(key, value)
//   urcu_rculfhash           liburcu's rculfhash (memb flavor, read side
//                            inlined), one read-side section per lookup,
//                            nodes replaced and freed with call_rcu
//   libcds_SplitListMap      libcds's cds::container::SplitListMap over its
//                            own buffered URCU (general_buffered), get()
//                            under its RCU lock per lookup, values assigned
//                            in place, erased nodes retired to the RCU buffer
//
// Scenarios (keys are distinct 64-bit values from a bijective mix, looked up
// uniformly at random from a pre-generated array, so random-number cost stays
// outside the loop; every lookup in (a) and (b) hits):
//   a_lookup     one reader, no writer, 2^11 entries (cache-resident) and
//                2^20 entries (about 1M, mostly DRAM), every map.
//   b_writer     one reader (the benchmark thread) while one background
//                std::thread writes nonstop to the same 2^20-entry map:
//                  none:   no writer, the baseline (scenario (a) at 2^20,
//                          measured again right before the writers, on the
//                          same map, so that drift between scenarios does not
//                          enter the `kept` ratio);
//                  update: insert_or_assign of random existing keys (new
//                          values; a locked map and libcds update in place,
//                          rcu::HashMap and rculfhash publish a new node and
//                          retire the old);
//                  churn:  erase + insert of keys in a separate range (the
//                          last 1/64 of the keys, which the reader never asks
//                          for).
//                Only the reader's lookups are counted (items_per_second);
//                the writer's rate is the writer_ops_per_s counter.
//   c_read_heavy conc-map-bench's ReadHeavy mix: 98% lookups, 1% inserts, 1%
//                removes, a 2^20-key space prefilled to 75%, at 1 and 2
//                threads (total ops/s). Each thread owns a slice of the key
//                space and keeps its live keys a sliding window (inserts add
//                the key after the window, removes take its oldest key), so
//                occupancy stays at 75% and lookups hit 75% of the time.
//                (The percentages are conc-map-bench's; its reads also ask
//                for keys not yet inserted or already removed, and hit
//                about 37%, over 2^25 keys.)
//   e_drawn      issue 14's workloads, with keys drawn inside the loop
//                (xorshift, then modulo n), sequential or mixed, at 2^11,
//                2^20 and 2^22 entries: readers, a 90/10 lookup/update mix,
//                a reader beside a writer over its own keys, the bytes per
//                entry of each map, and controls that isolate what (a)-(b)
//                do differently (see the section "(e)" below).
//   f_cmb        conc-map-bench's other two mixes, in (e)'s style (keys
//                drawn in the loop, sequential or mixed, 1 .. hardware
//                threads, each over its own keys, total ops/s): exchange
//                (10% read, 40% insert, 40% remove, 10% update; 75% of 2^20
//                and 2^22 prefilled, occupancy held there as in (c)) and
//                rapid_grow (5/80/5/10; 2^20 operations from a new map of
//                capacity 0, not presized, each run, ending with 0.75 x 2^20
//                entries); peak bytes per entry (see the section "(f)").
//   g_zipf       (e)'s readers (1 and all threads) and 90/10 mix with key
//                ranks drawn Zipf(0.99) (YCSB's generator, in the loop) at
//                2^20 and 2^22, and the draw alone, whose cost every rate
//                includes (see the section "(g)").
//
// Rates are per real (wall-clock) second (items_per_second); each benchmark
// also reports ops_per_cpu_s, per CPU second of the measured threads, which
// holds up better when other processes share the cores. At the end the
// binary prints tables of ratios for both, rcu::HashMap against each peer
// ((e): against libcuckoo and the unsynchronized map; (f), (g): against
// libcuckoo, then every other peer),
// from the medians when repetitions are asked for
// (bench/run_hash_map_bench.sh does), otherwise from the single runs. Every
// number is measured in this run.
//
//   tools/bazel run -c opt //bench:hash_map_bench
//   tools/bazel run -c opt //bench:hash_map_bench -- --benchmark_filter=a_lookup
//   bench/run_hash_map_bench.sh          # 5 repetitions, medians, ratio table
//
// rculfhash lives in bench/rculfhash_peer.cc (compiled with _LGPL_SOURCE,
// its read side inlined there), so that liburcu's headers do not change how
// this file's rcu::ReadGuard is compiled; libcds in bench/libcds_peer.cc
// (compiled with -mcx16, as libcds is), its runtime held by main().
#include <malloc.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <libcuckoo/cuckoohash_map.hh>
#include <tbb/concurrent_hash_map.h>

#include "absl/container/flat_hash_map.h"
#include "bench/bench_util.h"
#include "bench/libcds_peer.h"
#include "bench/locked_map_peer.h"
#include "bench/map_keys.h"
#include "bench/median_reporter.h"
#include "bench/rculfhash_peer.h"
#include "benchmark/benchmark.h"
#include "containers/hash_map.h"
#include "rcu/call_rcu.h"
#include "rcu/read_guard.h"
#include "rcu/stats.h"

namespace {

using Key = std::uint64_t;
using Value = std::uint64_t;

// --- Keys (bench/map_keys.h) -----------------------------------------------------

using rcu_bench::KeyAt;
using rcu_bench::RandomKeys;
using rcu_bench::ValueFor;

// The writer's churn range: the last 1/64 of a prefilled table's keys.
std::size_t StableCount(std::size_t n) { return n - n / 64; }

// CPU seconds the calling thread has run.
double ThreadCpuSeconds() {
  timespec now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

// Counts a thread's ops per second of its own CPU time: what it would do on
// a core of its own. On a shared machine this is steadier than the wall-clock
// rate, which counts the time other processes held the core.
void SetCpuRate(benchmark::State& state, double cpu_seconds) {
  state.counters["ops_per_cpu_s"] =
      cpu_seconds > 0 ? static_cast<double>(state.iterations()) / cpu_seconds : 0;
}

// --- The maps, behind one interface ----------------------------------------------
//
// Lookup(k): the value, or 0 if absent. Insert(k, v): inserts if absent.
// Assign(k, v): insert_or_assign. Erase(k).

// Registers the calling thread with liburcu (through the RCU core, so that
// rcu::ReadGuard and raw urcu_memb_read_lock() share one registration).
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
  void Erase(Key key) { map_.erase(key); }

 private:
  rcu::HashMap<Key, Value> map_;
};

class UnsyncUnorderedMapAdapter {
 public:
  static constexpr const char* kName = "std_unordered_map";
  explicit UnsyncUnorderedMapAdapter(std::size_t capacity) { map_.reserve(capacity); }

  Value Lookup(Key key) const {
    auto it = map_.find(key);
    return it != map_.end() ? it->second : 0;
  }
  void Insert(Key key, Value value) { map_.try_emplace(key, value); }
  void Assign(Key key, Value value) { map_.insert_or_assign(key, value); }
  void Erase(Key key) { map_.erase(key); }

 private:
  std::unordered_map<Key, Value> map_;
};

// The locked peers (bench/locked_map_peer.h): lookups under a shared lock,
// writes under an exclusive one.
struct SharedMutexMapAdapter : rcu_bench::LockedMapPeer<std::unordered_map<Key, Value>,
                                                        std::shared_mutex, SharedMutexMapAdapter> {
  static constexpr const char* kName = "unordered_map+shared_mutex";
  using LockedMapPeer::LockedMapPeer;
};

struct AbslMutexMapAdapter
    : rcu_bench::LockedMapPeer<absl::flat_hash_map<Key, Value>, absl::Mutex, AbslMutexMapAdapter> {
  static constexpr const char* kName = "flat_hash_map+absl_Mutex";
  using LockedMapPeer::LockedMapPeer;
};

class TbbMapAdapter {
  using Map = tbb::concurrent_hash_map<Key, Value>;

 public:
  static constexpr const char* kName = "tbb_concurrent_hash_map";
  explicit TbbMapAdapter(std::size_t capacity) : map_(capacity) {}

  Value Lookup(Key key) const {
    Map::const_accessor accessor;
    return map_.find(accessor, key) ? accessor->second : 0;
  }
  void Insert(Key key, Value value) { map_.insert(Map::value_type(key, value)); }
  void Assign(Key key, Value value) {
    Map::accessor accessor;  // write lock on the entry, inserting it if absent
    map_.insert(accessor, key);
    accessor->second = value;
  }
  void Erase(Key key) { map_.erase(key); }

 private:
  Map map_;
};

// Debian's libcuckoo 0.3.1 sometimes crashes here (SIGSEGV in erase_fn,
// while another thread's insert grows the table): 2 of 14 runs of the
// README's hash map command died in libcuckoo's 2-thread RapidGrow, and the
// one that left a core dump died in libcuckoo's erase. Rerun when it
// happens; the other maps' results are printed as they complete.
class CuckooMapAdapter {
 public:
  static constexpr const char* kName = "libcuckoo";
  explicit CuckooMapAdapter(std::size_t capacity) : map_(capacity) {}

  Value Lookup(Key key) const {
    Value value = 0;
    map_.find(key, value);
    return value;
  }
  void Insert(Key key, Value value) { map_.insert(key, value); }
  void Assign(Key key, Value value) { map_.insert_or_assign(key, value); }
  void Erase(Key key) { map_.erase(key); }

 private:
  libcuckoo::cuckoohash_map<Key, Value> map_;
};

// liburcu's rculfhash (bench/rculfhash_peer.cc).
class LfhtAdapter {
 public:
  static constexpr const char* kName = "urcu_rculfhash";
  explicit LfhtAdapter(std::size_t capacity) : map_(capacity) {}

  Value Lookup(Key key) const { return map_.Lookup(key); }
  void Insert(Key key, Value value) { map_.Insert(key, value); }
  void Assign(Key key, Value value) { map_.Assign(key, value); }
  void Erase(Key key) { map_.Erase(key); }

 private:
  rcu_bench::RculfhashMap map_;
};

// libcds's SplitListMap (bench/libcds_peer.cc); threads attach to libcds on
// their first call.
class LibcdsAdapter {
 public:
  static constexpr const char* kName = "libcds_SplitListMap";
  explicit LibcdsAdapter(std::size_t capacity) : map_(capacity) {}

  Value Lookup(Key key) const { return map_.Lookup(key); }
  void Insert(Key key, Value value) { map_.Insert(key, value); }
  void Assign(Key key, Value value) { map_.Assign(key, value); }
  void Erase(Key key) { map_.Erase(key); }

 private:
  rcu_bench::LibcdsMap map_;
};

// --- Fixtures kept across a benchmark's runs -------------------------------------
//
// Google Benchmark calls a benchmark function several times (to size the
// iteration count, then once per repetition). Prefilling a 2^20-entry map
// every time would dominate the run, so the last fixture is kept until a
// benchmark needs a different one. Only one lives at a time.

class Fixture {
 public:
  virtual ~Fixture() = default;
};

std::unique_ptr<Fixture> current_fixture;
std::string current_fixture_key;

void DropFixture() {
  current_fixture.reset();
  current_fixture_key.clear();
  // Entries retired by the map just destroyed are freed now, not while the
  // next benchmark measures.
  rcu::Barrier();
  rcu_bench::RculfhashBarrier();
  rcu_bench::LibcdsBarrier();
}

template <typename F, typename Make>
F& CachedFixture(const std::string& key, Make make) {
  if (current_fixture == nullptr || current_fixture_key != key) {
    DropFixture();
    current_fixture = make();
    current_fixture_key = key;
  }
  return static_cast<F&>(*current_fixture);
}

// A prefilled map with KeyAt(0 .. n) and a lookup stream over its stable keys.
template <typename Map>
struct PrefilledMap : Fixture {
  explicit PrefilledMap(std::size_t n)
      : map(n), lookups(RandomKeys(StableCount(n), rcu_bench::LookupStreamLength(n), /*seed=*/n)) {
    for (std::size_t i = 0; i < n; ++i) map.Insert(KeyAt(i), ValueFor(KeyAt(i)));
    size = n;
  }
  Map map;
  std::vector<Key> lookups;
  std::size_t size;
};

template <typename Map>
PrefilledMap<Map>& GetPrefilled(std::size_t n) {
  return CachedFixture<PrefilledMap<Map>>(
      std::string(Map::kName) + "/prefilled/" + std::to_string(n),
      [n] { return std::make_unique<PrefilledMap<Map>>(n); });
}

// The reader's loop of (a) and (b): one lookup per iteration. Lookups are
// independent, so the CPU may overlap their cache misses, as it would in a
// real read-mostly service.
template <typename Map>
void ReaderLoop(benchmark::State& state, const Map& map, const std::vector<Key>& lookups) {
  // Locals, so that compiler barriers in a map's read side (rcu::ReadGuard,
  // liburcu) do not make the loop reload them from memory.
  const Key* const keys = lookups.data();
  const std::size_t mask = lookups.size() - 1;  // a power of two
  std::size_t i = 0;
  std::uint64_t hits = 0;
  Value sum = 0;
  const double cpu_start = ThreadCpuSeconds();
  for (auto _ : state) {
    const Value value = map.Lookup(keys[i++ & mask]);
    sum += value;
    hits += value != 0;
  }
  SetCpuRate(state, ThreadCpuSeconds() - cpu_start);
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
  state.counters["hit_ratio"] = static_cast<double>(hits) /
                                static_cast<double>(std::max<std::int64_t>(1, state.iterations()));
}

// --- (a) and (d): one reader, no writer -----------------------------------------

template <typename Map>
void BM_Lookup(benchmark::State& state, std::size_t log2_size) {
  RegisterThisThread();
  PrefilledMap<Map>& fixture = GetPrefilled<Map>(std::size_t{1} << log2_size);
  ReaderLoop(state, fixture.map, fixture.lookups);
}

// --- (b): one reader while one writer writes nonstop -----------------------------

// kNone: (a) at 2^20 again, measured right before the writer runs on the
// same map, as the baseline of the `kept` ratio.
enum class WriterMode { kNone, kUpdate, kChurn };

const char* WriterModeName(WriterMode mode) {
  switch (mode) {
    case WriterMode::kNone:
      return "none";
    case WriterMode::kUpdate:
      return "update";
    case WriterMode::kChurn:
      break;
  }
  return "churn";
}

// Writes to `map` from its own thread, as fast as it can, from construction
// until Stop(). The constructor returns once the writer is writing.
template <typename Map>
class BackgroundWriter {
 public:
  BackgroundWriter(Map& map, std::size_t n, WriterMode mode)
      : map_(map), n_(n), mode_(mode), thread_([this] { Run(); }) {
    while (!started_.load(std::memory_order_acquire)) std::this_thread::yield();
  }
  ~BackgroundWriter() { Stop(); }
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;

  void Stop() {
    if (!thread_.joinable()) return;
    stop_.store(true, std::memory_order_relaxed);
    thread_.join();
  }
  // Valid after Stop().
  double ops_per_second() const { return seconds_ > 0 ? static_cast<double>(ops_) / seconds_ : 0; }
  // The writer's CPU time over its wall-clock time: near 1 when it ran
  // nonstop beside the reader; lower when it waited (for a lock, for
  // reclamation) or when other processes held the cores.
  double cpu_share() const { return seconds_ > 0 ? cpu_seconds_ / seconds_ : 0; }

 private:
  void Run() {
    RegisterThisThread();
    // Keys to write, pre-generated: random existing keys (update), or the
    // churn range in a random order.
    std::vector<Key> keys;
    if (mode_ == WriterMode::kUpdate) {
      keys = RandomKeys(n_, std::size_t{1} << 16, /*seed=*/n_ + 7);
    } else {
      for (std::size_t i = StableCount(n_); i < n_; ++i) keys.push_back(KeyAt(i));
      std::shuffle(keys.begin(), keys.end(), std::mt19937_64(n_ + 11));
    }
    std::uint64_t ops = 0;
    std::size_t next = 0;
    Value version = 0;
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = ThreadCpuSeconds();
    started_.store(true, std::memory_order_release);
    while (!stop_.load(std::memory_order_relaxed)) {
      for (int batch = 0; batch < 64; ++batch) {
        const Key key = keys[next];
        if (++next == keys.size()) next = 0;
        version += 2;
        if (mode_ == WriterMode::kUpdate) {
          map_.Assign(key, version | 1);
          ops += 1;
        } else {
          map_.Erase(key);
          map_.Insert(key, ValueFor(key));
          ops += 2;
        }
      }
    }
    seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    cpu_seconds_ = ThreadCpuSeconds() - cpu_start;
    ops_ = ops;
  }

  Map& map_;
  const std::size_t n_;
  const WriterMode mode_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stop_{false};
  std::uint64_t ops_ = 0;  // written by the writer before it exits
  double seconds_ = 0;
  double cpu_seconds_ = 0;
  std::thread thread_;  // last: starts once the members above exist
};

template <typename Map>
void BM_LookupWithWriter(benchmark::State& state, std::size_t log2_size, WriterMode mode) {
  RegisterThisThread();
  const std::size_t n = std::size_t{1} << log2_size;
  PrefilledMap<Map>& fixture = GetPrefilled<Map>(n);
  if (mode == WriterMode::kNone) {
    ReaderLoop(state, fixture.map, fixture.lookups);
    return;
  }
  const rcu::Stats before = rcu::GetStats();
  BackgroundWriter<Map> writer(fixture.map, n, mode);
  ReaderLoop(state, fixture.map, fixture.lookups);
  writer.Stop();
  const rcu::Stats after = rcu::GetStats();
  state.counters["writer_ops_per_s"] = writer.ops_per_second();
  // rcu::HashMap's writer retires through the RCU core; these stay 0 for the
  // other maps (rculfhash calls liburcu directly).
  state.counters["rcu_backlog_waits"] =
      static_cast<double>(after.backlog_waits - before.backlog_waits);
  state.counters["rcu_grace_periods"] =
      static_cast<double>(after.grace_periods - before.grace_periods);
  state.counters["writer_cpu_share"] = writer.cpu_share();
}

// --- (c): ReadHeavy mix at 1 and 2 threads -----------------------------------------

constexpr std::size_t kMixLog2Keys = 20;
constexpr std::size_t kMixStreamLength = std::size_t{1} << 20;
enum class Op : std::uint8_t { kRead, kInsert, kRemove };

// A reusable barrier for the threads of one benchmark run.
class Barrier {
 public:
  void Wait(int count) {
    std::unique_lock<std::mutex> lock(mu_);
    const std::uint64_t generation = generation_;
    if (++waiting_ == count) {
      waiting_ = 0;
      ++generation_;
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [&] { return generation_ != generation; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int waiting_ = 0;
  std::uint64_t generation_ = 0;
};

Barrier setup_barrier;

// Per thread: its slice of the key space, its live window [head, tail) in
// that slice (mod the slice size), its random slice offsets and op mix.
struct alignas(64) MixThread {
  std::size_t slice_begin = 0;
  std::uint64_t head = 0;
  std::uint64_t tail = 0;
  std::size_t next = 0;  // position in `offsets` and `ops`, kept across runs
  std::vector<std::uint32_t> offsets;
  std::vector<Op> ops;
};

template <typename Map>
struct MixFixture : Fixture {
  explicit MixFixture(int thread_count)
      : map(std::size_t{1} << kMixLog2Keys), threads(thread_count) {
    const std::size_t keys = std::size_t{1} << kMixLog2Keys;
    const std::size_t slice = keys / static_cast<std::size_t>(thread_count);
    for (int t = 0; t < thread_count; ++t) {
      MixThread& thread = threads[static_cast<std::size_t>(t)];
      thread.slice_begin = slice * static_cast<std::size_t>(t);
      thread.tail = slice * 3 / 4;  // prefill 75%
      for (std::uint64_t i = 0; i < thread.tail; ++i) {
        const Key key = KeyAt(thread.slice_begin + i);
        map.Insert(key, ValueFor(key));
      }
      std::mt19937_64 rng(1000 + static_cast<std::uint64_t>(t));
      std::uniform_int_distribution<std::uint32_t> pick(0, static_cast<std::uint32_t>(slice - 1));
      thread.offsets.resize(kMixStreamLength);
      for (std::uint32_t& offset : thread.offsets) offset = pick(rng);
      // Like conc-map-bench: a shuffled block of 100 operations, repeated
      // (with a fresh shuffle per block, over the stream's length).
      thread.ops.reserve(kMixStreamLength);
      std::vector<Op> block(100, Op::kRead);
      block[0] = Op::kInsert;
      block[1] = Op::kRemove;
      while (thread.ops.size() < kMixStreamLength) {
        std::shuffle(block.begin(), block.end(), rng);
        for (Op op : block) {
          if (thread.ops.size() < kMixStreamLength) thread.ops.push_back(op);
        }
      }
    }
  }
  Map map;
  std::vector<MixThread> threads;
};

template <typename Map>
void BM_ReadHeavy(benchmark::State& state) {
  RegisterThisThread();
  const int thread_count = state.threads();
  const std::string key = std::string(Map::kName) + "/mix/" + std::to_string(thread_count);
  if (state.thread_index() == 0) {
    CachedFixture<MixFixture<Map>>(key,
                                   [&] { return std::make_unique<MixFixture<Map>>(thread_count); });
  }
  setup_barrier.Wait(thread_count);  // the fixture exists
  auto& fixture = static_cast<MixFixture<Map>&>(*current_fixture);
  Map& map = fixture.map;
  MixThread& self = fixture.threads[static_cast<std::size_t>(state.thread_index())];
  const std::size_t slice_mask =
      (std::size_t{1} << kMixLog2Keys) / static_cast<std::size_t>(thread_count) - 1;
  const std::size_t stream_mask = kMixStreamLength - 1;
  // Locals, so that compiler barriers in a map's read side do not make the
  // loop reload them.
  const Op* const ops = self.ops.data();
  const std::uint32_t* const offsets = self.offsets.data();
  const std::size_t slice_begin = self.slice_begin;
  std::size_t next = self.next;
  std::uint64_t head = self.head;
  std::uint64_t tail = self.tail;
  std::uint64_t hits = 0;
  std::uint64_t reads = 0;
  Value sum = 0;
  const rcu::Stats rcu_before = rcu::GetStats();
  const auto wall_start = std::chrono::steady_clock::now();
  const double cpu_start = ThreadCpuSeconds();
  for (auto _ : state) {
    const std::size_t at = next++ & stream_mask;
    switch (ops[at]) {
      case Op::kRead: {
        const Value value = map.Lookup(KeyAt(slice_begin + offsets[at]));
        sum += value;
        hits += value != 0;
        ++reads;
        break;
      }
      case Op::kInsert: {
        const Key k = KeyAt(slice_begin + (tail++ & slice_mask));
        map.Insert(k, ValueFor(k));
        break;
      }
      case Op::kRemove:
        map.Erase(KeyAt(slice_begin + (head++ & slice_mask)));
        break;
    }
  }
  SetCpuRate(state, ThreadCpuSeconds() - cpu_start);  // summed over threads
  benchmark::DoNotOptimize(sum);
  self.next = next;
  self.head = head;
  self.tail = tail;
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    // Grace periods per second across the process while this thread ran
    // (only rcu::HashMap's writers cause any).
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    state.counters["rcu_grace_periods_per_s"] =
        static_cast<double>(rcu::GetStats().grace_periods - rcu_before.grace_periods) /
        std::max(seconds, 1e-9);
  }
  state.counters["hit_ratio"] = benchmark::Counter(
      static_cast<double>(hits) / std::max<double>(1, static_cast<double>(reads)),
      benchmark::Counter::kAvgThreads);
}

// --- (e) issue 14's workloads: keys drawn in the loop ------------------------------
//
// The workloads of the independent benchmark that issue 14 reports, so that
// its numbers can be reproduced here next to (a)-(c):
//   - keys 0 .. n-1 ("seq": sequential IDs, which std::hash maps to
//     themselves, so the peers' buckets follow the key order) or MixKey of
//     them ("mix"), every map with its default hash;
//   - each key drawn inside the timed loop: xorshift64, then modulo n;
//   - columns: `read` (1 .. hardware_concurrency() readers), `mix90` (2 ..
//     hardware_concurrency() threads, 90% lookups and 10% insert_or_assign
//     of existing keys, per thread), `rw` (one reader beside a background
//     writer that alternates insert_or_assign with erase-then-insert, each
//     one write, over the reader's own key range).
// Two controls isolate the differences from the older scenarios:
//   - `read/src:array`: one reader, the same map, keys read from a
//     pre-generated array (as (a) does) instead of drawn in the loop;
//   - `read/src:mask`: keys drawn in the loop, masked instead of divided;
//   - `rw/range:disjoint`: the writer of `rw` over the last n/64 keys, which
//     the reader never asks for (as (b)'s churn does).
// Each map reports its memory: `rss_bytes_per_entry`, the peak RSS growth
// (VmHWM, reset before the build; freed memory is returned with
// malloc_trim first) while it is built and filled with n entries, divided
// by n; and `heap_bytes_per_entry`, the growth of malloc's bytes in use
// (mallinfo2) over the same build.

enum class KeyKind { kSeq, kMix };

const char* KeyKindName(KeyKind kind) { return kind == KeyKind::kSeq ? "seq" : "mix"; }

template <KeyKind kKind>
inline Key KeyOf(std::uint64_t i) {
  return kKind == KeyKind::kSeq ? i : rcu_bench::MixKey(i);
}

inline std::uint64_t XorShift(std::uint64_t& x) {
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return x;
}

std::uint64_t HeapInUseBytes() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

template <typename Map>
struct DrawnFixture : Fixture {
  DrawnFixture(std::size_t n_in, KeyKind kind) : n(n_in) {
    malloc_trim(0);
    const bool peak = rcu_bench::ResetPeakRss();
    const std::int64_t rss_before = rcu_bench::ProcStatusKiB("VmRSS");
    const std::uint64_t heap_before = HeapInUseBytes();
    map = std::make_unique<Map>(n);
    for (std::uint64_t i = 0; i < n; ++i) {
      const Key key = kind == KeyKind::kSeq ? i : rcu_bench::MixKey(i);
      map->Insert(key, ValueFor(key));
    }
    const std::int64_t rss_after = rcu_bench::ProcStatusKiB(peak ? "VmHWM" : "VmRSS");
    rss_bytes_per_entry =
        static_cast<double>(rss_after - rss_before) * 1024.0 / static_cast<double>(n);
    heap_bytes_per_entry =
        static_cast<double>(HeapInUseBytes() - heap_before) / static_cast<double>(n);
    // The control's pre-generated keys, as (a) draws them: after the
    // measurement, so that they do not count as the map's memory.
    std::mt19937_64 rng(n);
    std::uniform_int_distribution<std::uint64_t> pick(0, n - 1);
    array.resize(rcu_bench::LookupStreamLength(n));
    for (Key& key : array) {
      const std::uint64_t i = pick(rng);
      key = kind == KeyKind::kSeq ? i : rcu_bench::MixKey(i);
    }
  }
  std::size_t n;
  std::unique_ptr<Map> map;
  std::vector<Key> array;
  double rss_bytes_per_entry = 0;
  double heap_bytes_per_entry = 0;
};

// The fixture of (map, n, kind), built by thread 0 while the others wait.
template <typename Map>
DrawnFixture<Map>& GetDrawnFixture(benchmark::State& state, std::size_t n, KeyKind kind) {
  const std::string key =
      std::string(Map::kName) + "/drawn/" + std::to_string(n) + "/" + KeyKindName(kind);
  if (state.thread_index() == 0) {
    CachedFixture<DrawnFixture<Map>>(key,
                                     [&] { return std::make_unique<DrawnFixture<Map>>(n, kind); });
  }
  setup_barrier.Wait(state.threads());
  return static_cast<DrawnFixture<Map>&>(*current_fixture);
}

template <typename Map>
void SetMemoryCounters(benchmark::State& state, const DrawnFixture<Map>& fixture) {
  state.counters["rss_bytes_per_entry"] =
      benchmark::Counter(fixture.rss_bytes_per_entry, benchmark::Counter::kAvgThreads);
  state.counters["heap_bytes_per_entry"] =
      benchmark::Counter(fixture.heap_bytes_per_entry, benchmark::Counter::kAvgThreads);
}

void SetHitRatio(benchmark::State& state, std::uint64_t hits, std::uint64_t reads) {
  state.counters["hit_ratio"] = benchmark::Counter(
      static_cast<double>(hits) / std::max<double>(1, static_cast<double>(reads)),
      benchmark::Counter::kAvgThreads);
}

std::uint64_t SeedFor(benchmark::State& state, std::uint64_t salt) {
  return rcu_bench::MixKey(salt * 64 + static_cast<std::uint64_t>(state.thread_index())) | 1;
}

double ProcessCpuSeconds() {
  timespec now;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

// CPU time of the threads that a benchmark counts (its own threads and
// writer), summed, in nanoseconds: the rest of the process's CPU time while
// it ran went to background threads (rcu::HashMap's and liburcu's callback
// threads), which the wall-clock rate pays for on a 2-core machine and the
// per-CPU-second rate does not see.
std::atomic<std::int64_t> counted_cpu_ns{0};

void CountCpu(double seconds) {
  counted_cpu_ns.fetch_add(static_cast<std::int64_t>(seconds * 1e9), std::memory_order_relaxed);
}

// Sets `bg_cpu_share`: the background threads' CPU time over the wall-clock
// time, from thread 0 once every thread has counted its CPU.
class BackgroundCpu {
 public:
  explicit BackgroundCpu(benchmark::State& state) : state_(state) {
    setup_barrier.Wait(state.threads());
    if (state.thread_index() == 0) {
      counted_cpu_ns.store(0, std::memory_order_relaxed);
      rcu_before_ = rcu::GetStats();
      process_start_ = ProcessCpuSeconds();
      wall_start_ = std::chrono::steady_clock::now();
    }
    setup_barrier.Wait(state.threads());
  }
  void Finish() {
    setup_barrier.Wait(state_.threads());
    if (state_.thread_index() != 0) return;
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start_).count();
    const double background =
        ProcessCpuSeconds() - process_start_ - static_cast<double>(counted_cpu_ns.load()) * 1e-9;
    state_.counters["bg_cpu_share"] = wall > 0 ? std::max(0.0, background) / wall : 0;
    // rcu::HashMap's writers only: how often a retiring thread waited for
    // the callback thread (backpressure), per second.
    state_.counters["rcu_backlog_waits_per_s"] =
        wall > 0
            ? static_cast<double>(rcu::GetStats().backlog_waits - rcu_before_.backlog_waits) / wall
            : 0;
  }

 private:
  benchmark::State& state_;
  double process_start_ = 0;
  std::chrono::steady_clock::time_point wall_start_;
  rcu::Stats rcu_before_;
};

// `read`: lookups of keys drawn in the loop, or (kArray) read from the
// pre-generated array.
// Where `read` takes its keys: drawn in the loop (xorshift, then modulo n),
// drawn but masked (xorshift & (n - 1): no division), or read from the
// pre-generated array.
enum class KeySource { kModulo, kMask, kArray };

template <typename Map, KeyKind kKind, KeySource kSource>
void BM_DrawnRead(benchmark::State& state, std::size_t log2_size) {
  RegisterThisThread();
  const std::size_t n = std::size_t{1} << log2_size;
  DrawnFixture<Map>& fixture = GetDrawnFixture<Map>(state, n, kKind);
  const Map& map = *fixture.map;
  const std::uint64_t range = n;
  const Key* const keys = fixture.array.data();
  const std::size_t mask = fixture.array.size() - 1;
  std::uint64_t x = SeedFor(state, 1);
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 4099;
  std::uint64_t hits = 0;
  Value sum = 0;
  const double cpu_start = ThreadCpuSeconds();
  for (auto _ : state) {
    Key key;
    if (kSource == KeySource::kArray) {
      key = keys[i++ & mask];
    } else if (kSource == KeySource::kMask) {
      key = KeyOf<kKind>(XorShift(x) & (range - 1));
    } else {
      key = KeyOf<kKind>(XorShift(x) % range);
    }
    const Value value = map.Lookup(key);
    sum += value;
    hits += value != 0;
  }
  SetCpuRate(state, ThreadCpuSeconds() - cpu_start);
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
  SetHitRatio(state, hits, static_cast<std::uint64_t>(state.iterations()));
  SetMemoryCounters(state, fixture);
}

// `mix90`: per thread, 90% lookups and 10% insert_or_assign of existing
// keys, all drawn in the loop.
template <typename Map, KeyKind kKind>
void BM_DrawnMix90(benchmark::State& state, std::size_t log2_size) {
  RegisterThisThread();
  const std::size_t n = std::size_t{1} << log2_size;
  DrawnFixture<Map>& fixture = GetDrawnFixture<Map>(state, n, kKind);
  Map& map = *fixture.map;
  const std::uint64_t range = n;
  std::uint64_t x = SeedFor(state, 2);
  std::uint64_t hits = 0;
  std::uint64_t reads = 0;
  Value sum = 0;
  BackgroundCpu background(state);
  const double cpu_start = ThreadCpuSeconds();
  for (auto _ : state) {
    const std::uint64_t r = XorShift(x);
    const Key key = KeyOf<kKind>(r % range);
    if ((r >> 32) % 10 == 0) {
      map.Assign(key, (r << 1) | 1);
    } else {
      const Value value = map.Lookup(key);
      sum += value;
      hits += value != 0;
      ++reads;
    }
  }
  const double cpu_seconds = ThreadCpuSeconds() - cpu_start;
  SetCpuRate(state, cpu_seconds);
  CountCpu(cpu_seconds);
  background.Finish();
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
  SetHitRatio(state, hits, reads);
  SetMemoryCounters(state, fixture);
}

// The writer of `rw`: from construction until Stop(), alternates
// insert_or_assign with erase-then-insert of keys drawn from
// [first, first + count); each counts as one write. The map holds every key
// again once it stops.
template <typename Map, KeyKind kKind>
class AlternatingWriter {
 public:
  AlternatingWriter(Map& map, std::uint64_t first, std::uint64_t count)
      : map_(map), first_(first), count_(count), thread_([this] { Run(); }) {
    while (!started_.load(std::memory_order_acquire)) std::this_thread::yield();
  }
  ~AlternatingWriter() { Stop(); }
  AlternatingWriter(const AlternatingWriter&) = delete;
  AlternatingWriter& operator=(const AlternatingWriter&) = delete;

  void Stop() {
    if (!thread_.joinable()) return;
    stop_.store(true, std::memory_order_relaxed);
    thread_.join();
  }
  double ops_per_second() const { return seconds_ > 0 ? static_cast<double>(ops_) / seconds_ : 0; }

 private:
  void Run() {
    RegisterThisThread();
    std::uint64_t x = rcu_bench::MixKey(first_ + count_) | 1;
    std::uint64_t ops = 0;
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = ThreadCpuSeconds();
    started_.store(true, std::memory_order_release);
    while (!stop_.load(std::memory_order_relaxed)) {
      for (int batch = 0; batch < 32; ++batch) {
        const std::uint64_t r = XorShift(x);
        const Key key = KeyOf<kKind>(first_ + r % count_);
        if (batch % 2 == 0) {
          map_.Assign(key, (r << 1) | 1);
        } else {
          map_.Erase(key);
          map_.Insert(key, ValueFor(key));
        }
      }
      ops += 32;
    }
    seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CountCpu(ThreadCpuSeconds() - cpu_start);
    ops_ = ops;
  }

  Map& map_;
  const std::uint64_t first_;
  const std::uint64_t count_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stop_{false};
  std::uint64_t ops_ = 0;  // written by the writer before it exits
  double seconds_ = 0;
  std::thread thread_;  // last: starts once the members above exist
};

// `rw`: one reader (keys drawn in the loop) beside an AlternatingWriter over
// the same n keys (kDisjoint false) or over the last n/64, which the reader
// then never asks for (kDisjoint true). Only the reader's lookups count.
template <typename Map, KeyKind kKind, bool kDisjoint>
void BM_DrawnReaderWriter(benchmark::State& state, std::size_t log2_size) {
  RegisterThisThread();
  const std::size_t n = std::size_t{1} << log2_size;
  DrawnFixture<Map>& fixture = GetDrawnFixture<Map>(state, n, kKind);
  Map& map = *fixture.map;
  const std::uint64_t range = kDisjoint ? StableCount(n) : n;
  std::uint64_t x = SeedFor(state, 3);
  std::uint64_t hits = 0;
  Value sum = 0;
  BackgroundCpu background(state);
  AlternatingWriter<Map, kKind> writer(map, kDisjoint ? StableCount(n) : 0,
                                       kDisjoint ? n - StableCount(n) : n);
  const double cpu_start = ThreadCpuSeconds();
  for (auto _ : state) {
    const Value value = map.Lookup(KeyOf<kKind>(XorShift(x) % range));
    sum += value;
    hits += value != 0;
  }
  const double cpu_seconds = ThreadCpuSeconds() - cpu_start;
  SetCpuRate(state, cpu_seconds);
  CountCpu(cpu_seconds);
  writer.Stop();
  background.Finish();
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
  state.counters["writer_ops_per_s"] = writer.ops_per_second();
  SetHitRatio(state, hits, static_cast<std::uint64_t>(state.iterations()));
  SetMemoryCounters(state, fixture);
}

// Thread counts 1 (or `from`), 2, 4, ... up to the hardware's, and the
// hardware's count itself.
std::vector<int> ThreadCounts(int from) {
  const int hardware = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  std::vector<int> counts;
  for (int t = from; t < hardware; t *= 2) counts.push_back(t);
  counts.push_back(std::max(from, hardware));
  return counts;
}

constexpr std::size_t kDrawnLog2Sizes[] = {11, 20, 22};

std::string DrawnName(const char* column, std::size_t log2_size, KeyKind kind, const char* map) {
  return std::string("e_drawn/") + column + "/log2size:" + std::to_string(log2_size) +
         "/keys:" + KeyKindName(kind) + "/map:" + map;
}

template <typename Map, KeyKind kKind>
void RegisterDrawnFor(bool writers) {
  for (std::size_t log2_size : kDrawnLog2Sizes) {
    auto* read = benchmark::RegisterBenchmark(
        DrawnName("read", log2_size, kKind, Map::kName).c_str(),
        [log2_size](benchmark::State& state) {
          BM_DrawnRead<Map, kKind, KeySource::kModulo>(state, log2_size);
        });
    for (int t : ThreadCounts(1)) read->Threads(t);
    read->UseRealTime();
    benchmark::RegisterBenchmark(DrawnName("read/src:array", log2_size, kKind, Map::kName).c_str(),
                                 [log2_size](benchmark::State& state) {
                                   BM_DrawnRead<Map, kKind, KeySource::kArray>(state, log2_size);
                                 })
        ->UseRealTime();
    benchmark::RegisterBenchmark(DrawnName("read/src:mask", log2_size, kKind, Map::kName).c_str(),
                                 [log2_size](benchmark::State& state) {
                                   BM_DrawnRead<Map, kKind, KeySource::kMask>(state, log2_size);
                                 })
        ->UseRealTime();
    if (!writers) continue;
    auto* mix = benchmark::RegisterBenchmark(
        DrawnName("mix90", log2_size, kKind, Map::kName).c_str(),
        [log2_size](benchmark::State& state) { BM_DrawnMix90<Map, kKind>(state, log2_size); });
    for (int t : ThreadCounts(2)) mix->Threads(t);
    mix->UseRealTime();
    benchmark::RegisterBenchmark(DrawnName("rw", log2_size, kKind, Map::kName).c_str(),
                                 [log2_size](benchmark::State& state) {
                                   BM_DrawnReaderWriter<Map, kKind, false>(state, log2_size);
                                 })
        ->UseRealTime();
    benchmark::RegisterBenchmark(
        DrawnName("rw/range:disjoint", log2_size, kKind, Map::kName).c_str(),
        [log2_size](benchmark::State& state) {
          BM_DrawnReaderWriter<Map, kKind, true>(state, log2_size);
        })
        ->UseRealTime();
  }
}

template <typename Map>
void RegisterDrawn(bool writers = true) {
  RegisterDrawnFor<Map, KeyKind::kSeq>(writers);
  RegisterDrawnFor<Map, KeyKind::kMix>(writers);
}

// --- (f) conc-map-bench's Exchange and RapidGrow -------------------------------------
//
// The two mixes of xacrimon/conc-map-bench (bustle's harness) besides
// ReadHeavy ((c) above), per thread, in bustle's order: one block of 100
// operations, shuffled once (fixed seed here), repeated.
//   exchange     10% read, 40% insert, 40% remove, 10% update; 75% prefilled.
//   rapid_grow    5% read, 80% insert,  5% remove, 10% update; from empty.
// As in bustle, every thread works over its own keys: thread t of T owns the
// key indexes o * T + t (o = 0, 1, ...), mapped by KeyOf<kKind> as in (e),
// so that with sequential keys the union of the threads' keys stays dense.
// An insert takes the thread's next fresh index (`tail`), a remove its oldest
// live one (`head`), so each thread's live keys are the window [head, tail).
// An update is insert_or_assign of a key drawn uniformly from that window:
// bustle's update changes a present key and fails on an absent one, and the
// adapters' Assign would insert it, so updates are drawn where they hit. A
// read draws its index in the loop (xorshift, then modulo), as (e) does.
//
// exchange keeps occupancy stable the way (c) does: each thread owns a slice
// of n / T indexes, prefilled to 75%, and its window slides around the slice
// (indexes modulo the slice), inserts and removes balanced in every block of
// 100, so the map holds 0.75 n entries (within 40 per thread) through every
// run and repetition; the fixture (and the window) is kept across runs.
// Reads draw from the whole slice and hit 75% of the time. (bustle's window
// slides along a per-thread array of 1.75 x 2^25 / T keys rounded up to a
// power of two and never wraps, so its reads hit about 37-43%.)
//
// rapid_grow starts every run (each repetition too) from a new map
// constructed with capacity 0, NOT presized: the run measures growth,
// every resize included. (conc-map-bench constructs its maps with capacity
// 2^25, which its 0.75 x 2^25 final entries never exceed, so there its maps
// may never resize.) As in bustle, the run does a fixed number of
// operations, n = 2^20 in all (n / T per thread: ->Iterations), so it ends
// with 0.75 n entries whatever the thread count; reads draw from the
// thread's n / T indexes, inserted or not yet (bustle's reads range over the
// thread's whole key array), so they hit less as the run starts and more as
// it ends, 37% overall (bustle's about the same). A remove or update on an empty window (only in
// the first block) looks up the next fresh key instead, a miss.
//
// Counters: ops_per_cpu_s, bg_cpu_share and rcu_backlog_waits_per_s as in
// (e); hit_ratio of the reads; rss_bytes_per_entry and heap_bytes_per_entry:
// for exchange, the peak RSS growth (and heap growth) while the fixture was
// built, over its 0.75 n entries (as (e) does); for rapid_grow, the peak RSS
// growth (VmHWM, reset before the map is constructed) over the whole run,
// and the heap growth at its end, over the entries at the end.

enum class CmbOp : std::uint8_t { kRead, kInsert, kRemove, kUpdate };

struct CmbMix {
  const char* name;
  int read;
  int insert;
  int remove;
  int update;
};

constexpr CmbMix kExchange = {"exchange", 10, 40, 40, 10};
constexpr CmbMix kRapidGrow = {"rapid_grow", 5, 80, 5, 10};

// bustle's block: the mix's 100 operations, shuffled once.
std::vector<CmbOp> CmbBlock(const CmbMix& mix) {
  std::vector<CmbOp> block;
  block.insert(block.end(), static_cast<std::size_t>(mix.read), CmbOp::kRead);
  block.insert(block.end(), static_cast<std::size_t>(mix.insert), CmbOp::kInsert);
  block.insert(block.end(), static_cast<std::size_t>(mix.remove), CmbOp::kRemove);
  block.insert(block.end(), static_cast<std::size_t>(mix.update), CmbOp::kUpdate);
  std::shuffle(block.begin(), block.end(), std::mt19937_64(100));
  return block;
}

// The peak RSS growth (VmHWM, reset at construction; malloc_trim first) and
// heap growth (mallinfo2) from construction to Finish(), per entry.
class MemoryProbe {
 public:
  MemoryProbe()
      : peak_((malloc_trim(0), rcu_bench::ResetPeakRss())),
        rss_before_(rcu_bench::ProcStatusKiB("VmRSS")),
        heap_before_(HeapInUseBytes()) {}
  void Finish(std::uint64_t entries) {
    const double n = static_cast<double>(std::max<std::uint64_t>(1, entries));
    rss_bytes_per_entry =
        static_cast<double>(rcu_bench::ProcStatusKiB(peak_ ? "VmHWM" : "VmRSS") - rss_before_) *
        1024.0 / n;
    heap_bytes_per_entry =
        (static_cast<double>(HeapInUseBytes()) - static_cast<double>(heap_before_)) / n;
  }
  double rss_bytes_per_entry = 0;
  double heap_bytes_per_entry = 0;

 private:
  bool peak_;
  std::int64_t rss_before_;
  std::uint64_t heap_before_;
};

// A thread's live window [head, tail) of its indexes, and its place in the
// block; kept across runs.
struct alignas(64) CmbThread {
  std::uint64_t head = 0;
  std::uint64_t tail = 0;
  std::size_t at = 0;
  std::uint64_t hits = 0;
  std::uint64_t reads = 0;
};

template <typename Map>
struct CmbFixture : Fixture {
  // exchange (prefill true): n-entry capacity, each thread's slice prefilled
  // to 75%; rapid_grow: an empty map of capacity 0.
  CmbFixture(std::size_t n, KeyKind kind, int thread_count, bool prefill)
      : map(std::make_unique<Map>(prefill ? n : 0)),
        threads(static_cast<std::size_t>(thread_count)),
        slice(n / static_cast<std::size_t>(thread_count)) {
    if (!prefill) return;  // `memory` finishes at the end of the run
    const std::uint64_t t_count = static_cast<std::uint64_t>(thread_count);
    std::uint64_t entries = 0;
    for (std::uint64_t t = 0; t < t_count; ++t) {
      CmbThread& thread = threads[t];
      thread.tail = slice * 3 / 4;
      for (std::uint64_t o = 0; o < thread.tail; ++o) {
        const std::uint64_t i = o * t_count + t;
        const Key key = kind == KeyKind::kSeq ? i : rcu_bench::MixKey(i);
        map->Insert(key, ValueFor(key));
      }
      entries += thread.tail;
    }
    memory.Finish(entries);
  }
  MemoryProbe memory;  // first: it starts before the map exists
  std::unique_ptr<Map> map;
  std::vector<CmbThread> threads;
  std::uint64_t slice;
};

template <typename Map, KeyKind kKind, bool kGrow>
void BM_Cmb(benchmark::State& state, std::size_t log2_size) {
  RegisterThisThread();
  const std::size_t n = std::size_t{1} << log2_size;
  const int thread_count = state.threads();
  if (state.thread_index() == 0) {
    if (kGrow) {
      // A new, empty map every run: the previous one is destroyed (and its
      // retired entries freed) before the memory probe starts.
      DropFixture();
      current_fixture = std::make_unique<CmbFixture<Map>>(n, kKind, thread_count, false);
      current_fixture_key = std::string(Map::kName) + "/rapid_grow";
    } else {
      CachedFixture<CmbFixture<Map>>(
          std::string(Map::kName) + "/exchange/" + std::to_string(n) + "/" + KeyKindName(kKind) +
              "/" + std::to_string(thread_count),
          [&] { return std::make_unique<CmbFixture<Map>>(n, kKind, thread_count, true); });
    }
  }
  setup_barrier.Wait(thread_count);  // the fixture exists
  auto& fixture = static_cast<CmbFixture<Map>&>(*current_fixture);
  Map& map = *fixture.map;
  CmbThread& self = fixture.threads[static_cast<std::size_t>(state.thread_index())];
  static const std::vector<CmbOp> block = CmbBlock(kGrow ? kRapidGrow : kExchange);
  // Locals, so that compiler barriers in a map's read side do not make the
  // loop reload them.
  const CmbOp* const ops = block.data();
  const std::uint64_t stride = static_cast<std::uint64_t>(thread_count);
  const std::uint64_t me = static_cast<std::uint64_t>(state.thread_index());
  // exchange: indexes wrap around the slice; rapid_grow: reads range over
  // the thread's n / T indexes, which its inserts never pass (n / T ops).
  const std::uint64_t slice = fixture.slice;
  const auto index = [&](std::uint64_t o) { return (kGrow ? o : o % slice) * stride + me; };
  const auto read_index = [&](std::uint64_t r) { return r % slice * stride + me; };
  std::size_t at = self.at;
  std::uint64_t head = self.head;
  std::uint64_t tail = self.tail;
  std::uint64_t x = SeedFor(state, kGrow ? 5 : 4);
  std::uint64_t hits = 0;
  std::uint64_t reads = 0;
  Value sum = 0;
  BackgroundCpu background(state);
  const double cpu_start = ThreadCpuSeconds();
  for (auto _ : state) {
    const CmbOp op = ops[at];
    if (++at == 100) at = 0;
    switch (op) {
      case CmbOp::kRead: {
        const Value value = map.Lookup(KeyOf<kKind>(read_index(XorShift(x))));
        sum += value;
        hits += value != 0;
        ++reads;
        break;
      }
      case CmbOp::kInsert: {
        const Key key = KeyOf<kKind>(index(tail++));
        map.Insert(key, ValueFor(key));
        break;
      }
      case CmbOp::kRemove:
        if (head != tail) {
          map.Erase(KeyOf<kKind>(index(head++)));
        } else {
          sum += map.Lookup(KeyOf<kKind>(index(tail)));  // empty: a miss
        }
        break;
      case CmbOp::kUpdate:
        if (head != tail) {
          const std::uint64_t r = XorShift(x);
          map.Assign(KeyOf<kKind>(index(head + r % (tail - head))), (r << 1) | 1);
        } else {
          sum += map.Lookup(KeyOf<kKind>(index(tail)));  // empty: a miss
        }
        break;
    }
  }
  const double cpu_seconds = ThreadCpuSeconds() - cpu_start;
  SetCpuRate(state, cpu_seconds);
  CountCpu(cpu_seconds);
  benchmark::DoNotOptimize(sum);
  self.at = at;
  self.head = head;
  self.tail = tail;
  background.Finish();  // every thread has stored its window
  state.SetItemsProcessed(state.iterations());
  SetHitRatio(state, hits, reads);
  if (state.thread_index() != 0) return;
  if (kGrow) {
    std::uint64_t entries = 0;
    for (const CmbThread& thread : fixture.threads) entries += thread.tail - thread.head;
    fixture.memory.Finish(entries);
    state.counters["entries"] = static_cast<double>(entries);
  }
  // Thread 0's only: Google Benchmark sums a counter over the threads that
  // set it.
  state.counters["rss_bytes_per_entry"] = fixture.memory.rss_bytes_per_entry;
  state.counters["heap_bytes_per_entry"] = fixture.memory.heap_bytes_per_entry;
}

constexpr std::size_t kCmbLog2Sizes[] = {20, 22};
// rapid_grow at 2^20 only, and without rculfhash: unsized, it ran for over
// four minutes without finishing one run at 2^22 with sequential keys, and
// for over a minute at 2^20 with mixed keys (one thread; not investigated).
constexpr std::size_t kCmbGrowLog2Size = 20;

std::string CmbName(const CmbMix& mix, std::size_t log2_size, KeyKind kind, const char* map) {
  return std::string("f_cmb/") + mix.name + "/log2size:" + std::to_string(log2_size) +
         "/keys:" + KeyKindName(kind) + "/map:" + map;
}

template <typename Map, KeyKind kKind>
void RegisterCmbFor() {
  for (std::size_t log2_size : kCmbLog2Sizes) {
    auto* exchange = benchmark::RegisterBenchmark(
        CmbName(kExchange, log2_size, kKind, Map::kName).c_str(),
        [log2_size](benchmark::State& state) { BM_Cmb<Map, kKind, false>(state, log2_size); });
    for (int t : ThreadCounts(1)) exchange->Threads(t);
    exchange->UseRealTime();
    // n operations in all, split over the threads: one registration per
    // thread count, since ->Iterations counts per thread.
    if (log2_size != kCmbGrowLog2Size || std::is_same<Map, LfhtAdapter>::value) continue;
    for (int t : ThreadCounts(1)) {
      benchmark::RegisterBenchmark(
          CmbName(kRapidGrow, log2_size, kKind, Map::kName).c_str(),
          [log2_size](benchmark::State& state) { BM_Cmb<Map, kKind, true>(state, log2_size); })
          ->Threads(t)
          ->Iterations(static_cast<benchmark::IterationCount>((std::size_t{1} << log2_size) /
                                                              static_cast<std::size_t>(t)))
          ->UseRealTime();
    }
  }
}

template <typename Map>
void RegisterCmb() {
  RegisterCmbFor<Map, KeyKind::kSeq>();
  RegisterCmbFor<Map, KeyKind::kMix>();
}

// --- (g) Zipf(0.99) keys ------------------------------------------------------------
//
// (e)'s `read` and `mix90` with key ranks drawn Zipf(0.99) over the n
// entries instead of uniformly: rank r is key KeyOf<kMix>(r), so the hot keys
// are scattered over the table, not neighbours (YCSB's "scrambled
// zipfian"). Every rank is in the map, so every read hits; rank 0 takes 6.5%
// of the draws at 2^20, ranks below 1000 half of them. The draw is YCSB's
// ZipfianGenerator (Gray et al., "Quickly generating billion-record
// synthetic databases", SIGMOD 1994): zeta(n, 0.99) computed once per n
// (n calls of std::pow, about 0.1 s at 2^22, outside the timed loop), then
// per draw one xorshift, a multiply-compare and, for ranks above 1,
// n * (eta * u - eta + 1)^alpha with alpha = 1 / (1 - 0.99) = 100, taken by
// six squarings and three multiplies: the same ranks as std::pow in a
// standalone check (20M draws), in half its time (24 against 50 ns, on the
// loaded 2-core machine); no table, so no cache misses of its own. Every map pays the same draw,
// but it is added time, so it pulls every ratio toward 1: `g_zipf/draw` measures the draw alone
// (summing keys, no map), to subtract if wanted. mix90's write decision takes the low 11 bits of
// the same xorshift output (% 10: 10.01% writes), the rank its top 53.

class ZipfDraw {
 public:
  // theta is 0.99: alpha below is 100.
  explicit ZipfDraw(std::uint64_t n) : n_(static_cast<double>(n)), last_(n - 1) {
    constexpr double kTheta = 0.99;
    double zetan = 0;
    for (std::uint64_t i = 1; i <= n; ++i) zetan += 1.0 / std::pow(static_cast<double>(i), kTheta);
    const double zeta2 = 1.0 + 1.0 / std::pow(2.0, kTheta);
    zetan_ = zetan;
    eta_ = (1.0 - std::pow(2.0 / n_, 1.0 - kTheta)) / (1.0 - zeta2 / zetan);
    one_plus_half_pow_theta_ = 1.0 + std::pow(0.5, kTheta);
  }
  // The rank (0 is the most frequent) for 64 random bits.
  std::uint64_t operator()(std::uint64_t bits) const {
    const double u = static_cast<double>(bits >> 11) * 0x1.0p-53;
    const double uz = u * zetan_;
    if (uz < 1.0) return 0;
    if (uz < one_plus_half_pow_theta_) return 1;
    const auto rank = static_cast<std::uint64_t>(n_ * Pow100(eta_ * u - eta_ + 1.0));
    return rank < last_ ? rank : last_;
  }

 private:
  static double Pow100(double y) {
    const double y2 = y * y;
    const double y4 = y2 * y2;
    const double y8 = y4 * y4;
    const double y16 = y8 * y8;
    const double y32 = y16 * y16;
    return y32 * y32 * y32 * y4;
  }

  double n_;
  std::uint64_t last_;
  double zetan_ = 0;
  double eta_ = 0;
  double one_plus_half_pow_theta_ = 0;
};

// The draw for n entries, made on first use.
const ZipfDraw& ZipfFor(std::size_t n) {
  static std::mutex mu;
  static std::map<std::size_t, std::unique_ptr<ZipfDraw>> draws;
  std::lock_guard<std::mutex> lock(mu);
  std::unique_ptr<ZipfDraw>& draw = draws[n];
  if (draw == nullptr) draw = std::make_unique<ZipfDraw>(n);
  return *draw;
}

template <typename Map>
void BM_ZipfRead(benchmark::State& state, std::size_t log2_size) {
  RegisterThisThread();
  const std::size_t n = std::size_t{1} << log2_size;
  DrawnFixture<Map>& fixture = GetDrawnFixture<Map>(state, n, KeyKind::kMix);
  const Map& map = *fixture.map;
  const ZipfDraw zipf = ZipfFor(n);  // a local copy
  std::uint64_t x = SeedFor(state, 6);
  std::uint64_t hits = 0;
  Value sum = 0;
  const double cpu_start = ThreadCpuSeconds();
  for (auto _ : state) {
    const Value value = map.Lookup(KeyOf<KeyKind::kMix>(zipf(XorShift(x))));
    sum += value;
    hits += value != 0;
  }
  SetCpuRate(state, ThreadCpuSeconds() - cpu_start);
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
  SetHitRatio(state, hits, static_cast<std::uint64_t>(state.iterations()));
  SetMemoryCounters(state, fixture);
}

template <typename Map>
void BM_ZipfMix90(benchmark::State& state, std::size_t log2_size) {
  RegisterThisThread();
  const std::size_t n = std::size_t{1} << log2_size;
  DrawnFixture<Map>& fixture = GetDrawnFixture<Map>(state, n, KeyKind::kMix);
  Map& map = *fixture.map;
  const ZipfDraw zipf = ZipfFor(n);
  std::uint64_t x = SeedFor(state, 7);
  std::uint64_t hits = 0;
  std::uint64_t reads = 0;
  Value sum = 0;
  BackgroundCpu background(state);
  const double cpu_start = ThreadCpuSeconds();
  for (auto _ : state) {
    const std::uint64_t r = XorShift(x);
    const Key key = KeyOf<KeyKind::kMix>(zipf(r));
    if ((r & 0x7ff) % 10 == 0) {
      map.Assign(key, (r << 1) | 1);
    } else {
      const Value value = map.Lookup(key);
      sum += value;
      hits += value != 0;
      ++reads;
    }
  }
  const double cpu_seconds = ThreadCpuSeconds() - cpu_start;
  SetCpuRate(state, cpu_seconds);
  CountCpu(cpu_seconds);
  background.Finish();
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
  SetHitRatio(state, hits, reads);
  SetMemoryCounters(state, fixture);
}

// The draw alone, one thread: what every map's rate above includes.
void BM_ZipfDrawOnly(benchmark::State& state, std::size_t log2_size) {
  const ZipfDraw zipf = ZipfFor(std::size_t{1} << log2_size);
  std::uint64_t x = SeedFor(state, 6);
  std::uint64_t sum = 0;
  const double cpu_start = ThreadCpuSeconds();
  for (auto _ : state) {
    sum += KeyOf<KeyKind::kMix>(zipf(XorShift(x)));
    benchmark::DoNotOptimize(sum);
  }
  SetCpuRate(state, ThreadCpuSeconds() - cpu_start);
  state.SetItemsProcessed(state.iterations());
}

constexpr std::size_t kZipfLog2Sizes[] = {20, 22};

std::string ZipfName(const char* column, std::size_t log2_size, const char* map) {
  return std::string("g_zipf/") + column + "/log2size:" + std::to_string(log2_size) +
         "/keys:mix/map:" + map;
}

template <typename Map>
void RegisterZipf(bool writers = true) {
  for (std::size_t log2_size : kZipfLog2Sizes) {
    auto* read = benchmark::RegisterBenchmark(
        ZipfName("read", log2_size, Map::kName).c_str(),
        [log2_size](benchmark::State& state) { BM_ZipfRead<Map>(state, log2_size); });
    for (int t : ThreadCounts(1)) read->Threads(t);
    read->UseRealTime();
    if (!writers) continue;
    auto* mix = benchmark::RegisterBenchmark(
        ZipfName("mix90", log2_size, Map::kName).c_str(),
        [log2_size](benchmark::State& state) { BM_ZipfMix90<Map>(state, log2_size); });
    for (int t : ThreadCounts(2)) mix->Threads(t);
    mix->UseRealTime();
  }
}

void RegisterZipfDrawOnly() {
  for (std::size_t log2_size : kZipfLog2Sizes) {
    benchmark::RegisterBenchmark(
        ZipfName("draw", log2_size, "none").c_str(),
        [log2_size](benchmark::State& state) { BM_ZipfDrawOnly(state, log2_size); })
        ->UseRealTime();
  }
}

// --- Registration -------------------------------------------------------------------

constexpr std::size_t kSmallLog2 = 11;  // cache-resident
constexpr std::size_t kLargeLog2 = 20;  // about 1M entries, mostly DRAM

std::string LookupName(std::size_t log2_size, const char* map) {
  return "a_lookup/log2size:" + std::to_string(log2_size) + "/map:" + map;
}
std::string WriterName(WriterMode mode, const char* map) {
  return std::string("b_writer/") + WriterModeName(mode) + "/map:" + map;
}
std::string MixName(const char* map) { return std::string("c_read_heavy/map:") + map; }

template <typename Map>
void RegisterLookups() {
  for (std::size_t log2_size : {kSmallLog2, kLargeLog2}) {
    benchmark::RegisterBenchmark(
        LookupName(log2_size, Map::kName).c_str(),
        [log2_size](benchmark::State& state) { BM_Lookup<Map>(state, log2_size); })
        ->UseRealTime();
  }
}

template <typename Map>
void RegisterWriterAndMix() {
  for (WriterMode mode : {WriterMode::kNone, WriterMode::kUpdate, WriterMode::kChurn}) {
    benchmark::RegisterBenchmark(
        WriterName(mode, Map::kName).c_str(),
        [mode](benchmark::State& state) { BM_LookupWithWriter<Map>(state, kLargeLog2, mode); })
        ->UseRealTime();
  }
  benchmark::RegisterBenchmark(MixName(Map::kName).c_str(), BM_ReadHeavy<Map>)
      ->Threads(1)
      ->Threads(2)
      ->UseRealTime();
}

// The maps in table order; the first is the one under test, the second the
// unsynchronized limit.
const char* const kMaps[] = {
    RcuHashMapAdapter::kName,     UnsyncUnorderedMapAdapter::kName,
    SharedMutexMapAdapter::kName, AbslMutexMapAdapter::kName,
    TbbMapAdapter::kName,         CuckooMapAdapter::kName,
    LfhtAdapter::kName,           LibcdsAdapter::kName,
};

void RegisterAll() {
  RegisterLookups<RcuHashMapAdapter>();
  RegisterLookups<UnsyncUnorderedMapAdapter>();
  RegisterLookups<SharedMutexMapAdapter>();
  RegisterLookups<AbslMutexMapAdapter>();
  RegisterLookups<TbbMapAdapter>();
  RegisterLookups<CuckooMapAdapter>();
  RegisterLookups<LfhtAdapter>();
  RegisterLookups<LibcdsAdapter>();
  RegisterWriterAndMix<RcuHashMapAdapter>();
  RegisterWriterAndMix<SharedMutexMapAdapter>();
  RegisterWriterAndMix<AbslMutexMapAdapter>();
  RegisterWriterAndMix<TbbMapAdapter>();
  RegisterWriterAndMix<CuckooMapAdapter>();
  RegisterWriterAndMix<LfhtAdapter>();
  RegisterWriterAndMix<LibcdsAdapter>();
}

// (e)'s maps: every peer, the unsynchronized one in the read columns only.
void RegisterDrawnAll() {
  RegisterDrawn<RcuHashMapAdapter>();
  RegisterDrawn<UnsyncUnorderedMapAdapter>(/*writers=*/false);
  RegisterDrawn<SharedMutexMapAdapter>();
  RegisterDrawn<AbslMutexMapAdapter>();
  RegisterDrawn<TbbMapAdapter>();
  RegisterDrawn<CuckooMapAdapter>();
  RegisterDrawn<LfhtAdapter>();
}

// (f)'s and (g)'s maps: (e)'s, the unsynchronized one in (g)'s reads only.
void RegisterCmbAndZipfAll() {
  RegisterCmb<RcuHashMapAdapter>();
  RegisterCmb<SharedMutexMapAdapter>();
  RegisterCmb<AbslMutexMapAdapter>();
  RegisterCmb<TbbMapAdapter>();
  RegisterCmb<CuckooMapAdapter>();
  RegisterCmb<LfhtAdapter>();
  RegisterZipfDrawOnly();
  RegisterZipf<RcuHashMapAdapter>();
  RegisterZipf<UnsyncUnorderedMapAdapter>(/*writers=*/false);
  RegisterZipf<SharedMutexMapAdapter>();
  RegisterZipf<AbslMutexMapAdapter>();
  RegisterZipf<TbbMapAdapter>();
  RegisterZipf<CuckooMapAdapter>();
  RegisterZipf<LfhtAdapter>();
}

// --- The ratio table ------------------------------------------------------------------

// The console output as usual, plus each benchmark's median (or single run),
// kept by a quiet rcu_bench::MedianReporter, for the tables printed at the
// end.
class TableReporter : public benchmark::ConsoleReporter {
 public:
  TableReporter() : benchmark::ConsoleReporter(isatty(STDOUT_FILENO) ? OO_Color : OO_None) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    results_.ReportRuns(runs);
    benchmark::ConsoleReporter::ReportRuns(runs);
  }

  void Finalize() override {
    benchmark::ConsoleReporter::Finalize();
    if (results_.empty()) return;
    std::printf(
        "\nrcu::HashMap against its peers (%s; Mops/s; \"rcu/peer\" = rcu::HashMap's "
        "rate divided by the peer's)\n",
        results_.has_medians() ? "medians of the repetitions" : "single runs");
    PrintTables(/*cpu=*/false);
    PrintTables(/*cpu=*/true);
    PrintDrawnTables(/*cpu=*/false);
    PrintDrawnTables(/*cpu=*/true);
    PrintCmbTables(/*cpu=*/false);
    PrintCmbTables(/*cpu=*/true);
    PrintZipfTables(/*cpu=*/false);
    PrintZipfTables(/*cpu=*/true);
    std::fflush(stdout);
  }

 private:
  // Counter `counter` of benchmark `name` at `threads` threads, or -1 when
  // the benchmark did not run.
  double CounterOf(const std::string& name, int threads, const char* counter) const {
    const Run* run = results_.Find(name, threads);
    return run == nullptr ? -1 : rcu_bench::CounterValue(*run, counter);
  }
  // Mops/s, or -1 when the benchmark did not run.
  double Rate(const std::string& name, int threads = 1) const {
    const double rate = CounterOf(name, threads, cpu_ ? "ops_per_cpu_s" : "items_per_second");
    return rate < 0 ? -1 : rate / 1e6;
  }
  double WriterRate(const std::string& name) const {
    const double rate = CounterOf(name, 1, "writer_ops_per_s");
    return rate < 0 ? -1 : rate / 1e6;
  }
  double WriterCpuShare(const std::string& name) const {
    return CounterOf(name, 1, "writer_cpu_share");
  }

  static std::string Num(double value, const char* format = "%.2f") {
    if (value < 0) return "-";
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, format, value);
    return buffer;
  }
  static std::string Ratio(double a, double b) {
    if (a < 0 || b <= 0) return "-";
    return Num(a / b, "%.2fx");
  }
  static std::string Verdict(double ratio, double target) {
    if (ratio < 0) return "-";
    return Num(ratio, "%.2fx") + (ratio >= target ? " (met)" : " (MISSED)");
  }

  void PrintTables(bool cpu) {
    cpu_ = cpu;
    const char* rcu = kMaps[0];
    const char* unsync = kMaps[1];
    std::printf("\n=== rates per %s ===\n",
                cpu ? "CPU second of each measured thread (ops_per_cpu_s: steadier on a busy "
                      "machine)"
                    : "wall-clock second (items_per_second)");

    std::printf("\n(a) 1 reader, no writer, uniform hits\n");
    std::printf("  %-28s %9s %9s %9s %9s\n", "map", "2^11", "rcu/peer", "2^20", "rcu/peer");
    for (const char* map : kMaps) {
      const double small = Rate(LookupName(kSmallLog2, map));
      const double large = Rate(LookupName(kLargeLog2, map));
      std::printf("  %-28s %9s %9s %9s %9s\n", map, Num(small).c_str(),
                  Ratio(Rate(LookupName(kSmallLog2, rcu)), small).c_str(), Num(large).c_str(),
                  Ratio(Rate(LookupName(kLargeLog2, rcu)), large).c_str());
    }
    const auto ratio_to_unsync = [&](std::size_t log2) {
      const double a = Rate(LookupName(log2, rcu));
      const double b = Rate(LookupName(log2, unsync));
      return a < 0 || b <= 0 ? -1 : a / b;
    };
    std::printf(
        "  target rcu::HashMap >= 0.80x unsynchronized std::unordered_map: 2^20 %s, "
        "2^11 %s\n",
        Verdict(ratio_to_unsync(kLargeLog2), 0.8).c_str(),
        Verdict(ratio_to_unsync(kSmallLog2), 0.8).c_str());

    std::printf(
        "\n(b) 1 reader + 1 writer nonstop, 2^20 entries: reader Mops/s; none = no writer ((a) "
        "at 2^20, measured again just before, on the same map); kept = with writer / none; "
        "writer = the writer thread's wall-clock Mops/s (churn counts erase + insert as 2); "
        "wcpu = the writer's CPU time / its wall-clock time (below 1 when it waited for a "
        "lock or for reclamation, or when other processes held the cores)\n");
    std::printf("  %-28s %8s | %8s %6s %8s %7s %5s | %8s %6s %8s %7s %5s\n", "map", "none",
                "update", "kept", "rcu/peer", "writer", "wcpu", "churn", "kept", "rcu/peer",
                "writer", "wcpu");
    bool ahead = true;
    bool any = false;
    for (const char* map : kMaps) {
      if (map == unsync) continue;  // no writer for the unsynchronized map
      const double alone = Rate(WriterName(WriterMode::kNone, map));
      char none[32];
      std::snprintf(none, sizeof none, " %8s |", Num(alone).c_str());
      std::string cells = none;
      for (WriterMode mode : {WriterMode::kUpdate, WriterMode::kChurn}) {
        const double with = Rate(WriterName(mode, map));
        const double rcu_with = Rate(WriterName(mode, rcu));
        any = any || with >= 0;
        if (map != rcu && with >= 0 && rcu_with >= 0 && with >= rcu_with) ahead = false;
        char buffer[96];
        std::snprintf(buffer, sizeof buffer, " %8s %6s %8s %7s %5s %s", Num(with).c_str(),
                      Ratio(with, alone).c_str(), Ratio(rcu_with, with).c_str(),
                      Num(WriterRate(WriterName(mode, map))).c_str(),
                      Num(WriterCpuShare(WriterName(mode, map))).c_str(),
                      mode == WriterMode::kUpdate ? "|" : "");
        cells += buffer;
      }
      std::printf("  %-28s%s\n", map, cells.c_str());
    }
    if (any) {
      const double alone = Rate(WriterName(WriterMode::kNone, rcu));
      const auto kept = [&](WriterMode mode) {
        const double with = Rate(WriterName(mode, rcu));
        return with < 0 || alone <= 0 ? -1 : with / alone;
      };
      std::printf(
          "  target rcu::HashMap's reader keeps >= 0.70x: update %s, churn %s; "
          "ahead of every peer's reader: %s\n",
          Verdict(kept(WriterMode::kUpdate), 0.7).c_str(),
          Verdict(kept(WriterMode::kChurn), 0.7).c_str(), ahead ? "yes" : "NO");
    }

    std::printf(
        "\n(c) ReadHeavy 98%% read / 1%% insert / 1%% remove, 2^20 keys, 75%% "
        "prefilled: total Mops/s%s\n",
        cpu ? " (sum of the threads' per-CPU-second rates)" : "");
    std::printf("  %-28s %9s %9s %9s %9s %9s\n", "map", "1 thread", "rcu/peer", "2 threads",
                "rcu/peer", "2t/1t");
    for (const char* map : kMaps) {
      if (map == unsync) continue;
      const double one = Rate(MixName(map), 1);
      const double two = Rate(MixName(map), 2);
      std::printf("  %-28s %9s %9s %9s %9s %9s\n", map, Num(one).c_str(),
                  Ratio(Rate(MixName(rcu), 1), one).c_str(), Num(two).c_str(),
                  Ratio(Rate(MixName(rcu), 2), two).c_str(), Ratio(two, one).c_str());
    }
  }

  // (e): per size and key kind, each map's columns on the wall clock, its
  // memory, and rcu::HashMap's ratios against libcuckoo (and against the
  // unsynchronized std::unordered_map for one reader).
  void PrintDrawnTables(bool cpu) {
    cpu_ = cpu;
    const char* rcu = kMaps[0];
    const char* unsync = kMaps[1];
    const char* cuckoo = CuckooMapAdapter::kName;
    const int hardware = ThreadCounts(1).back();
    const int mix_threads = ThreadCounts(2).front();
    for (std::size_t log2 : kDrawnLog2Sizes) {
      for (KeyKind kind : {KeyKind::kSeq, KeyKind::kMix}) {
        const auto name = [&](const char* column, const char* map) {
          return DrawnName(column, log2, kind, map);
        };
        bool any = false;
        const auto ran = [&](const char* map) {
          return Rate(name("read", map)) >= 0 || Rate(name("mix90", map), mix_threads) >= 0 ||
                 Rate(name("rw", map)) >= 0;
        };
        for (const char* map : kMaps) any = any || ran(map);
        if (!any) continue;
        std::printf(
            "\n(e) keys drawn in the loop, 2^%zu entries, %s keys: Mops/s %s "
            "(1r = 1 reader, %dr = %d readers, mix90 = %d threads 90%% lookup/10%% "
            "insert_or_assign, rw = 1 reader beside a writer over its keys; controls: arr = 1 "
            "reader from a pre-generated key array, msk = 1 reader, keys masked not divided, rw-dj "
            "= the writer over keys the reader "
            "never asks for; B/e = bytes per entry, peak RSS growth / heap growth)\n",
            log2, KeyKindName(kind),
            cpu ? "per CPU second of the measured threads" : "on the wall clock", hardware,
            hardware, mix_threads);
        std::printf("  %-28s %8s %8s %8s %8s | %8s %8s %8s | %6s %6s\n", "map", "1r",
                    (std::to_string(hardware) + "r").c_str(), "mix90", "rw", "arr", "msk", "rw-dj",
                    "B/e", "heap");
        for (const char* map : kMaps) {
          const std::string read = name("read", map);
          if (!ran(map)) continue;
          std::printf(
              "  %-28s %8s %8s %8s %8s | %8s %8s %8s | %6s %6s\n", map, Num(Rate(read)).c_str(),
              Num(Rate(read, hardware)).c_str(), Num(Rate(name("mix90", map), mix_threads)).c_str(),
              Num(Rate(name("rw", map))).c_str(), Num(Rate(name("read/src:array", map))).c_str(),
              Num(Rate(name("read/src:mask", map))).c_str(),
              Num(Rate(name("rw/range:disjoint", map))).c_str(),
              Num(CounterOf(read, 1, "rss_bytes_per_entry"), "%.1f").c_str(),
              Num(CounterOf(read, 1, "heap_bytes_per_entry"), "%.1f").c_str());
        }
        const auto ratio = [&](const char* column, const char* peer, int threads) {
          return Ratio(Rate(name(column, rcu), threads), Rate(name(column, peer), threads));
        };
        std::printf("  %-28s %8s %8s %8s %8s | %8s %8s %8s\n", "rcu/libcuckoo",
                    ratio("read", cuckoo, 1).c_str(), ratio("read", cuckoo, hardware).c_str(),
                    ratio("mix90", cuckoo, mix_threads).c_str(), ratio("rw", cuckoo, 1).c_str(),
                    ratio("read/src:array", cuckoo, 1).c_str(),
                    ratio("read/src:mask", cuckoo, 1).c_str(),
                    ratio("rw/range:disjoint", cuckoo, 1).c_str());
        std::printf("  %-28s %8s %8s %8s %8s | %8s %8s\n", "rcu/std_unordered_map",
                    ratio("read", unsync, 1).c_str(), ratio("read", unsync, hardware).c_str(), "-",
                    "-", ratio("read/src:array", unsync, 1).c_str(),
                    ratio("read/src:mask", unsync, 1).c_str());
      }
    }
  }

  // A table of the new workloads: one row per map that ran (rates, then
  // memory), then rcu::HashMap's ratio to each peer that ran, libcuckoo
  // first, column by column.
  struct TableColumn {
    std::string label;
    std::string (*name)(const void* context, const char* map);
    const void* context;
    int threads;
    const char* counter;  // nullptr: the rate (Mops/s); else a memory counter
  };
  void PrintRatioTable(const std::vector<TableColumn>& columns) {
    const auto value = [&](const TableColumn& column, const char* map) {
      const std::string name = column.name(column.context, map);
      return column.counter == nullptr ? Rate(name, column.threads)
                                       : CounterOf(name, column.threads, column.counter);
    };
    const auto ran = [&](const char* map) {
      for (const TableColumn& column : columns) {
        if (column.counter == nullptr && value(column, map) >= 0) return true;
      }
      return false;
    };
    std::printf("  %-28s", "map");
    for (const TableColumn& column : columns) std::printf(" %9s", column.label.c_str());
    std::printf("\n");
    for (const char* map : kMaps) {
      if (!ran(map)) continue;
      std::printf("  %-28s", map);
      for (const TableColumn& column : columns) {
        std::printf(" %9s", Num(value(column, map), column.counter ? "%.1f" : "%.2f").c_str());
      }
      std::printf("\n");
    }
    const char* rcu = kMaps[0];
    std::vector<const char*> peers = {CuckooMapAdapter::kName};
    for (const char* map : kMaps) {
      if (map != rcu && map != peers[0]) peers.push_back(map);
    }
    for (const char* peer : peers) {
      if (!ran(peer) || !ran(rcu)) continue;
      std::printf("  %-28s", (std::string("rcu/") + peer).c_str());
      for (const TableColumn& column : columns) {
        std::printf(" %9s",
                    column.counter ? "" : Ratio(value(column, rcu), value(column, peer)).c_str());
      }
      std::printf("\n");
    }
  }

  // (f): per size and key kind, exchange and rapid_grow at 1 thread and at
  // the hardware's count.
  void PrintCmbTables(bool cpu) {
    cpu_ = cpu;
    const int hardware = ThreadCounts(1).back();
    const std::string h = std::to_string(hardware);
    struct Context {
      const CmbMix* mix;
      std::size_t log2;
      KeyKind kind;
    };
    const auto name = [](const void* context, const char* map) {
      const Context& c = *static_cast<const Context*>(context);
      return CmbName(*c.mix, c.log2, c.kind, map);
    };
    for (std::size_t log2 : kCmbLog2Sizes) {
      for (KeyKind kind : {KeyKind::kSeq, KeyKind::kMix}) {
        const Context exchange = {&kExchange, log2, kind};
        const Context grow = {&kRapidGrow, log2, kind};
        std::vector<TableColumn> columns = {{"exch 1t", name, &exchange, 1, nullptr}};
        if (hardware > 1)
          columns.push_back({"exch " + h + "t", name, &exchange, hardware, nullptr});
        columns.push_back({"grow 1t", name, &grow, 1, nullptr});
        if (hardware > 1) columns.push_back({"grow " + h + "t", name, &grow, hardware, nullptr});
        columns.push_back({"exch B/e", name, &exchange, 1, "rss_bytes_per_entry"});
        columns.push_back({"grow B/e", name, &grow, 1, "rss_bytes_per_entry"});
        bool any = false;
        for (const char* map : kMaps) {
          for (const TableColumn& column : columns) {
            any = any || (column.counter == nullptr &&
                          Rate(name(column.context, map), column.threads) >= 0);
          }
        }
        if (!any) continue;
        std::printf(
            "\n(f) conc-map-bench mixes, 2^%zu, %s keys: total Mops/s %s (exch = Exchange "
            "10%% read/40%% insert/40%% remove/10%% update, 75%% of 2^%zu prefilled; grow = "
            "RapidGrow 5/80/5/10 from an empty, unsized map, 2^%zu ops in all (run at that size "
            "only); Nt = N threads; "
            "B/e = peak RSS growth per entry: exch while prefilling, grow over the 1-thread run)\n",
            log2, KeyKindName(kind),
            cpu ? "(sum of the threads' per-CPU-second rates)" : "on the wall clock", log2,
            kCmbGrowLog2Size);
        PrintRatioTable(columns);
      }
    }
  }

  // (g): per size, Zipf(0.99) reads at 1 thread and the hardware's count, the
  // 90/10 mix at each count of (e)'s mix, and the draw alone.
  void PrintZipfTables(bool cpu) {
    cpu_ = cpu;
    const std::vector<int> read_threads = {1, ThreadCounts(1).back()};
    const std::vector<int> mix_threads = ThreadCounts(2);
    const auto name_of = [](const void* context, const char* map) {
      const auto& c = *static_cast<const std::pair<const char*, std::size_t>*>(context);
      return ZipfName(c.first, c.second, map);
    };
    for (std::size_t log2 : kZipfLog2Sizes) {
      const std::pair<const char*, std::size_t> read = {"read", log2};
      const std::pair<const char*, std::size_t> mix = {"mix90", log2};
      std::vector<TableColumn> columns;
      for (std::size_t i = 0; i < read_threads.size(); ++i) {
        if (i > 0 && read_threads[i] == read_threads[i - 1]) continue;
        columns.push_back(
            {std::to_string(read_threads[i]) + "r", name_of, &read, read_threads[i], nullptr});
      }
      for (int t : mix_threads) {
        columns.push_back({"mix90 " + std::to_string(t) + "t", name_of, &mix, t, nullptr});
      }
      columns.push_back({"B/e", name_of, &read, 1, "rss_bytes_per_entry"});
      bool any = false;
      for (const char* map : kMaps) {
        for (const TableColumn& column : columns) {
          any = any || (column.counter == nullptr &&
                        Rate(name_of(column.context, map), column.threads) >= 0);
        }
      }
      const double draw = Rate(ZipfName("draw", log2, "none"));
      if (!any && draw < 0) continue;
      std::printf(
          "\n(g) Zipf(0.99) key ranks over 2^%zu entries (mixed keys, every read hits): Mops/s "
          "%s (Nr = N readers; mix90 Nt = N threads 90%% lookup/10%% insert_or_assign; B/e = "
          "peak RSS growth per entry while filling). The draw alone: %s Mops/s (%s ns per draw), "
          "included in every rate, so ratios lean toward 1\n",
          log2, cpu ? "per CPU second of the measured threads (mix: summed)" : "on the wall clock",
          Num(draw).c_str(), draw > 0 ? Num(1e3 / draw, "%.1f").c_str() : "-");
      if (any) PrintRatioTable(columns);
    }
  }

  rcu_bench::MedianReporter results_;  // quiet: the console prints progress
  bool cpu_ = false;                   // which rate Rate() returns
};

}  // namespace

int main(int argc, char** argv) {
  // The tables go with the console format only; --benchmark_format=json or
  // csv gets Google Benchmark's own reporter.
  bool console = true;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const std::string flag = "--benchmark_format=";
    if (arg.rfind(flag, 0) == 0 && arg != flag + "console") console = false;
  }
  RegisterThisThread();
  // libcds initialized until the end of main(), after DropFixture().
  rcu_bench::LibcdsRuntime libcds_runtime;
  RegisterAll();
  RegisterDrawnAll();
  RegisterCmbAndZipfAll();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (console) {
    TableReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
  } else {
    benchmark::RunSpecifiedBenchmarks();
  }
  DropFixture();
  benchmark::Shutdown();
  return 0;
}
