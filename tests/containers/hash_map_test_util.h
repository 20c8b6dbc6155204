// Helpers for rcu::HashMap's tests: a hash whose bucket positions a test can
// compute, a value type that counts its live instances, and a churn of
// concurrent writers and resizes to run beside a check.
#ifndef TESTS_CONTAINERS_HASH_MAP_TEST_UTIL_H_
#define TESTS_CONTAINERS_HASH_MAP_TEST_UTIL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "containers/internal/hash_map_table.h"

namespace rcu_test {

// splitmix64's finalizer: a well-mixed bijection. Declared avalanching, so
// the map uses it as it is and a test knows each key's hash.
struct KnownHash {
  using is_avalanching = std::true_type;
  std::size_t operator()(int key) const {
    std::uint64_t x = static_cast<std::uint64_t>(static_cast<std::uint32_t>(key));
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return static_cast<std::size_t>(x ^ (x >> 31));
  }
};

// A key's place in iteration order: buckets are visited in order of their
// bit-reversed index, so a key's position is its bit-reversed hash.
inline std::uint64_t PositionOf(int key) { return rcu::internal::ReverseBits(KnownHash()(key)); }

// The top five bits of a position: the key's bucket range in the smallest
// array (32 buckets). An iteration that starts at key k visits no key in an
// earlier range, and visits every key present throughout in a later one.
inline int RangeOf(int key) { return static_cast<int>(PositionOf(key) >> 59); }

// A value that checks it is intact and counts its live instances, so that a
// test can tell, after rcu::Barrier(), whether everything the map dropped
// was freed.
struct Tracked {
  static constexpr std::uint32_t kAlive = 0xA11FE5ED;
  static inline std::atomic<long> live{0};

  explicit Tracked(int v = 0) : value(v) { live.fetch_add(1, std::memory_order_relaxed); }
  Tracked(const Tracked& other) : value(other.value) {
    live.fetch_add(1, std::memory_order_relaxed);
  }
  ~Tracked() {
    magic = 0xDEADDEAD;
    live.fetch_sub(1, std::memory_order_relaxed);
  }
  Tracked& operator=(const Tracked&) = delete;
  bool intact() const { return magic == kAlive; }
  friend bool operator==(const Tracked& a, const Tracked& b) { return a.value == b.value; }

  int value;
  std::uint32_t magic = kAlive;
};

// Runs writers and a resizer against a map until destroyed:
//  - a churner inserts and erases keys in [churn_first, churn_first +
//    churn_count) (by key, by iterator and with erase_if-like compute);
//  - a replacer publishes new entries for the stable keys [0, stable)
//    (insert_or_assign and update), which stay present throughout;
//  - a resizer grows and shrinks the array (rehash storms).
// Each thread counts its rounds, so a check can wait until every writer has
// run while it was looking.
template <typename Map>
class Churn {
 public:
  Churn(Map& map, int stable, int churn_first, int churn_count)
      : map_(map), stable_(stable), churn_first_(churn_first), churn_count_(churn_count) {
    threads_.emplace_back([this] { Churner(); });
    threads_.emplace_back([this] { Replacer(); });
    threads_.emplace_back([this] { Resizer(); });
  }
  ~Churn() {
    stop_.store(true);
    for (std::thread& t : threads_) t.join();
  }
  Churn(const Churn&) = delete;
  Churn& operator=(const Churn&) = delete;

  long rounds() const { return rounds_.load(); }
  long resizes() const { return resizes_.load(); }

 private:
  void Churner() {
    unsigned seed = 1;
    while (!stop_.load(std::memory_order_relaxed)) {
      for (int i = 0; i < churn_count_; ++i) map_.try_emplace(churn_first_ + i, -1);
      for (int i = 0; i < churn_count_; ++i) {
        seed = seed * 1103515245u + 12345u;
        const int key = churn_first_ + i;
        switch ((seed >> 16) % 3) {
          case 0:
            map_.erase(key);
            break;
          case 1:
            map_.erase(map_.find(key));
            break;
          default:
            map_.compute(key,
                         [](const auto*) { return std::optional<typename Map::mapped_type>(); });
        }
      }
      rounds_.fetch_add(1);
    }
  }
  void Replacer() {
    int round = 0;
    while (!stop_.load(std::memory_order_relaxed)) {
      for (int k = round % 3; k < stable_; k += 3) {
        if (round % 2 == 0) {
          map_.insert_or_assign(k, typename Map::mapped_type(k));
        } else {
          map_.update(k, [](const auto& v) { return v; });
        }
      }
      ++round;
      rounds_.fetch_add(1);
    }
  }
  void Resizer() {
    std::size_t target = 64;
    while (!stop_.load(std::memory_order_relaxed)) {
      map_.rehash(target);
      target = target >= 65536 ? 64 : target * 4;
      resizes_.fetch_add(1);
      std::this_thread::yield();
    }
  }

  Map& map_;
  const int stable_;
  const int churn_first_;
  const int churn_count_;
  std::atomic<bool> stop_{false};
  std::atomic<long> rounds_{0};
  std::atomic<long> resizes_{0};
  std::vector<std::thread> threads_;
};

}  // namespace rcu_test

#endif  // TESTS_CONTAINERS_HASH_MAP_TEST_UTIL_H_
