// Order of one thread's callbacks after the exit-time drain, when one is
// queued inside a read-side section (it goes to the callback worker) and an
// earlier one waits in the thread's after-drain queue.
//
// call_rcu.h: "one thread's callbacks still run in the order it queued
// them"; exit_drain.h: "After-drain runs keep each thread's order".
//
// argv[1] = "single": in a static destructor (after the drain), this thread
// queues #1 outside any section, #2 inside one, and calls Barrier().
// argv[1] = "barrier" (default): after the drain, thread P queues #1 outside
// a section; another thread B calls Barrier(), which takes P's queued #1 and
// waits for a grace period that a parked reader R holds up; meanwhile P
// queues #2 inside a section; then R leaves. #1 must still run first.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "rcu/rcu.h"

namespace {

int order[2];
std::atomic<int> n{0};
std::string mode;

void Record(int id) { order[n.fetch_add(1)] = id; }

int Report(const char* what) {
  char line[200];
  const bool ok = n.load() == 2 && order[0] == 1 && order[1] == 2;
  std::snprintf(line, sizeof line,
                "after_drain_order %s: ran %d callbacks, in the order #%d #%d -> %s\n", what,
                n.load(), order[0], order[1], ok ? "PASS" : "FAIL");
  if (::write(1, line, std::strlen(line)) < 0) std::_Exit(3);
  return ok ? 0 : 1;
}

struct AfterDrain {
  ~AfterDrain() {
    if (mode == "single") {
      rcu::CallRcu([] { Record(1); });
      {
        rcu::ReadGuard guard;
        rcu::CallRcu([] { Record(2); });
      }
      rcu::Barrier();
      std::_Exit(Report("single"));
    }
    std::atomic<bool> reader_in{false}, reader_release{false};
    std::thread reader([&] {
      rcu::ReadGuard guard;
      reader_in.store(true);
      while (!reader_release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    while (!reader_in.load()) std::this_thread::yield();
    std::atomic<int> step{0};
    std::thread p([&] {
      rcu::CallRcu([] { Record(1); });  // stays in P's after-drain queue
      step.store(1);
      while (step.load() != 2) std::this_thread::yield();
      rcu::ReadGuard guard;
      rcu::CallRcu([] { Record(2); });  // inside a section: to the worker
    });
    while (step.load() != 1) std::this_thread::yield();
    std::thread b([] { rcu::Barrier(); });
    // B takes P's queue and blocks in its grace period (R holds it up).
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    step.store(2);
    p.join();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    reader_release.store(true);
    reader.join();
    b.join();
    rcu::Barrier();
    std::_Exit(Report("barrier"));
  }
};

}  // namespace

int main(int argc, char** argv) {
  mode = argc > 1 ? argv[1] : "barrier";
  static AfterDrain after_drain;  // destroyed after the drain
  rcu::Synchronize();             // first use: registers the drain
  rcu::Retire(new int(1));
  return 0;
}
