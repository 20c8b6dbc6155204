// bench/hash_map_lookup_loop.cc: N hash-map lookups in a loop, for counting
// instructions per lookup with callgrind (and a quick CPU-time check).
//
//   hash_map_lookup_loop MODE LOG2_SIZE N
//
// Builds a map of 2^LOG2_SIZE uint64_t keys (those of bench/hash_map_bench.cc,
// from bench/map_keys.h), then runs N uniformly random hits through one of
// these non-inlined extern "C" loops, so that `valgrind --tool=callgrind
// --toggle-collect=<function>` counts the loop alone:
//   rcu          rcu::HashMap: rcu::ReadGuard + find(guard, key) per lookup
//                                                  (rcu_bench_map_rcu_loop)
//   rcu_get      rcu::HashMap::get(key) per lookup  (rcu_bench_map_rcu_get_loop)
//   rcu_1guard   rcu::HashMap: one guard around the whole loop, find(guard,
//                key) per lookup: the map's own cost   (rcu_bench_map_rcu_1guard_loop)
//   unordered    std::unordered_map::find, unsynchronized
//                                                  (rcu_bench_map_unordered_loop)
//   flat         absl::flat_hash_map::find, unsynchronized
//                                                  (rcu_bench_map_flat_loop)
//   empty        the loop alone: reading the next key and summing
//                                                  (rcu_bench_map_empty_loop)
// and, per operation rather than per lookup:
//   rcu_find     rcu::HashMap::find(key), whose iterator owns its own read-side
//                section                           (rcu_bench_map_rcu_find_loop)
//   rcu_stdhash  ReadGuard + find(guard, key) on a map with std::hash (an
//                identity hash, which the map mixes)  (rcu_bench_map_rcu_stdhash_loop)
//   rcu_update   insert_or_assign() of a present key: a new entry is published
//                and the old one retired            (rcu_bench_map_rcu_update_loop)
//   rcu_churn    erase(key) then try_emplace(key): one retirement, one entry
//                                                  (rcu_bench_map_rcu_churn_loop)
// (The callback thread's reclamation of retired entries runs outside the
// counted function; backpressure waits, if any, cost time, not instructions.)
// Outside valgrind it also prints the loop's CPU nanoseconds per lookup.
// Driven by bench/callgrind_hash_map.sh:
//   bazel run -c opt //bench:callgrind_hash_map
#include <time.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "bench/map_keys.h"
#include "containers/hash_map.h"
#include "rcu/read_guard.h"

namespace {

rcu::HashMap<std::uint64_t, std::uint64_t>* rcu_map;
rcu::HashMap<std::uint64_t, std::uint64_t, std::hash<std::uint64_t>>* rcu_stdhash_map;
std::unordered_map<std::uint64_t, std::uint64_t>* unordered_map;
absl::flat_hash_map<std::uint64_t, std::uint64_t>* flat_map;
const std::uint64_t* lookups;
std::size_t lookup_mask;
volatile std::uint64_t sink;

// Each loop copies the globals into locals first, so that compiler barriers
// in a read side do not make it reload them.
#define LOOP_LOCALS                          \
  const std::uint64_t* const keys = lookups; \
  const std::size_t mask = lookup_mask;      \
  auto* const map = rcu_map;                 \
  auto* const smap = rcu_stdhash_map;        \
  auto* const umap = unordered_map;          \
  auto* const fmap = flat_map;               \
  (void)map;                                 \
  (void)smap;                                \
  (void)umap;                                \
  (void)fmap

}  // namespace

extern "C" __attribute__((noinline)) void rcu_bench_map_rcu_loop(long n) {
  LOOP_LOCALS;
  std::uint64_t sum = 0;
  for (long i = 0; i < n; ++i) {
    rcu::ReadGuard guard;
    auto it = map->find(guard, keys[static_cast<std::size_t>(i) & mask]);
    sum += it != map->end() ? it->second : 0;
  }
  sink = sum;
}

extern "C" __attribute__((noinline)) void rcu_bench_map_rcu_get_loop(long n) {
  LOOP_LOCALS;
  std::uint64_t sum = 0;
  for (long i = 0; i < n; ++i) {
    sum += map->get(keys[static_cast<std::size_t>(i) & mask]).value_or(0);
  }
  sink = sum;
}

extern "C" __attribute__((noinline)) void rcu_bench_map_rcu_1guard_loop(long n) {
  LOOP_LOCALS;
  std::uint64_t sum = 0;
  rcu::ReadGuard guard;
  for (long i = 0; i < n; ++i) {
    auto it = map->find(guard, keys[static_cast<std::size_t>(i) & mask]);
    sum += it != map->end() ? it->second : 0;
  }
  sink = sum;
}

extern "C" __attribute__((noinline)) void rcu_bench_map_rcu_find_loop(long n) {
  LOOP_LOCALS;
  std::uint64_t sum = 0;
  for (long i = 0; i < n; ++i) {
    auto it = map->find(keys[static_cast<std::size_t>(i) & mask]);
    sum += it != map->end() ? it->second : 0;
  }
  sink = sum;
}

extern "C" __attribute__((noinline)) void rcu_bench_map_rcu_stdhash_loop(long n) {
  LOOP_LOCALS;
  std::uint64_t sum = 0;
  for (long i = 0; i < n; ++i) {
    rcu::ReadGuard guard;
    auto it = smap->find(guard, keys[static_cast<std::size_t>(i) & mask]);
    sum += it != smap->end() ? it->second : 0;
  }
  sink = sum;
}

extern "C" __attribute__((noinline)) void rcu_bench_map_rcu_update_loop(long n) {
  LOOP_LOCALS;
  for (long i = 0; i < n; ++i) {
    map->insert_or_assign(keys[static_cast<std::size_t>(i) & mask], static_cast<std::uint64_t>(i));
  }
}

