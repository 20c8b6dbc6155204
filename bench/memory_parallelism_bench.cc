// bench/memory_parallelism_bench.cc: how many DRAM-bound lookups one thread
// of this machine completes per second, on a table that has no map around
// it, so that bench/hash_map_batch_bench.cc's figures can be read against
// what the hardware allows.
//
// The table is the layout of a chained hash table reduced to its two
// dependent misses: 2^23 slots of 8 bytes (64 MiB, on transparent huge pages
// where the kernel gives them), each filled slot pointing at one of 2^22
// nodes of 64 bytes (256 MiB, shuffled, on 4 KiB pages or huge pages: the
// `huge` argument). A lookup hashes its key, loads the slot, then loads the
// node and compares its key; every lookup hits. Keys come from a
// pre-generated stream, as in hash_map_batch_bench. Every key has a slot of
// its own, so no lookup probes or mispredicts a branch: this is the best
// case for a two-miss table.
//   slot_only           one miss per lookup (the slot), for reference
//   loop                slot then node, a plain loop: the out-of-order core
//                       overlaps what fits in its window
//   loop_section_each   the same, each lookup inside its own rcu::ReadGuard
//                       (what a guard per find() costs when lookups miss)
//   loop_20_nops        the loop with 20 nops per lookup, which do nothing
//                       but take room in the out-of-order window: compare
//                       with loop_section_each
//   staged_16           groups of 16: prefetch every slot, then load the
//                       slots and prefetch every node, then compare (what
//                       HashMap::find_many does)
// The ratio staged_16 / loop is the most any batching can add on this
// machine to a loop that already runs under one guard; loop /
// loop_section_each is what one guard per lookup takes away, and
// loop_20_nops shows how much of that any 20 instructions would.
//
//   tools/bazel run -c opt //bench:memory_parallelism_bench --
//       --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
// (one command line)
#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "rcu/read_guard.h"

namespace {

constexpr std::size_t kNodes = std::size_t{1} << 22;
constexpr std::size_t kSlots = std::size_t{1} << 23;
constexpr std::size_t kStream = std::size_t{1} << 22;
constexpr std::size_t kGroup = 16;

struct Node {
  std::uint64_t key;
  std::uint64_t value;
  char rest[48];  // a cache line, like a map node with its links and hash
};

// Anonymous memory, zeroed, on huge pages if asked and the kernel agrees.
class Mapping {
 public:
  Mapping(std::size_t bytes, bool huge) : bytes_(bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    if (huge) ::madvise(p, bytes, MADV_HUGEPAGE);
    std::memset(p, 0, bytes);  // fault every page in before measuring
    data_ = p;
  }
  ~Mapping() { ::munmap(data_, bytes_); }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  void* data() const { return data_; }

 private:
  std::size_t bytes_;
  void* data_;
};

// Key k's slot: an odd multiplier is a bijection modulo 2^23, so every key
// has a slot of its own, spread over the whole array (no probing, and no
// branch that a collision would make the CPU mispredict).
constexpr std::size_t SlotOf(std::uint64_t key) {
  return static_cast<std::size_t>(key * 0x9e3779b97f4a7c15ULL) & (kSlots - 1);
}

struct Table {
  explicit Table(bool huge)
      : slot_memory(kSlots * sizeof(Node*), /*huge=*/true),
        node_memory(kNodes * sizeof(Node), huge),
        slots(static_cast<Node**>(slot_memory.data())),
        nodes(static_cast<Node*>(node_memory.data())) {
    std::vector<std::uint32_t> order(kNodes);
    std::iota(order.begin(), order.end(), 0u);
    std::shuffle(order.begin(), order.end(), std::mt19937_64(1));
    // Key i in a shuffled node, in its own slot.
    for (std::size_t i = 0; i < kNodes; ++i) {
      Node* node = &nodes[order[i]];
      node->key = i;
      node->value = 1;  // so that the values summed count the hits
      slots[SlotOf(i)] = node;
    }
    std::mt19937_64 rng(2);
    keys.resize(kStream);
    for (std::uint64_t& key : keys) key = rng() % kNodes;
  }

