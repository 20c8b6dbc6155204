// bench/read_side_loop.cc: N read-side critical sections in a loop, for
// counting instructions per section with callgrind.
//
//   read_side_loop MODE N
//
// MODE is one of
//   guard        N x { rcu::ReadGuard }                      (rcu_bench_guard_loop)
//   raw          N x { urcu_memb_read_lock/unlock, inlined } (rcu_bench_raw_read_loop)
//   guard_deref  the same with one RcuPtr::Dereference      (rcu_bench_guard_deref_loop)
//   raw_deref    the same with one rcu_dereference()         (rcu_bench_raw_read_deref_loop)
//   empty        N x nothing, the loop overhead              (rcu_bench_empty_loop)
// Each loop is its own non-inlined extern "C" function, and the thread is
// registered before it is called, so that `valgrind --tool=callgrind
// --toggle-collect=<function>` counts the loop alone. Driven by
// bench/callgrind_read_side.sh:
//   bazel run -c opt //bench:callgrind_read_side
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "bench/raw_urcu_peer.h"
#include "benchmark/benchmark.h"
#include "rcu/rcu_ptr.h"
#include "rcu/read_guard.h"

namespace {

struct Target {
  int value;
};

Target target{42};
rcu::RcuPtr<Target> target_ptr(&target);

}  // namespace

extern "C" __attribute__((noinline)) void rcu_bench_guard_loop(long n) {
  for (long i = 0; i < n; ++i) {
    rcu::ReadGuard guard;
  }
}

extern "C" __attribute__((noinline)) void rcu_bench_guard_deref_loop(long n) {
  for (long i = 0; i < n; ++i) {
    rcu::ReadGuard guard;
    benchmark::DoNotOptimize(target_ptr.Dereference(guard)->value);
  }
}

extern "C" __attribute__((noinline)) void rcu_bench_empty_loop(long n) {
  for (long i = 0; i < n; ++i) {
    asm volatile("" ::: "memory");
  }
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s guard|raw|guard_deref|raw_deref|empty N\n", argv[0]);
    return 2;
  }
  const char* mode = argv[1];
  const long n = std::strtol(argv[2], nullptr, 10);
  // Registration happens here, outside the counted loops.
  { rcu::ReadGuard registers_this_thread; }
  rcu_bench::RawUrcuThread raw_thread;  // already registered: does nothing
  if (std::strcmp(mode, "guard") == 0) {
    rcu_bench_guard_loop(n);
  } else if (std::strcmp(mode, "raw") == 0) {
    rcu_bench_raw_read_loop(n);
  } else if (std::strcmp(mode, "guard_deref") == 0) {
    rcu_bench_guard_deref_loop(n);
  } else if (std::strcmp(mode, "raw_deref") == 0) {
    rcu_bench_raw_read_deref_loop(n);
  } else if (std::strcmp(mode, "empty") == 0) {
    rcu_bench_empty_loop(n);
  } else {
    std::fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
  }
  return 0;
}
