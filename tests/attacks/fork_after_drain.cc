// fork() after the exit-time drain (from a static destructor) while another
// thread's Barrier() has taken a third thread's after-drain queue and waits
// for its grace period.
//
// call_rcu.h, fork(): "Each process then runs its own copy of the callbacks
// pending at the fork". Thread P queues one callback (it stays in P's
// after-drain queue); thread B calls Barrier(), held up by a reader R; the
// main thread forks. In the child, Barrier() must run P's callback exactly
// once (unless it had run before the fork, which the child's memory shows).
// Repeated argv[1] times (default 20), each in a fresh process.
#include <sys/wait.h>
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

std::atomic<int> ran{0};

void Say(const std::string& s) {
  const std::string line = s + "\n";
  if (::write(1, line.data(), line.size()) < 0) std::_Exit(4);
}

struct AfterDrain {
  ~AfterDrain() {
    std::atomic<bool> reader_in{false}, reader_release{false};
    std::thread reader([&] {
      rcu::ReadGuard guard;
      reader_in.store(true);
      while (!reader_release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    while (!reader_in.load()) std::this_thread::yield();
    std::thread p([] { rcu::CallRcu([] { ran.fetch_add(1); }); });
    p.join();
    std::thread b([] { rcu::Barrier(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::thread releaser([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      reader_release.store(true);
    });
    const pid_t pid = fork();  // waits for the grace period in progress
    if (pid == 0) {
      const int before = ran.load();
      rcu::Barrier();
      const int after = ran.load();
      Say("  child: P's callback had run " + std::to_string(before) + " time(s) at the fork, " +
          std::to_string(after) + " after the child's Barrier()");
      std::_Exit(after == 1 ? 0 : 1);
    }
    const int status = review::WaitChild(pid, 30);
    releaser.join();
    reader.join();
    b.join();
    rcu::Barrier();
    const bool ok = status == 0 && ran.load() == 1;
    Say(std::string("fork_after_drain: child ") + review::DescribeStatus(status) +
        ", parent ran P's callback " + std::to_string(ran.load()) + " time(s) -> " +
        (ok ? "PASS" : "FAIL"));
    std::_Exit(ok ? 0 : 1);
  }
};

}  // namespace

int main() {
  static AfterDrain after_drain;  // destroyed after the drain
  rcu::Synchronize();
  rcu::Retire(new int(1));
  return 0;
}
