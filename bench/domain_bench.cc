// bench/domain_bench.cc: what an rcu::Domain costs, against the default
// domain and against a textbook shared-counter RCU, in one run.
//
// Measures:
//  - read/*: one read-side section that dereferences one pointer, at 1 and 2
//    threads; CPU ns per section, per thread (median of the repetitions):
//      read/ReadGuard         rcu::ReadGuard (the default domain)
//      read/Domain_ReadGuard  rcu::Domain::ReadGuard
//      read/Domain_token      rcu::Domain::BeginRead() + ReadToken::End(),
//                             on the same thread
//      read/naive_rcu         NaiveRcu (bench/naive_rcu_peer.h): every reader
//                             increments and decrements one shared counter
//    Issue 13's target: a Domain section costs at most 3x a ReadGuard.
//  - update_idle/*, update_busy/*: one grace-period wait, called by 1, 2, 3
//    and 4 threads at once, while --idle_readers threads (default 2) sit
//    registered outside any section, or while --busy_readers threads
//    (default 1) run sections of --section_ns of work (default 1000) back to
//    back, in the flavor being waited for:
//      rcu_Synchronize, rcu_SynchronizeExpedited     (the default domain)
//      Domain_Synchronize, Domain_SynchronizeExpedited
//      naive_rcu_Synchronize
//    Per call: median and mean latency (us, steady clock around each call)
//    and the CPU time of the calling thread (us, CLOCK_THREAD_CPUTIME_ID over
//    its timed loop); with busy readers also how many sections they ran per
//    ms, which shows how much CPU they got. Reader threads start before the
//    timed region and stop after it.
// Ends with tables of the medians and of ratios, all from this run. Absolute
// times drift on a shared machine; the ratios compare peers that ran seconds
// apart. About two minutes on 2 cores.
//
//   tools/bazel run -c opt //bench:domain_bench
//   tools/bazel run -c opt //bench:domain_bench -- --repetitions=9 --busy_readers=2
//   tools/bazel run -c opt //bench:domain_bench -- --quick   (seconds; the smoke test's run)
// (Google Benchmark's flags work too: --benchmark_filter=read/,
// --benchmark_out=FILE keeps the raw results.)
#include <time.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "bench/median_reporter.h"
#include "bench/naive_rcu_peer.h"
#include "benchmark/benchmark.h"
#include "rcu/domain.h"
#include "rcu/grace_period.h"
#include "rcu/rcu_ptr.h"
#include "rcu/read_guard.h"

