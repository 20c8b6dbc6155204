// Stress test of rcu::HashMap's per-thread reuse of retired entries
// (containers/internal/hash_map_recycler.h), for a map whose entries are
// recycled (uint64_t -> uint64_t, stateless allocator).
//
// Writers update, erase and re-insert, and compute() over a small key range
// without pause, so that every entry is retired and rebuilt many times a
// second. Readers find an entry under a guard, check that its key is the one
// asked for and that its value encodes that key, then hold the guard for a
// random while (spinning, sometimes yielding) and read the entry again: it
// must be unchanged, since a recycled node is rebuilt only after a grace
// period. Keys in the lower half are only ever updated, never erased, so
// readers must always find them.
//
// Violations: "entry of another key" (the node found holds another key, or
// a value that encodes another key), "entry changed under a reader" (the
// reread differs), "stable key missing". The run also fails if no update
// ever reused a node (the test would then test nothing), and prints how
// many updates allocated.
//
// RCU_STRESS_SECONDS (default 10). Negative control:
// //stress:hash_map_recycler_stress_recycle_early (nodes reused without
// waiting for their grace period) must fail, checked by
// hash_map_recycler_stress_negative_control_test.
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "containers/hash_map.h"
#include "rcu/call_rcu.h"
#include "rcu/read_guard.h"
#include "stress/stress_util.h"

namespace {

constexpr std::uint64_t kKeys = 4096;  // small: entries churn fast
constexpr std::uint64_t kStableKeys = kKeys / 2;
constexpr int kKeyBits = 20;  // value = version << kKeyBits | key
constexpr std::uint64_t kKeyMask = (std::uint64_t{1} << kKeyBits) - 1;

std::atomic<std::int64_t> nodes_allocated{0};

// Stateless, so the map recycles; counts allocations.
template <typename T>
struct CountingAllocator {
  using value_type = T;
  using is_always_equal = std::true_type;
  using rcu_recycle_nodes = std::true_type;  // opts into reuse (hash_map_table.h)
  CountingAllocator() = default;
  template <typename U>
  CountingAllocator(const CountingAllocator<U>&) {}  // NOLINT: converting
  T* allocate(std::size_t n) {
    nodes_allocated.fetch_add(static_cast<std::int64_t>(n), std::memory_order_relaxed);
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept { std::allocator<T>().deallocate(p, n); }
  friend bool operator==(const CountingAllocator&, const CountingAllocator&) { return true; }
  friend bool operator!=(const CountingAllocator&, const CountingAllocator&) { return false; }
};

using Map = rcu::HashMap<std::uint64_t, std::uint64_t, std::hash<std::uint64_t>,
                         std::equal_to<std::uint64_t>,
                         CountingAllocator<std::pair<const std::uint64_t, std::uint64_t>>>;

enum Violation { kOtherKey, kChanged, kMissing, kNumViolations };
constexpr const char* kNames[kNumViolations] = {
    "entry of another key", "entry changed under a reader", "stable key missing"};

std::uint64_t Encode(std::uint64_t key, std::uint64_t version) { return version << kKeyBits | key; }

}  // namespace

int main() {
  const double seconds = stress::StressSeconds();
  stress::Violations<kNumViolations> violations(kNames);
  Map map;
  for (std::uint64_t k = 0; k < kKeys; ++k) map.insert({k, Encode(k, 0)});
  const std::int64_t allocated_at_start = nodes_allocated.load();

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> lookups{0};
  std::atomic<std::uint64_t> rereads{0};
  std::atomic<std::uint64_t> writes{0};
  const unsigned cores = std::max(2u, std::thread::hardware_concurrency());
  const int writers = 2;
  const int readers = static_cast<int>(std::max(2u, cores - 1));

  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      stress::SetThreadName("recycle-writer");
      stress::Rng rng(100 + w);
      std::uint64_t version = 1;
      std::uint64_t local = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const std::uint64_t k = rng.Below(kKeys);
        const bool stable = k < kStableKeys;
        switch (rng.Below(4)) {
          case 0:
          case 1:
            map.insert_or_assign(k, Encode(k, version++));
            break;
          case 2:
            map.compute(k, [&](const std::uint64_t*) {
              return std::optional<std::uint64_t>(Encode(k, version++));
            });
            break;
          default:
            if (!stable) {
              map.erase(k);
              map.try_emplace(k, Encode(k, version++));
            } else {
              map.update(k, [&](std::uint64_t) { return Encode(k, version++); });
            }
        }
        if (++local % 1024 == 0) writes.fetch_add(1024, std::memory_order_relaxed);
      }
    });
  }
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&, r] {
      stress::SetThreadName("recycle-reader");
      stress::Rng rng(200 + r);
      std::uint64_t local_lookups = 0;
      std::uint64_t local_rereads = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const std::uint64_t k = rng.Below(kKeys);
        rcu::ReadGuard guard;
        auto it = map.find(guard, k);
        ++local_lookups;
        if (it == map.end()) {
          if (k < kStableKeys) violations.Report(kMissing, "key " + std::to_string(k));
          continue;
        }
        const std::uint64_t key = it->first;
        const std::uint64_t value = it->second;
        if (key != k || (value & kKeyMask) != k) {
          violations.Report(kOtherKey, "asked " + std::to_string(k) + ", found key " +
                                           std::to_string(key) + " value " + std::to_string(value));
          continue;
        }
        // Hold the entry for a while, as a slow reader would.
        const std::uint64_t spin = rng.Below(std::uint64_t{2000});
        for (std::uint64_t i = 0; i < spin; ++i) {
          std::atomic_signal_fence(std::memory_order_seq_cst);
        }
        if (rng.Below(64) == 0) std::this_thread::yield();
        const std::uint64_t key2 = it->first;
        const std::uint64_t value2 = it->second;
        ++local_rereads;
        if (key2 != key || value2 != value) {
          violations.Report(kChanged, "key " + std::to_string(k) + ": " + std::to_string(value) +
                                          " became key " + std::to_string(key2) + " value " +
                                          std::to_string(value2));
        }
      }
      lookups.fetch_add(local_lookups);
      rereads.fetch_add(local_rereads);
    });
  }

  stress::Progress progress(
      seconds, [&] { return writes.load(std::memory_order_relaxed); },
      [&] { return violations.Total(); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    progress.Tick();
  }
  stop.store(true);
  for (std::thread& t : threads) t.join();
  rcu::Barrier();

  const std::uint64_t total_writes = writes.load();
  const std::int64_t allocated = nodes_allocated.load() - allocated_at_start;
  std::printf("hash_map_recycler_stress: %.0f s, %d writers, %d readers; %" PRIu64
              " lookups, %" PRIu64 " entries reread after holding them; about %" PRIu64
              " writes, which allocated %" PRId64 " nodes (the rest reused retired ones)\n",
              seconds, writers, readers, lookups.load(), rereads.load(), total_writes, allocated);
  int status = violations.Verdict();
  if (total_writes > 10 * kKeys && allocated >= static_cast<std::int64_t>(total_writes)) {
    std::printf("FAILURE: no write reused a node; the recycler was not exercised\n");
    status = 1;
  }
  return status;
}
