// What becomes of pending callbacks at exit: they run before static objects
// constructed before the library's first use are destroyed, and a callback
// queued during static destruction runs at once instead of being lost.
//
// Not a GoogleTest: the checks run after main() returns, so this is a plain
// program whose exit status is the verdict. Under --config=asan,
// LeakSanitizer also checks that nothing retired was leaked.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "rcu/call_rcu.h"
#include "rcu/read_guard.h"

namespace {

constexpr int kRetired = 10000;
std::atomic<int> destroyed{0};

struct Tracked {
  ~Tracked() { destroyed.fetch_add(1); }
};

void Fail(const char* what) {
  std::fprintf(stderr, "exit_drain_test: FAILED: %s (destroyed=%d)\n", what, destroyed.load());
  std::_Exit(1);
}

// Constructed before the library is first used, so destroyed after the
// library's exit-time drain.
struct Verifier {
  ~Verifier() {
    if (destroyed.load() != kRetired) Fail("callbacks pending at exit did not run");
    // The drain has run; a retire now must not be lost.
    rcu::Retire(new Tracked);
    if (destroyed.load() != kRetired + 1) Fail("a retire during static destruction was lost");
    std::printf("exit_drain_test: %d callbacks ran at exit, plus 1 queued during static "
                "destruction: PASSED\n", destroyed.load());
    std::fflush(stdout);
  }
};
Verifier verifier;

}  // namespace

int main() {
  for (int i = 0; i < kRetired; ++i) rcu::Retire(new Tracked);
  // Return with callbacks almost certainly still pending.
  std::printf("exit_drain_test: main returns with %d retired objects pending reclamation\n",
              kRetired - destroyed.load());
  return 0;
}