namespace {

using rcu_bench::NaiveRcu;

struct Options {
  bool quick = false;              // a few iterations each, one repetition
  int repetitions = 5;             // reported: the median
  double min_time = 0.2;           // seconds per repetition
  int idle_readers = 2;            // update_idle/*
  int busy_readers = 1;            // update_busy/*
  std::int64_t section_ns = 1000;  // work inside each busy reader's section
};

// --- What readers read, in each flavor ------------------------------------------

struct Target {
  int value;
};

alignas(64) Target target{42};
alignas(64) rcu::RcuPtr<Target> target_ptr(&target);         // default and Domain
alignas(64) std::atomic<Target*> naive_target_ptr{&target};  // NaiveRcu

rcu::Domain& BenchDomain() {
  static rcu::Domain* const domain = new rcu::Domain(rcu::Domain::Options{"domain_bench"});
  return *domain;
}

NaiveRcu& Naive() {
  static NaiveRcu* const naive = new NaiveRcu;
  return *naive;
}

// --- Read side ----------------------------------------------------------------

// Timed by CPU time, as bench/core_benchmarks.cc's read side: these loops
// never block, so CPU time per iteration is each thread's cost per section
// (cache-line contention included), and it does not count time a thread
// spent descheduled on a busy machine.

void BM_ReadGuard(benchmark::State& state) {
  { rcu::ReadGuard registers_this_thread; }  // untimed
  for (auto _ : state) {
    rcu::ReadGuard guard;
    benchmark::DoNotOptimize(target_ptr.Dereference(guard)->value);
  }
}

void BM_DomainReadGuard(benchmark::State& state) {
  rcu::Domain& domain = BenchDomain();
  { rcu::Domain::ReadGuard takes_this_threads_slot(domain); }  // untimed
  for (auto _ : state) {
    rcu::Domain::ReadGuard guard(domain);
    benchmark::DoNotOptimize(target_ptr.Dereference(guard)->value);
  }
}

void BM_DomainToken(benchmark::State& state) {
  rcu::Domain& domain = BenchDomain();
  { rcu::Domain::ReadGuard takes_this_threads_slot(domain); }
  for (auto _ : state) {
    rcu::Domain::ReadToken token = domain.BeginRead();
    benchmark::DoNotOptimize(target_ptr.Dereference(token)->value);
    token.End();
  }
}

void BM_NaiveRcu(benchmark::State& state) {
  NaiveRcu& naive = Naive();
  for (auto _ : state) {
    NaiveRcu::Guard guard(naive);
    benchmark::DoNotOptimize(naive_target_ptr.load(std::memory_order_acquire)->value);
  }
}

constexpr char kReadGuard[] = "read/ReadGuard";
constexpr char kDomainReadGuard[] = "read/Domain_ReadGuard";
constexpr char kDomainToken[] = "read/Domain_token";
constexpr char kNaiveRead[] = "read/naive_rcu";

struct ReadVariant {
  const char* name;
  const char* label;
  void (*fn)(benchmark::State&);
};
const ReadVariant kReadVariants[] = {
    {kReadGuard, "rcu::ReadGuard (default domain)", &BM_ReadGuard},
    {kDomainReadGuard, "rcu::Domain::ReadGuard", &BM_DomainReadGuard},
    {kDomainToken, "Domain BeginRead() + End()", &BM_DomainToken},
    {kNaiveRead, "naive RCU (one shared counter)", &BM_NaiveRcu},
};

// --- Readers during grace periods -------------------------------------------------

// About `n` units of arithmetic the compiler cannot fold away.
__attribute__((noinline)) std::uint64_t Work(std::uint64_t n) {
  std::uint64_t x = n;
  for (std::uint64_t i = 0; i < n; ++i) {
    x = x * 6364136223846793005u + 1442695040888963407u;
    benchmark::DoNotOptimize(x);
  }
  return x;
}

// Units of Work() per nanosecond: the best of a few timed runs, so that a
// busy machine makes sections longer rather than shorter than asked.
double CalibrateWorkPerNs() {
  constexpr std::uint64_t kUnits = 1 << 20;
  double best_ns = 1e18;
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(Work(kUnits));
    const std::chrono::duration<double, std::nano> elapsed =
        std::chrono::steady_clock::now() - start;
    if (elapsed.count() < best_ns) best_ns = elapsed.count();
  }
  return static_cast<double>(kUnits) / best_ns;
}

void DefaultSection(std::uint64_t work) {
  rcu::ReadGuard guard;
  benchmark::DoNotOptimize(Work(work));
}

void DomainSection(std::uint64_t work) {
  rcu::Domain::ReadGuard guard(BenchDomain());
  benchmark::DoNotOptimize(Work(work));
}

void NaiveSection(std::uint64_t work) {
  NaiveRcu::Guard guard(Naive());
  benchmark::DoNotOptimize(Work(work));
}