  const Node* Find(std::uint64_t key) const {
    const Node* node = slots[SlotOf(key)];
    return node != nullptr && node->key == key ? node : nullptr;
  }

  Mapping slot_memory;
  Mapping node_memory;
  Node** slots;
  Node* nodes;
  std::vector<std::uint64_t> keys;
};

Table& TableFor(bool huge) {
  static std::unique_ptr<Table> tables[2];
  std::unique_ptr<Table>& t = tables[huge ? 1 : 0];
  if (t == nullptr) t = std::make_unique<Table>(huge);
  return *t;
}

// Runs body(keys) over the stream, kGroup keys per iteration; each body
// returns how many of its kGroup lookups hit (the sum of the values, all 1),
// and every lookup must have.
template <typename Body>
void Run(benchmark::State& state, Body body) {
  const Table& table = TableFor(state.range(0) != 0);
  std::size_t pos = 0;
  std::uint64_t sum = 0;
  for (auto _ : state) {
    sum += body(table, &table.keys[pos]);
    pos = (pos + kGroup) & (kStream - 1);
  }
  benchmark::DoNotOptimize(sum);
  if (sum != static_cast<std::uint64_t>(state.iterations()) * kGroup) {
    state.SkipWithError("every lookup should hit");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kGroup));
}

void BM_slot_only(benchmark::State& state) {
  Run(state, [](const Table& t, const std::uint64_t* keys) {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < kGroup; ++i) {
      sum += t.slots[SlotOf(keys[i])] != nullptr ? 1 : 0;
    }
    return sum;
  });
}

void BM_loop(benchmark::State& state) {
  Run(state, [](const Table& t, const std::uint64_t* keys) {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < kGroup; ++i) {
      const Node* node = t.Find(keys[i]);
      if (node != nullptr) sum += node->value;
    }
    return sum;
  });
}

void BM_loop_section_each(benchmark::State& state) {
  Run(state, [](const Table& t, const std::uint64_t* keys) {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < kGroup; ++i) {
      rcu::ReadGuard guard;
      const Node* node = t.Find(keys[i]);
      if (node != nullptr) sum += node->value;
    }
    return sum;
  });
}

void BM_loop_20_nops(benchmark::State& state) {
  Run(state, [](const Table& t, const std::uint64_t* keys) {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < kGroup; ++i) {
      const Node* node = t.Find(keys[i]);
      if (node != nullptr) sum += node->value;
      asm volatile(
          "nop; nop; nop; nop; nop; nop; nop; nop; nop; nop;"
          "nop; nop; nop; nop; nop; nop; nop; nop; nop; nop;");
    }
    return sum;
  });
}

void BM_staged_16(benchmark::State& state) {
  Run(state, [](const Table& t, const std::uint64_t* keys) {
    const Node* heads[kGroup];
    for (std::size_t i = 0; i < kGroup; ++i) __builtin_prefetch(&t.slots[SlotOf(keys[i])]);
    for (std::size_t i = 0; i < kGroup; ++i) {
      heads[i] = t.slots[SlotOf(keys[i])];
      __builtin_prefetch(heads[i]);
    }
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < kGroup; ++i) {
      if (heads[i] != nullptr && heads[i]->key == keys[i]) sum += heads[i]->value;
    }
    return sum;
  });
}

void Pages(benchmark::internal::Benchmark* b) { b->ArgName("huge")->Arg(0)->Arg(1); }

BENCHMARK(BM_slot_only)->Apply(Pages);
BENCHMARK(BM_loop)->Apply(Pages);
BENCHMARK(BM_loop_section_each)->Apply(Pages);
BENCHMARK(BM_loop_20_nops)->Apply(Pages);
BENCHMARK(BM_staged_16)->Apply(Pages);

}  // namespace

BENCHMARK_MAIN();
