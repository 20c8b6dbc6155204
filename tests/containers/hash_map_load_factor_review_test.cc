// Outside review of 5d03e36 (max_load_factor defaults to 0.5): what the
// header promises about reserve(), growth and shrinking, checked with the
// default factor and with factors set at run time.
//
// The header: "reserve(n) makes room for n entries without a resize". A
// resize is seen as a change of bucket_count(); no other thread touches the
// maps here, so every resize is one these inserts caused.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include "containers/hash_map.h"
#include "gtest/gtest.h"

namespace {

using Map = rcu::HashMap<std::uint64_t, std::uint64_t>;

// Inserts n entries into a map reserved for n and returns the first size at
// which the bucket count changed, or 0 if it never did.
std::size_t FirstResizeAfterReserve(float factor, std::size_t n) {
  Map map;
  map.max_load_factor(factor);
  map.reserve(n);
  const std::size_t buckets = map.bucket_count();
  for (std::size_t i = 0; i < n; ++i) {
    map.insert({i, i});
    if (map.bucket_count() != buckets) return i + 1;
  }
  return 0;
}

TEST(HashMapLoadFactorReview, ReserveMakesRoomAtTheDefaultFactor) {
  for (std::size_t n : {1u, 31u, 32u, 33u, 100u, 1000u, 1024u, 1025u, 4096u, 5000u}) {
    EXPECT_EQ(FirstResizeAfterReserve(Map().max_load_factor(), n), 0u) << "n = " << n;
  }
}

// BucketsFor() truncates entries / factor to an integer before rounding up
// to a power of two: when the quotient lies just above a power of two, the
// array it picks holds fewer than n entries, and GrowFor(), asking
// BucketsFor() again, gets the same count back and leaves the map above its
// maximum load factor. (At 0.5, entries / factor is exact: the default is
// not affected.)
TEST(HashMapLoadFactorReview, LoadFactorBoundAtAFactorSetAtRunTime) {
  struct Case {
    float factor;
    std::size_t n;
  };
  // 717 / 0.7f = 1024.29, 1434 / 0.7f = 2048.57, 1065 / 0.13f = 8192.3.
  for (const Case& c : {Case{0.7f, 717}, Case{0.7f, 1434}, Case{0.13f, 1065}}) {
    Map map;
    map.max_load_factor(c.factor);
    map.reserve(c.n);
    for (std::size_t i = 0; i < c.n; ++i) map.insert({i, i});
    EXPECT_LE(static_cast<double>(map.size()),
              static_cast<double>(map.bucket_count()) * static_cast<double>(c.factor))
        << "max_load_factor " << c.factor << ", reserve(" << c.n << "): " << map.size()
        << " entries in " << map.bucket_count() << " buckets";
  }
}

// Every factor from 0.13 to 2.0 in steps of 0.01, every n up to 3000: any
// reserve() that does not hold its n entries is a broken promise.
TEST(HashMapLoadFactorReview, ReserveSweep) {
  int broken = 0;
  std::string first;
  for (int percent = 13; percent <= 200; ++percent) {
    const float factor = static_cast<float>(percent) / 100.0f;
    Map probe;
    probe.max_load_factor(factor);
    for (std::size_t n = 1; n <= 3000; n += 1) {
      probe.reserve(n);
      // Room for n: n <= bucket_count() * factor, as GrowFor() tests it.
      if (static_cast<double>(n) >
          static_cast<double>(probe.bucket_count()) * static_cast<double>(factor)) {
        if (broken++ == 0) {
          first = "max_load_factor " + std::to_string(factor) + ", reserve(" + std::to_string(n) +
                  ") gave " + std::to_string(probe.bucket_count()) + " buckets";
        }
      }
    }
  }
  EXPECT_EQ(broken, 0) << "first: " << first;
}

// max_load_factor(NaN) passed the clamp at 0.125 (no comparison with NaN
// holds), and every size computed from it converted NaN to an integer.
TEST(HashMapLoadFactorReview, NanFactorIsClamped) {
  Map map;
  map.max_load_factor(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(map.max_load_factor(), 0.125f);
  map.reserve(1000);
  EXPECT_GE(static_cast<double>(map.bucket_count()) * 0.125, 1000.0);
  for (std::uint64_t i = 0; i < 1000; ++i) map.insert({i, i});
  EXPECT_LE(map.load_factor(), 0.125f);
}

}  // namespace