// Reader threads around the update benchmarks; the constructor returns once
// every thread has registered (and, if busy, run its first section). Idle (`section` null): each
// registers with the default domain and with BenchDomain() (one empty section of each), then blocks
// outside any section until destruction. Busy: each runs `section(work)` back to back until
// destruction.
class ReaderThreads {
 public:
  ReaderThreads(int n, void (*section)(std::uint64_t), std::uint64_t work) {
    for (int i = 0; i < n; ++i) {
      threads_.emplace_back([this, section, work] {
        { rcu::ReadGuard registers_this_thread; }
        { rcu::Domain::ReadGuard takes_this_threads_slot(BenchDomain()); }
        if (section != nullptr) section(work);  // busy from before the constructor returns
        {
          std::unique_lock<std::mutex> lock(mu_);
          ++registered_;
          cv_.notify_all();
          if (section == nullptr) {
            cv_.wait(lock, [this] { return stop_; });
            return;
          }
        }
        std::int64_t sections = 0;
        while (!stop_busy_.load(std::memory_order_relaxed)) {
          section(work);
          if (++sections % 256 == 0) sections_.fetch_add(256, std::memory_order_relaxed);
        }
      });
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this, n] { return registered_ == n; });
  }

  ~ReaderThreads() {
    stop_busy_.store(true, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (std::thread& thread : threads_) thread.join();
  }

  ReaderThreads(const ReaderThreads&) = delete;
  ReaderThreads& operator=(const ReaderThreads&) = delete;

  // Sections the busy readers have run so far, in steps of 256 per thread.
  std::int64_t sections() const { return sections_.load(std::memory_order_relaxed); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  // std::mutex carries no thread-safety attributes, so these say it in words
  // (as bench_util.h does).
  int registered_ = 0;  // guarded by mu_
  bool stop_ = false;   // guarded by mu_
  std::atomic<bool> stop_busy_{false};
  std::atomic<std::int64_t> sections_{0};
  std::vector<std::thread> threads_;
};

// --- Update side -------------------------------------------------------------------

void DomainSynchronize() { BenchDomain().Synchronize(); }
void DomainSynchronizeExpedited() { BenchDomain().SynchronizeExpedited(); }
void NaiveSynchronize() { Naive().Synchronize(); }

struct UpdateVariant {
  const char* name;  // after "update_idle/" or "update_busy/"
  const char* label;
  void (*synchronize)();
  void (*section)(std::uint64_t);  // what its busy readers run
};
const UpdateVariant kUpdateVariants[] = {
    {"rcu_Synchronize", "rcu::Synchronize()", &rcu::Synchronize, &DefaultSection},
    {"rcu_SynchronizeExpedited", "rcu::SynchronizeExpedited()", &rcu::SynchronizeExpedited,
     &DefaultSection},
    {"Domain_Synchronize", "Domain::Synchronize()", &DomainSynchronize, &DomainSection},
    {"Domain_SynchronizeExpedited", "Domain::SynchronizeExpedited()", &DomainSynchronizeExpedited,
     &DomainSection},
    {"naive_rcu_Synchronize", "naive RCU Synchronize()", &NaiveSynchronize, &NaiveSection},
};
constexpr int kMaxCallers = 4;

double ThreadCpuMicros() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

struct UpdateSetup {
  const UpdateVariant* variant;
  int readers;
  bool busy;
  std::uint64_t work;  // per busy section
};

// One grace-period wait per iteration, on every benchmark thread (the
// callers). Thread 0 starts the readers before the loop and stops them
// after it; Google Benchmark holds every thread at the loop's start and end
// until all arrive, so neither is timed.
void BM_Update(benchmark::State& state, UpdateSetup setup) {
  std::unique_ptr<ReaderThreads> readers;
  if (state.thread_index() == 0 && setup.readers > 0) {
    readers = std::make_unique<ReaderThreads>(
        setup.readers, setup.busy ? setup.variant->section : nullptr, setup.work);
  }
  std::vector<double> micros;
  micros.reserve(static_cast<std::size_t>(state.max_iterations));
  const std::int64_t sections_before = readers ? readers->sections() : 0;
  const auto wall_start = std::chrono::steady_clock::now();
  const double cpu_start = ThreadCpuMicros();
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    setup.variant->synchronize();
    const std::chrono::duration<double, std::micro> elapsed =
        std::chrono::steady_clock::now() - start;
    micros.push_back(elapsed.count());
  }
  const double cpu_us = ThreadCpuMicros() - cpu_start;
  double sum_us = 0;
  for (double us : micros) sum_us += us;
  // Counters are summed over the calling threads, then divided as flagged:
  // by the calls of all threads (means per call), or by the threads (the
  // mean of each thread's median and p99).
  using benchmark::Counter;
  state.counters["mean_us"] = Counter(sum_us, Counter::kAvgIterations);
  state.counters["cpu_us"] = Counter(cpu_us, Counter::kAvgIterations);
  state.counters["median_us"] = Counter(rcu_bench::Quantile(micros, 0.5), Counter::kAvgThreads);
  state.counters["p99_us"] = Counter(rcu_bench::Quantile(micros, 0.99), Counter::kAvgThreads);
  if (readers && setup.busy) {
    const std::chrono::duration<double, std::milli> wall =
        std::chrono::steady_clock::now() - wall_start;
    state.counters["reader_sections_per_ms"] =
        static_cast<double>(readers->sections() - sections_before) / wall.count();
  }
}

