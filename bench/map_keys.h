// bench/map_keys.h: the keys, values and lookup streams of the hash-map
// benchmarks, so that bench/hash_map_bench.cc and the callgrind loop
// (bench/hash_map_lookup_loop.cc) fill and query their maps alike.
//
// Key i is KeyAt(i), a bijective mix of i: keys 0 .. n are distinct and
// spread over all 64 bits, so neither an identity hash nor a sequential
// layout flatters any map. Values are never 0, so a lookup that returns 0
// missed.
//
//   std::vector<std::uint64_t> lookups =
//       rcu_bench::RandomKeys(n, rcu_bench::LookupStreamLength(n), /*seed=*/n);
//   for (std::size_t i = 0; i < n; ++i) {
//     map.try_emplace(rcu_bench::KeyAt(i), rcu_bench::ValueFor(rcu_bench::KeyAt(i)));
//   }
#ifndef BENCH_MAP_KEYS_H_
#define BENCH_MAP_KEYS_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace rcu_bench {

// splitmix64's finalizer: a bijection, so distinct inputs give distinct keys.
constexpr std::uint64_t MixKey(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Key i of every scenario.
constexpr std::uint64_t KeyAt(std::uint64_t i) { return MixKey(i); }

// The value stored under `key`: never 0.
constexpr std::uint64_t ValueFor(std::uint64_t key) { return key | 1; }

// `count` keys drawn uniformly from KeyAt(0 .. range), with a fixed seed.
inline std::vector<std::uint64_t> RandomKeys(std::size_t range, std::size_t count,
                                             std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::size_t> pick(0, range - 1);
  std::vector<std::uint64_t> keys(count);
  for (std::uint64_t& key : keys) key = KeyAt(pick(rng));
  return keys;
}

// The length of the lookup stream for an n-entry map (a power of two when n
// is one): long enough that a 2^20-entry table is not shrunk to the part the
// stream touches, short enough for a 2^11 table to stay in cache.
inline std::size_t LookupStreamLength(std::size_t n) {
  return std::clamp<std::size_t>(4 * n, std::size_t{1} << 16, std::size_t{1} << 22);
}

}  // namespace rcu_bench

#endif  // BENCH_MAP_KEYS_H_
