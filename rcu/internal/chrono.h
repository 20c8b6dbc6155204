// Internal: std::chrono durations as absl::Duration, for the overloads that
// let code without Abseil's time types call the library's APIs.
#ifndef RCU_INTERNAL_CHRONO_H_
#define RCU_INTERNAL_CHRONO_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "absl/time/time.h"

namespace rcu {
namespace internal {

// Any std::chrono::duration as an absl::Duration, like absl::FromChrono()
// (which takes only the six standard units): exact for integer counts of any
// period, to absl::Duration's quarter-nanosecond; duration::max() and min()
// (and anything beyond absl::Duration's range of about 292 billion years)
// become absl::InfiniteDuration() and its negation, so that
// `std::chrono::seconds::max()` means "forever" wherever
// absl::InfiniteDuration() does. Floating-point counts are converted through
// seconds as a double; a NaN, of either sign, is absl::InfiniteDuration().
template <typename Rep, typename Period>
absl::Duration FromChrono(std::chrono::duration<Rep, Period> d) {
  using Duration = std::chrono::duration<Rep, Period>;
  if constexpr (std::is_floating_point_v<Rep>) {
    const double seconds = std::chrono::duration<double>(d).count();
    if (std::isnan(seconds)) return absl::InfiniteDuration();
    return absl::Seconds(seconds);  // saturates
  } else {
    static_assert(std::is_integral_v<Rep>, "an integer or floating-point duration");
    if (d == Duration::max()) return absl::InfiniteDuration();
    if (std::is_signed_v<Rep> && d == Duration::min()) return -absl::InfiniteDuration();
    const Rep count = d.count();
    if constexpr (!std::is_signed_v<Rep> && sizeof(Rep) >= sizeof(std::int64_t)) {
      if (count > static_cast<Rep>(std::numeric_limits<std::int64_t>::max())) {
        return absl::InfiniteDuration();
      }
    }
    // count * num / den seconds, as (q * den + r) * num / den with
    // q = count / den: q * num whole seconds (absl::Duration saturates on
    // overflow, but only when the result is out of its range), and r * num /
    // den, which is less than num, computed in 128 bits. Multiplying first
    // would saturate on some finite, in-range durations.
    constexpr std::int64_t kNum = Period::num;
    constexpr std::int64_t kDen = Period::den;
    const std::int64_t c = static_cast<std::int64_t>(count);
    const __int128 rest = static_cast<__int128>(c % kDen) * kNum;
    return absl::Seconds(c / kDen) * kNum + absl::Seconds(static_cast<std::int64_t>(rest / kDen)) +
           absl::Seconds(static_cast<std::int64_t>(rest % kDen)) / kDen;
  }
}

// The current time, without absl::Now()'s process-wide spin lock (taken on
// its slow path): a fork() child whose parent had another thread inside
// absl::Now() at the fork would spin on that lock forever. clock_gettime()
// takes no lock. (Found by tests/rcu/domain_fork_test: a child hung in
// Domain::Synchronize().)
inline absl::Time ForkSafeNow() { return absl::FromChrono(std::chrono::system_clock::now()); }

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_CHRONO_H_
