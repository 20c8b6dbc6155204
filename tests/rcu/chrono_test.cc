// The std::chrono overloads of APIs that take an absl::Duration: the
// conversion they share (rcu/internal/chrono.h) and rcu::SetStallTimeout.
#include "rcu/internal/chrono.h"

#include <chrono>
#include <cstdint>
#include <limits>
#include <ratio>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rcu/stall.h"

namespace {

using rcu::internal::FromChrono;

TEST(FromChronoTest, StandardUnitsAreExact) {
  EXPECT_EQ(FromChrono(std::chrono::nanoseconds(1)), absl::Nanoseconds(1));
  EXPECT_EQ(FromChrono(std::chrono::nanoseconds(-7)), absl::Nanoseconds(-7));
  EXPECT_EQ(FromChrono(std::chrono::microseconds(1500)), absl::Microseconds(1500));
  EXPECT_EQ(FromChrono(std::chrono::milliseconds(-250)), absl::Milliseconds(-250));
  EXPECT_EQ(FromChrono(std::chrono::seconds(2)), absl::Seconds(2));
  EXPECT_EQ(FromChrono(std::chrono::minutes(3)), absl::Minutes(3));
  EXPECT_EQ(FromChrono(std::chrono::hours(4)), absl::Hours(4));
  EXPECT_EQ(FromChrono(std::chrono::seconds(0)), absl::ZeroDuration());
}

TEST(FromChronoTest, AgreesWithAbseilOnTheUnitsAbseilTakes) {
  for (std::int64_t n : {std::int64_t{1}, std::int64_t{-1}, std::int64_t{999999999},
                         std::int64_t{123456789012345}, std::int64_t{-987654321098}}) {
    EXPECT_EQ(FromChrono(std::chrono::nanoseconds(n)),
              absl::FromChrono(std::chrono::nanoseconds(n)));
    EXPECT_EQ(FromChrono(std::chrono::microseconds(n)),
              absl::FromChrono(std::chrono::microseconds(n)));
    EXPECT_EQ(FromChrono(std::chrono::milliseconds(n)),
              absl::FromChrono(std::chrono::milliseconds(n)));
    EXPECT_EQ(FromChrono(std::chrono::seconds(n)), absl::FromChrono(std::chrono::seconds(n)));
  }
}

TEST(FromChronoTest, OtherPeriodsAreExact) {
  EXPECT_EQ(FromChrono(std::chrono::duration<std::int64_t, std::ratio<1, 10>>(15)),
            absl::Milliseconds(1500));
  EXPECT_EQ(FromChrono(std::chrono::duration<std::int64_t, std::ratio<1, 3>>(3)), absl::Seconds(1));
  EXPECT_EQ(FromChrono(std::chrono::duration<int, std::ratio<7, 2>>(2)), absl::Seconds(7));
  EXPECT_EQ(FromChrono(std::chrono::duration<short, std::ratio<86400>>(2)), absl::Hours(48));
}

TEST(FromChronoTest, MaxAndMinMeanForever) {
  EXPECT_EQ(FromChrono(std::chrono::nanoseconds::max()), absl::InfiniteDuration());
  EXPECT_EQ(FromChrono(std::chrono::seconds::max()), absl::InfiniteDuration());
  EXPECT_EQ(FromChrono(std::chrono::hours::max()), absl::InfiniteDuration());
  EXPECT_EQ(FromChrono(std::chrono::milliseconds::min()), -absl::InfiniteDuration());
  EXPECT_EQ(FromChrono(std::chrono::hours::min()), -absl::InfiniteDuration());
  // Finite, but beyond absl::Duration's range (about 292 billion years).
  using Gigayears = std::chrono::duration<std::int64_t, std::ratio<31556952000000000>>;
  EXPECT_EQ(FromChrono(Gigayears(1000)), absl::InfiniteDuration());
  EXPECT_EQ(FromChrono(Gigayears(-1000)), -absl::InfiniteDuration());
  EXPECT_EQ(FromChrono(Gigayears(1)), absl::Seconds(31556952000000000));
}

TEST(FromChronoTest, UnsignedCounts) {
  EXPECT_EQ(FromChrono(std::chrono::duration<unsigned, std::milli>(1500)),
            absl::Milliseconds(1500));
  // min() of an unsigned duration is zero, not minus forever.
  EXPECT_EQ(FromChrono(std::chrono::duration<std::uint32_t>::min()), absl::ZeroDuration());
  EXPECT_EQ(FromChrono(std::chrono::duration<std::uint64_t>::max()), absl::InfiniteDuration());
  // Beyond int64_t, though not max().
  EXPECT_EQ(FromChrono(std::chrono::duration<std::uint64_t, std::nano>(
                std::numeric_limits<std::uint64_t>::max() - 1)),
            absl::InfiniteDuration());
}

TEST(FromChronoTest, FloatingPointCounts) {
  EXPECT_EQ(FromChrono(std::chrono::duration<double>(0.25)), absl::Milliseconds(250));
  EXPECT_EQ(FromChrono(std::chrono::duration<double, std::milli>(1.5)), absl::Microseconds(1500));
  EXPECT_EQ(FromChrono(std::chrono::duration<float>(-2.0f)), absl::Seconds(-2));
  EXPECT_EQ(FromChrono(std::chrono::duration<double>(std::numeric_limits<double>::infinity())),
            absl::InfiniteDuration());
  EXPECT_EQ(FromChrono(std::chrono::duration<double>(1e300)), absl::InfiniteDuration());
  EXPECT_EQ(FromChrono(std::chrono::duration<double>(-1e300)), -absl::InfiniteDuration());
}

TEST(StallTimeoutTest, TakesChronoDurations) {
  const absl::Duration saved = rcu::StallTimeout();
  rcu::SetStallTimeout(std::chrono::milliseconds(2500));
  EXPECT_EQ(rcu::StallTimeout(), absl::Milliseconds(2500));
  rcu::SetStallTimeout(std::chrono::duration<double>(0.5));
  EXPECT_EQ(rcu::StallTimeout(), absl::Milliseconds(500));
  rcu::SetStallTimeout(std::chrono::seconds::max());  // off
  EXPECT_EQ(rcu::StallTimeout(), absl::InfiniteDuration());
  rcu::SetStallTimeout(absl::Seconds(3));  // the absl::Duration overload still wins for its type
  EXPECT_EQ(rcu::StallTimeout(), absl::Seconds(3));
  rcu::SetStallTimeout(saved);
}

}  // namespace