// --- Registration ------------------------------------------------------------------

std::string UpdateName(bool busy, const UpdateVariant& variant) {
  return std::string(busy ? "update_busy/" : "update_idle/") + variant.name;
}

void RegisterBenchmarks(const Options& options, std::uint64_t work) {
  auto apply = [&options](benchmark::internal::Benchmark* b, bool update) {
    if (options.quick) {
      b->Iterations(update ? 20 : 20000);
    } else {
      b->MinTime(options.min_time);
    }
    if (options.repetitions > 1) b->Repetitions(options.repetitions)->ReportAggregatesOnly(true);
  };
  // All peers at one thread count, then all at the next, so that peers
  // compared with each other run close together in time.
  for (int threads : {1, 2}) {
    for (const ReadVariant& v : kReadVariants) {
      apply(benchmark::RegisterBenchmark(v.name, v.fn)
                ->Threads(threads)
                ->Unit(benchmark::kNanosecond),
            false);
    }
  }
  for (bool busy : {false, true}) {
    for (int callers = 1; callers <= kMaxCallers; ++callers) {
      for (const UpdateVariant& v : kUpdateVariants) {
        const UpdateSetup setup{&v, busy ? options.busy_readers : options.idle_readers, busy, work};
        apply(benchmark::RegisterBenchmark(UpdateName(busy, v).c_str(), &BM_Update, setup)
                  ->Threads(callers)
                  ->UseRealTime()
                  ->Unit(benchmark::kMicrosecond),
              true);
      }
    }
  }
}

// --- Report ------------------------------------------------------------------------

using Run = benchmark::BenchmarkReporter::Run;
using rcu_bench::CounterValue;
using rcu_bench::CpuNsPerIteration;  // CPU ns per section, per thread

std::string Cell(const Run* run, double (*value)(const Run&), const char* format) {
  if (run == nullptr) return "n/a";
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), format, value(*run));
  return buffer;
}

double MedianUs(const Run& run) { return CounterValue(run, "median_us"); }
double MeanUs(const Run& run) { return CounterValue(run, "mean_us"); }
double CpuUs(const Run& run) { return CounterValue(run, "cpu_us"); }
double ReaderSectionsPerMs(const Run& run) { return CounterValue(run, "reader_sections_per_ms"); }

std::string LoadAverage() {
  std::FILE* file = std::fopen("/proc/loadavg", "r");
  if (file == nullptr) return "?";
  char buffer[64] = {};
  const bool read = std::fgets(buffer, sizeof(buffer), file) != nullptr;
  std::fclose(file);
  if (!read) return "?";
  // The first three fields: the 1, 5 and 15 minute averages.
  std::string text(buffer);
  std::size_t end = 0;
  for (int field = 0; field < 3 && end != std::string::npos; ++field) {
    end = text.find(' ', end == 0 ? 0 : end + 1);
  }
  return text.substr(0, end);
}

