// bench/domain_read_loop.cc: N read-side sections in a loop, for counting
// instructions per section of rcu::Domain against rcu::ReadGuard and the
// naive shared-counter RCU with callgrind.
//
//   domain_read_loop MODE N
//
// MODE is one of (each section dereferences one pointer, as in
// bench/domain_bench.cc):
//   guard         rcu::ReadGuard                       (rcu_bench_default_guard_deref_loop)
//   domain_guard  rcu::Domain::ReadGuard               (rcu_bench_domain_guard_deref_loop)
//   domain_token  Domain::BeginRead() + End()          (rcu_bench_domain_token_deref_loop)
//   naive         NaiveRcu::Guard (naive_rcu_peer.h)   (rcu_bench_naive_deref_loop)
//   empty         the loop alone                       (rcu_bench_empty_loop)
// Each loop is its own non-inlined extern "C" function, and the thread is
// registered (and has its domain slot) before it is called, so that
// `valgrind --tool=callgrind --toggle-collect=<function>` counts the loop
// alone. Driven by bench/callgrind_domain_read_side.sh:
//   tools/bazel run -c opt //bench:callgrind_domain_read_side
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "bench/naive_rcu_peer.h"
#include "benchmark/benchmark.h"
#include "rcu/domain.h"
#include "rcu/rcu_ptr.h"
#include "rcu/read_guard.h"

namespace {

struct Target {
  int value;
};

Target target{42};
rcu::RcuPtr<Target> target_ptr(&target);
std::atomic<Target*> naive_target_ptr{&target};
rcu::Domain* domain = nullptr;         // set by main() before any loop
rcu_bench::NaiveRcu* naive = nullptr;  // likewise

}  // namespace

extern "C" __attribute__((noinline)) void rcu_bench_default_guard_deref_loop(long n) {
  for (long i = 0; i < n; ++i) {
    rcu::ReadGuard guard;
    benchmark::DoNotOptimize(target_ptr.Dereference(guard)->value);
  }
}

extern "C" __attribute__((noinline)) void rcu_bench_domain_guard_deref_loop(long n) {
  rcu::Domain& d = *domain;
  for (long i = 0; i < n; ++i) {
    rcu::Domain::ReadGuard guard(d);
    benchmark::DoNotOptimize(target_ptr.Dereference(guard)->value);
  }
}

extern "C" __attribute__((noinline)) void rcu_bench_domain_token_deref_loop(long n) {
  rcu::Domain& d = *domain;
  for (long i = 0; i < n; ++i) {
    rcu::Domain::ReadToken token = d.BeginRead();
    benchmark::DoNotOptimize(target_ptr.Dereference(token)->value);
    token.End();
  }
}

extern "C" __attribute__((noinline)) void rcu_bench_naive_deref_loop(long n) {
  rcu_bench::NaiveRcu& rcu = *naive;
  for (long i = 0; i < n; ++i) {
    rcu_bench::NaiveRcu::Guard guard(rcu);
    benchmark::DoNotOptimize(naive_target_ptr.load(std::memory_order_acquire)->value);
  }
}

extern "C" __attribute__((noinline)) void rcu_bench_empty_loop(long n) {
  for (long i = 0; i < n; ++i) {
    asm volatile("" ::: "memory");
  }
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s guard|domain_guard|domain_token|naive|empty N\n", argv[0]);
    return 2;
  }
  const char* mode = argv[1];
  const long n = std::strtol(argv[2], nullptr, 10);
  static rcu::Domain* const the_domain = new rcu::Domain(rcu::Domain::Options{"domain_read_loop"});
  static rcu_bench::NaiveRcu* const the_naive = new rcu_bench::NaiveRcu;
  domain = the_domain;
  naive = the_naive;
  // Registration and the domain slot happen here, outside the counted loops.
  { rcu::ReadGuard registers_this_thread; }
  { rcu::Domain::ReadGuard takes_this_threads_slot(*domain); }
  if (std::strcmp(mode, "guard") == 0) {
    rcu_bench_default_guard_deref_loop(n);
  } else if (std::strcmp(mode, "domain_guard") == 0) {
    rcu_bench_domain_guard_deref_loop(n);
  } else if (std::strcmp(mode, "domain_token") == 0) {
    rcu_bench_domain_token_deref_loop(n);
  } else if (std::strcmp(mode, "naive") == 0) {
    rcu_bench_naive_deref_loop(n);
  } else if (std::strcmp(mode, "empty") == 0) {
    rcu_bench_empty_loop(n);
  } else {
    std::fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
  }
  return 0;
}
