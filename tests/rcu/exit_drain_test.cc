// What becomes of pending callbacks at exit (rcu/call_rcu.h, "At exit"):
//  - callbacks queued before exit, and the callbacks they queue in turn, run
//    before static objects constructed before the library's first use are
//    destroyed;
//  - callbacks queued during static destruction are batched: they run in the
//    thread that queued them, one grace period per kRetireBatchSize, never
//    one per object, and not on the callback thread (where they would run at
//    the same time as other destructors);
//  - rcu::Barrier() during static destruction runs everything still queued;
//  - whatever is left runs at the very end of exit, after static destructors.
//
// Not a GoogleTest: the checks run after main() returns, so this is a plain
// program; tests/rcu/exit_drain_test.sh checks its output, including the last
// line, which the end of exit prints. Under --config=asan, LeakSanitizer
// also checks that nothing retired was leaked.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "rcu/call_rcu.h"
#include "rcu/internal/batching.h"
#include "rcu/stats.h"

namespace {

constexpr int kRetiredBeforeExit = 10000;
constexpr int kRetiredDuringDestruction = 20000;
std::atomic<int> destroyed{0};
std::atomic<int> chain_steps{0};
std::atomic<int> ran_elsewhere{0};  // post-drain objects reclaimed off the main thread
std::thread::id main_thread;
bool destruction_started = false;  // main thread only

struct Tracked {
  ~Tracked() {
    destroyed.fetch_add(1);
    if (destruction_started && std::this_thread::get_id() != main_thread) {
      ran_elsewhere.fetch_add(1);
    }
  }
};

// Reclaimed at the very end of exit: says so with write(2), which works
// after stdio's buffers are gone.
struct Last {
  ~Last() {
    const char kLine[] = "exit_drain_test: the last object was reclaimed at the end of exit\n";
    if (::write(1, kLine, std::strlen(kLine)) < 0) std::_Exit(3);
  }
};

void Fail(const char* what) {
  std::printf("exit_drain_test: FAILED: %s (destroyed=%d, chain steps=%d)\n", what,
              destroyed.load(), chain_steps.load());
  std::fflush(stdout);
  std::_Exit(1);
}

// A callback that queues the next step of a chain, three steps deep.
void ChainStep() {
  if (chain_steps.fetch_add(1) + 1 < 3) rcu::CallRcu(&ChainStep);
}

// Constructed before the library is first used, so destroyed after the
// library's exit-time drain.
struct Verifier {
  ~Verifier() {
    if (destroyed.load() != kRetiredBeforeExit) Fail("callbacks pending at exit did not run");
    if (chain_steps.load() != 3) Fail("callbacks queued by callbacks at exit did not run");
    destruction_started = true;
    // The drain has run. Retire a batch the way a container's destructor
    // would: it must cost about one grace period per block, not per object.
    const rcu::Stats before = rcu::GetStats();
    for (int i = 0; i < kRetiredDuringDestruction; ++i) rcu::Retire(new Tracked);
    const rcu::Stats after = rcu::GetStats();
    const unsigned long grace_periods = after.grace_periods - before.grace_periods;
    // One per block, and one for the worker, which the first after-drain run
    // waits for (it may hold callbacks this thread queued before the drain).
    const unsigned long bound = kRetiredDuringDestruction / rcu::internal::kRetireBatchSize + 2;
    std::printf(
        "exit_drain_test: %d objects retired during static destruction took %lu grace "
        "periods (at most %lu allowed)\n",
        kRetiredDuringDestruction, grace_periods, bound);
    if (grace_periods > bound) Fail("retirements after the drain are not batched");
    rcu::Barrier();
    if (destroyed.load() != kRetiredBeforeExit + kRetiredDuringDestruction) {
      Fail("Barrier() during static destruction left retirements behind");
    }
    if (ran_elsewhere.load() != 0) Fail("objects retired after the drain ran on another thread");
    rcu::Retire(new Last);  // left for the end of exit
    std::printf(
        "exit_drain_test: %d callbacks ran at exit with a 3-step chain; %d retired "
        "during static destruction ran in this thread: PASSED\n",
        kRetiredBeforeExit, kRetiredDuringDestruction);
    std::fflush(stdout);
  }
};
Verifier verifier;

}  // namespace

int main() {
  main_thread = std::this_thread::get_id();
  for (int i = 0; i < kRetiredBeforeExit; ++i) rcu::Retire(new Tracked);
  rcu::CallRcu(&ChainStep);
  // Return with callbacks almost certainly still pending.
  std::printf("exit_drain_test: main returns with %d retired objects pending reclamation\n",
              kRetiredBeforeExit - destroyed.load());
  return 0;
}