void PrintReadReport(const rcu_bench::MedianReporter& results, const std::string& runs) {
  std::printf(
      "\nRead side: CPU ns per section (enter, dereference one pointer, leave), per "
      "thread (%s; lower is better)\n",
      runs.c_str());
  std::printf("    %-36s %10s %10s\n", "", "1 thread", "2 threads");
  for (const ReadVariant& v : kReadVariants) {
    std::printf("    %-36s %10s %10s\n", v.label,
                Cell(results.Find(v.name, 1), &CpuNsPerIteration, "%.2f").c_str(),
                Cell(results.Find(v.name, 2), &CpuNsPerIteration, "%.2f").c_str());
  }
  auto ratio = [&results](const char* a, const char* b, int threads) -> double {
    const Run* x = results.Find(a, threads);
    const Run* y = results.Find(b, threads);
    if (x == nullptr || y == nullptr) return 0;
    return CpuNsPerIteration(*x) / CpuNsPerIteration(*y);
  };
  std::printf("\n  Ratios (cost / the other's cost)                  1 thread  2 threads\n");
  const std::pair<const char*, const char*> pairs[] = {
      {kDomainReadGuard, kReadGuard}, {kDomainToken, kReadGuard}, {kNaiveRead, kReadGuard},
      {kNaiveRead, kDomainReadGuard}, {kNaiveRead, kDomainToken},
  };
  auto short_label = [](const char* name) {
    for (const ReadVariant& v : kReadVariants) {
      if (std::strcmp(v.name, name) == 0) return v.name + 5;  // after "read/"
    }
    return name;
  };
  for (const auto& [a, b] : pairs) {
    const double one = ratio(a, b, 1);
    const double two = ratio(a, b, 2);
    std::string verdict;
    if (std::strcmp(b, kReadGuard) == 0 && std::strcmp(a, kNaiveRead) != 0) {
      verdict = one > 0 && two > 0 && one <= 3 && two <= 3 ? "  target <= 3x: met"
                                                           : "  target <= 3x: MISSED";
    }
    std::printf("    %-20s / %-24s %8.2fx %9.2fx%s\n", short_label(a), short_label(b), one, two,
                verdict.c_str());
  }
  // Two threads that increment one counter at the same time slow each other
  // several-fold. If they did not, other processes kept the two threads from
  // overlapping, and the 2-thread column shows no contention for anyone.
  const Run* naive_one = results.Find(kNaiveRead, 1);
  const Run* naive_two = results.Find(kNaiveRead, 2);
  if (naive_one != nullptr && naive_two != nullptr &&
      CpuNsPerIteration(*naive_two) < 2 * CpuNsPerIteration(*naive_one)) {
    std::printf(
        "  Note: the naive RCU's 2 threads cost only %.2fx its 1 thread: they hardly "
        "overlapped (a busy machine), so the 2-thread column understates contention.\n",
        CpuNsPerIteration(*naive_two) / CpuNsPerIteration(*naive_one));
  }
}

void PrintUpdateTable(const rcu_bench::MedianReporter& results, bool busy, const char* what,
                      double (*value)(const Run&), const char* format) {
  std::printf("  %s\n", what);
  std::printf("    %-32s", "");
  for (int callers = 1; callers <= kMaxCallers; ++callers) {
    std::printf(" %9d%s", callers, callers == 1 ? " caller " : " callers");
  }
  std::printf("\n");
  for (const UpdateVariant& v : kUpdateVariants) {
    std::printf("    %-32s", v.label);
    for (int callers = 1; callers <= kMaxCallers; ++callers) {
      std::printf(" %17s", Cell(results.Find(UpdateName(busy, v), callers), value, format).c_str());
    }
    std::printf("\n");
  }
}

void PrintUpdateReport(const rcu_bench::MedianReporter& results, const Options& options,
                       std::int64_t section_ns, const std::string& runs) {
  for (bool busy : {false, true}) {
    if (busy) {
      std::printf(
          "\nGrace periods with %d busy reader thread%s (sections of ~%lld ns of work, "
          "back to back), per call (%s)\n",
          options.busy_readers, options.busy_readers == 1 ? "" : "s",
          static_cast<long long>(section_ns), runs.c_str());
    } else {
      std::printf("\nGrace periods with %d idle registered reader thread%s, per call (%s)\n",
                  options.idle_readers, options.idle_readers == 1 ? "" : "s", runs.c_str());
    }
    PrintUpdateTable(results, busy, "latency, median us (mean of the callers' medians)", &MedianUs,
                     "%.2f");
    PrintUpdateTable(results, busy, "latency, mean us", &MeanUs, "%.2f");
    PrintUpdateTable(results, busy, "CPU us of the calling thread", &CpuUs, "%.2f");
    if (busy) {
      // How much the busy readers ran: about 1000 / section_ns per ms when
      // a reader has a CPU to itself, less when the machine is busy (then
      // readers are descheduled, inside sections or not, and latencies
      // above measure the scheduler as much as the grace period).
      PrintUpdateTable(results, busy, "busy readers' sections per ms, all readers together",
                       &ReaderSectionsPerMs, "%.0f");
    }
  }
}

