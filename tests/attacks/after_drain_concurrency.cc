// call_rcu.h, "At exit": "Callbacks queued after that (by static
// destructors, say) are batched in the thread that queues them: it runs them
// itself ... and never at the same time as other destructors."
//
// Static destructor S1 (after the drain) queues a callback. argv[1]:
// "plain" (outside any read-side section) or "in_section" (inside one, as a
// container's destructor that reads under a guard would). The next static
// destructor, S2, takes 300 ms. The callback must not run on another thread
// while S2's destructor is running.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "rcu/rcu.h"
#include "tests/attacks/util.h"

namespace {

std::atomic<bool> s2_running{false};
std::atomic<int> ran{0};
std::atomic<int> ran_during_s2{0};
std::atomic<pid_t> ran_on{0};
pid_t main_tid = 0;
std::string mode;

void Say(const std::string& s) {
  const std::string line = s + "\n";
  if (::write(1, line.data(), line.size()) < 0) std::_Exit(4);
}

void Callback() {
  ran.fetch_add(1);
  ran_on.store(review::Gettid());
  if (s2_running.load()) ran_during_s2.fetch_add(1);
}

struct S2 {  // constructed first: destroyed after S1
  ~S2() {
    s2_running.store(true);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    s2_running.store(false);
    rcu::Barrier();
    const bool ok = ran.load() == 1 && ran_during_s2.load() == 0;
    Say("after_drain_concurrency " + mode + ": the callback ran " + std::to_string(ran.load()) +
        " time(s), " + (ran_during_s2.load() ? "DURING" : "not during") +
        " the next static destructor, on " +
        (ran_on.load() == main_tid ? "the main thread" : "another thread") + " -> " +
        (ok ? "PASS" : "FAIL"));
    std::_Exit(ok ? 0 : 1);
  }
};

struct S1 {
  ~S1() {
    if (mode == "in_section") {
      rcu::ReadGuard guard;
      rcu::CallRcu(&Callback);
    } else {
      rcu::CallRcu(&Callback);
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  mode = argc > 1 ? argv[1] : "in_section";
  main_tid = review::Gettid();
  static S2 s2;
  static S1 s1;
  rcu::Synchronize();  // first use: the drain runs before S1 and S2 die
  return 0;
}