extern "C" __attribute__((noinline)) void rcu_bench_map_rcu_churn_loop(long n) {
  LOOP_LOCALS;
  for (long i = 0; i < n; ++i) {
    const std::uint64_t key = keys[static_cast<std::size_t>(i) & mask];
    map->erase(key);
    map->try_emplace(key, key | 1);
  }
}

extern "C" __attribute__((noinline)) void rcu_bench_map_unordered_loop(long n) {
  LOOP_LOCALS;
  std::uint64_t sum = 0;
  for (long i = 0; i < n; ++i) {
    auto it = umap->find(keys[static_cast<std::size_t>(i) & mask]);
    sum += it != umap->end() ? it->second : 0;
  }
  sink = sum;
}

extern "C" __attribute__((noinline)) void rcu_bench_map_flat_loop(long n) {
  LOOP_LOCALS;
  std::uint64_t sum = 0;
  for (long i = 0; i < n; ++i) {
    auto it = fmap->find(keys[static_cast<std::size_t>(i) & mask]);
    sum += it != fmap->end() ? it->second : 0;
  }
  sink = sum;
}

extern "C" __attribute__((noinline)) void rcu_bench_map_empty_loop(long n) {
  LOOP_LOCALS;
  std::uint64_t sum = 0;
  for (long i = 0; i < n; ++i) {
    std::uint64_t key = keys[static_cast<std::size_t>(i) & mask];
    asm volatile("" : "+r"(key));
    sum += key;
  }
  sink = sum;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr,
                 "usage: %s rcu|rcu_get|rcu_1guard|rcu_find|rcu_stdhash|rcu_update|rcu_churn|"
                 "unordered|flat|empty LOG2_SIZE N\n",
                 argv[0]);
    return 2;
  }
  const char* mode = argv[1];
  const std::size_t size = std::size_t{1} << std::strtoul(argv[2], nullptr, 10);
  const long n = std::strtol(argv[3], nullptr, 10);

  void (*loop)(long) = nullptr;
  if (std::strcmp(mode, "rcu") == 0) {
    loop = rcu_bench_map_rcu_loop;
  } else if (std::strcmp(mode, "rcu_get") == 0) {
    loop = rcu_bench_map_rcu_get_loop;
  } else if (std::strcmp(mode, "rcu_1guard") == 0) {
    loop = rcu_bench_map_rcu_1guard_loop;
  } else if (std::strcmp(mode, "rcu_find") == 0) {
    loop = rcu_bench_map_rcu_find_loop;
  } else if (std::strcmp(mode, "rcu_stdhash") == 0) {
    loop = rcu_bench_map_rcu_stdhash_loop;
  } else if (std::strcmp(mode, "rcu_update") == 0) {
    loop = rcu_bench_map_rcu_update_loop;
  } else if (std::strcmp(mode, "rcu_churn") == 0) {
    loop = rcu_bench_map_rcu_churn_loop;
  } else if (std::strcmp(mode, "unordered") == 0) {
    loop = rcu_bench_map_unordered_loop;
  } else if (std::strcmp(mode, "flat") == 0) {
    loop = rcu_bench_map_flat_loop;
  } else if (std::strcmp(mode, "empty") == 0) {
    loop = rcu_bench_map_empty_loop;
  } else {
    std::fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
  }

  // Only the map under test is built (its allocation pattern is then the
  // benchmark's: one map, entries allocated in key order).
  const bool is_rcu = std::strncmp(mode, "rcu", 3) == 0;
  if (std::strcmp(mode, "rcu_stdhash") == 0) {
    rcu_stdhash_map = new rcu::HashMap<std::uint64_t, std::uint64_t, std::hash<std::uint64_t>>;
    rcu_stdhash_map->reserve(size);
  } else if (is_rcu) {
    rcu_map = new rcu::HashMap<std::uint64_t, std::uint64_t>;
    rcu_map->reserve(size);
  } else if (std::strcmp(mode, "unordered") == 0) {
    unordered_map = new std::unordered_map<std::uint64_t, std::uint64_t>;
    unordered_map->reserve(size);
  } else if (std::strcmp(mode, "flat") == 0) {
    flat_map = new absl::flat_hash_map<std::uint64_t, std::uint64_t>;
    flat_map->reserve(size);
  }
  for (std::size_t i = 0; i < size; ++i) {
    const std::uint64_t key = rcu_bench::KeyAt(i);
    if (rcu_map != nullptr) rcu_map->try_emplace(key, rcu_bench::ValueFor(key));
    if (rcu_stdhash_map != nullptr) rcu_stdhash_map->try_emplace(key, rcu_bench::ValueFor(key));
    if (unordered_map != nullptr) unordered_map->try_emplace(key, rcu_bench::ValueFor(key));
    if (flat_map != nullptr) flat_map->try_emplace(key, rcu_bench::ValueFor(key));
  }
  const std::vector<std::uint64_t> keys =
      rcu_bench::RandomKeys(size, rcu_bench::LookupStreamLength(size), /*seed=*/size);
  lookups = keys.data();
  lookup_mask = keys.size() - 1;

  { rcu::ReadGuard registers_this_thread; }  // outside the counted loop
  timespec start, stop;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
  loop(n);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &stop);
  const double ns = static_cast<double>(stop.tv_sec - start.tv_sec) * 1e9 +
                    static_cast<double>(stop.tv_nsec - start.tv_nsec);
  std::printf("%s 2^%s: %.2f CPU ns per lookup\n", mode, argv[2], ns / static_cast<double>(n));
  return 0;
}