// --- Flags -------------------------------------------------------------------------

// If `arg` is `--<name>=<integer >= minimum>`, stores it and returns true.
// Sets *bad on a malformed value.
bool ParseIntFlag(const char* arg, const char* name, std::int64_t minimum, std::int64_t* value,
                  bool* bad) {
  const std::string prefix = std::string("--") + name + "=";
  if (std::strncmp(arg, prefix.c_str(), prefix.size()) != 0) return false;
  char* end = nullptr;
  const long long n = std::strtoll(arg + prefix.size(), &end, 10);
  if (end == arg + prefix.size() || *end != '\0' || n < minimum) {
    std::fprintf(stderr, "domain_bench: bad value in %s\n", arg);
    *bad = true;
  } else {
    *value = n;
  }
  return true;
}

// Consumes this binary's own flags from argv; returns false on a bad one.
bool ParseOwnFlags(int* argc, char** argv, Options* options) {
  int out = 1;
  bool bad = false;
  std::int64_t repetitions = options->repetitions;
  std::int64_t idle = options->idle_readers;
  std::int64_t busy = options->busy_readers;
  for (int i = 1; i < *argc; ++i) {
    const char* arg = argv[i];
    if (std::strcmp(arg, "--quick") == 0) {
      options->quick = true;
      repetitions = 1;
    } else if (!ParseIntFlag(arg, "repetitions", 1, &repetitions, &bad) &&
               !ParseIntFlag(arg, "idle_readers", 0, &idle, &bad) &&
               !ParseIntFlag(arg, "busy_readers", 1, &busy, &bad) &&
               !ParseIntFlag(arg, "section_ns", 1, &options->section_ns, &bad)) {
      argv[out++] = argv[i];
    }
  }
  options->repetitions = static_cast<int>(repetitions);
  options->idle_readers = static_cast<int>(idle);
  options->busy_readers = static_cast<int>(busy);
  *argc = out;
  return !bad;
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  Options options;
  if (!ParseOwnFlags(&argc, argv, &options)) return 1;
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
#ifndef NDEBUG
  std::fprintf(stderr,
               "domain_bench: built without -c opt (NDEBUG is not defined), so the numbers "
               "are not meaningful: tools/bazel run -c opt //bench:domain_bench\n");
#endif
  const double work_per_ns = CalibrateWorkPerNs();
  const auto work =
      static_cast<std::uint64_t>(work_per_ns * static_cast<double>(options.section_ns));
  benchmark::AddCustomContext("busy_reader_section", std::to_string(options.section_ns) + " ns (" +
                                                         std::to_string(work) + " work units)");
  const std::string load_before = LoadAverage();
  RegisterBenchmarks(options, work);

  rcu_bench::MedianReporter reporter(
      ", load average " + load_before +
      (options.quick
           ? "; --quick: a few iterations each, numbers not meaningful"
           : "; " + std::to_string(options.repetitions) + " repetitions each, about two minutes"));
  benchmark::RunSpecifiedBenchmarks(&reporter);
  const std::string runs = reporter.has_medians()
                               ? "median of " + std::to_string(options.repetitions) + " runs"
                               : "one run";
  std::printf("domain_bench: %u CPUs, load average %s before, %s after\n",
              std::thread::hardware_concurrency(), load_before.c_str(), LoadAverage().c_str());
  PrintReadReport(reporter, runs);
  PrintUpdateReport(reporter, options, options.section_ns, runs);
  benchmark::Shutdown();
  return reporter.empty() ? 1 : 0;
}
