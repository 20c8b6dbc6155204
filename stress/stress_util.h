// Helpers shared by the stress tests: cheap per-thread randomness, thread
// names for debuggers, the callback backlog, and a tally of violations.
//
//   enum Violation { kTorn, kLost, kNumViolations };
//   constexpr const char* kNames[kNumViolations] = {"torn read", "lost"};
//   stress::Violations<kNumViolations> violations(kNames);
//   violations.Report(kTorn, "key 7");    // counted; the first few printed
//   return violations.Verdict();          // prints PASS or FAILURE
#ifndef STRESS_STRESS_UTIL_H_
#define STRESS_STRESS_UTIL_H_

#include <pthread.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>

#include "rcu/stats.h"

namespace stress {

// How long a stress test runs: $RCU_STRESS_SECONDS, or 10 s (with a warning
// if the variable is set but not a positive number).
inline double StressSeconds() {
  constexpr double kDefaultSeconds = 10;
  const char* env = std::getenv("RCU_STRESS_SECONDS");
  if (env == nullptr || *env == '\0') return kDefaultSeconds;
  char* end = nullptr;
  const double seconds = std::strtod(env, &end);
  if (*end != '\0' || !(seconds > 0)) {
    std::fprintf(stderr, "RCU_STRESS_SECONDS=%s is not a positive number; using %g\n", env,
                 kDefaultSeconds);
    return kDefaultSeconds;
  }
  return seconds;
}

// xorshift64*: cheap per-thread randomness for delays and choices.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed * 0x9e3779b97f4a7c15 | 1) {}
  std::uint64_t Next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545f4914f6cdd1d;
  }
  // Uniform enough in [0, n), in n's type.
  template <typename T>
  T Below(T n) {
    return static_cast<T>(Next() % static_cast<std::uint64_t>(n));
  }

 private:
  std::uint64_t state_;
};

inline void SetThreadName(const char* name) { pthread_setname_np(pthread_self(), name); }

// Callbacks waiting. GetStats() reads invoked before queued, but a snapshot
// taken across a batch may still show more invoked; that reads as zero.
inline std::uint64_t PendingCallbacks(const rcu::Stats& stats) {
  return stats.callbacks_queued > stats.callbacks_invoked
             ? stats.callbacks_queued - stats.callbacks_invoked
             : 0;
}

// Counts violations by kind, from any thread, and prints the first
// kMaxMessages to stderr as they happen.
template <int kKinds>
class Violations {
 public:
  explicit Violations(const char* const (&names)[kKinds]) : names_(names) {}

  void Report(int kind, const std::string& detail) {
    counts_[kind].fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(mu_);
    if (printed_ < kMaxMessages) {
      ++printed_;
      std::fprintf(stderr, "VIOLATION: %s: %s\n", names_[kind], detail.c_str());
    }
  }

  std::uint64_t Total() const {
    std::uint64_t total = 0;
    for (const auto& count : counts_) total += count.load(std::memory_order_relaxed);
    return total;
  }

  // One line per kind seen, with its count.
  void Print() const {
    for (int i = 0; i < kKinds; ++i) {
      const std::uint64_t n = counts_[i].load(std::memory_order_relaxed);
      if (n > 0) std::printf("  %12" PRIu64 "  %s\n", n, names_[i]);
    }
  }

  // Prints the verdict ("PASS: no violations", or a "FAILURE: " line and
  // the tally, which the negative-control scripts look for) and returns the
  // test's exit status.
  int Verdict() const {
    const std::uint64_t total = Total();
    if (total == 0) {
      std::printf("PASS: no violations\n");
      return 0;
    }
    std::printf("FAILURE: %" PRIu64 " violations\n", total);
    Print();
    return 1;
  }

 private:
  static constexpr int kMaxMessages = 30;
  const char* const (&names_)[kKinds];
  std::array<std::atomic<std::uint64_t>, kKinds> counts_{};
  std::mutex mu_;
  int printed_ = 0;  // guarded by mu_
};

// A progress line every `period_s` seconds (10 by default) of a long run,
// for a main loop that polls: call Tick() from it as often as it likes.
//
//   stress::Progress progress(seconds, [&] { return observed.load(); }, &violations_total);
//   while (now < deadline) { ...; progress.Tick(); }
//
// Prints "progress: 120 s of 600 s, 1234567 observations, 8910 grace
// periods, 11 callbacks run, 0 violations" to stderr; without an
// observations function it leaves that field out.
class Progress {
 public:
  Progress(double total_seconds, std::function<std::uint64_t()> observations,
           std::function<std::uint64_t()> violations, double period_s = 10)
      : total_seconds_(total_seconds),
        observations_(std::move(observations)),
        violations_(std::move(violations)),
        period_(period_s),
        start_(std::chrono::steady_clock::now()),
        next_(period_s) {}

  void Tick() {
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (elapsed < next_) return;
    next_ = elapsed + period_;
    const rcu::Stats stats = rcu::GetStats();
    std::string observed;
    if (observations_) observed = std::to_string(observations_()) + " observations, ";
    std::fprintf(stderr,
                 "progress: %.0f s of %.0f s, %s%" PRIu64 " grace periods, %" PRIu64
                 " callbacks run, %" PRIu64 " violations\n",
                 elapsed, total_seconds_, observed.c_str(), stats.grace_periods,
                 stats.callbacks_invoked, violations_ ? violations_() : 0);
  }

 private:
  const double total_seconds_;
  const std::function<std::uint64_t()> observations_;
  const std::function<std::uint64_t()> violations_;
  const double period_;
  const std::chrono::steady_clock::time_point start_;
  double next_;
};

}  // namespace stress

#endif  // STRESS_STRESS_UTIL_H_
