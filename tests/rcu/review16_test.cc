// Review 16 (outside review): failing reproductions, not fixes.
//
// 1. rcu/prometheus.h promises "Values may be any bytes", but the text
//    format (0.0.4) requires label values to be UTF-8, and Prometheus's
//    parser (textparse/promparse.go: "invalid UTF-8 label value") rejects the
//    whole scrape otherwise. A file path (ConfigWatcher's `path` label) or a
//    user label holding arbitrary bytes breaks every metric in the response.
// 2. rcu::internal::FromChrono saturates on an intermediate product: a
//    finite duration well inside absl::Duration's range becomes
//    InfiniteDuration() when count * Period::num overflows before the
//    division by Period::den.
// 3. FromChrono maps a floating-point NaN to +forever or -forever depending
//    on the NaN's sign bit (x86's 0.0/0.0 is a negative NaN), so
//    WaitForVersion(NaN) either waits forever or returns at once.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <ratio>
#include <sstream>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rcu/internal/chrono.h"
#include "rcu/prometheus.h"
#include "rcu/stats.h"

namespace {

// Structure only (lead and continuation bytes), enough to tell 0xE9 alone.
bool IsValidUtf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const std::size_t more = c < 0x80           ? 0
                             : (c >> 5) == 0x6  ? 1
                             : (c >> 4) == 0xE  ? 2
                             : (c >> 3) == 0x1E ? 3
                                                : 4;
    if (more == 4 || i + more >= s.size() + (more == 0)) return false;
    for (std::size_t k = 1; k <= more; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += more + 1;
  }
  return true;
}

TEST(Review16PrometheusTest, OutputIsUtf8WhateverTheLabelBytes) {
  ASSERT_TRUE(IsValidUtf8("caf\xc3\xa9"));  // the checker itself
  ASSERT_FALSE(IsValidUtf8("a\xff"));
  std::ostringstream out;
  // A Latin-1 file name, say: "Values may be any bytes" (rcu/prometheus.h).
  rcu::WritePrometheus(out, rcu::Stats{}, {{"config", "/etc/caf\xe9.json"}});
  EXPECT_TRUE(IsValidUtf8(out.str())) << out.str().substr(0, 400);
}

TEST(Review16ChronoTest, FiniteDurationInRangeIsNotForever) {
  // 10^10 units of 1.000000007 s: 10000000070 s, about 317 years; far inside
  // absl::Duration's range, but 10^10 * 1000000007 overflows int64 seconds.
  using Unit = std::chrono::duration<std::int64_t, std::ratio<1000000007, 1000000000>>;
  EXPECT_EQ(rcu::internal::FromChrono(Unit(10000000000)), absl::Seconds(10000000070));
}

TEST(Review16ChronoTest, NaNMeansOneThingWhateverItsSign) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(rcu::internal::FromChrono(std::chrono::duration<double>(nan)),
            rcu::internal::FromChrono(std::chrono::duration<double>(-nan)));
}

}  // namespace
