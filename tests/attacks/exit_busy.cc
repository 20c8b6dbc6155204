// exit() while another thread keeps retiring (a server's worker that has
// not been told to stop, a common way for a process to end).
//
// call_rcu.h, "At exit": the handler runs the pending callbacks and those
// they queue; callbacks queued after that are batched in the thread that
// queues them. Nothing says exit() may wait for other threads to stop
// retiring, and the drain is bounded (exit_drain.h: "at most kMaxDrainRounds
// rounds, so that one that re-queues itself forever does not hold up exit").
// argv[1]: "plain" (retire outside read-side sections), "guards" (every
// Retire inside a ReadGuard), "mixed" (every third inside). The process must
// end; the driver gives it 30 s. argv[2]: how many retiring threads
// (default 1); argv[3]: "main" (main calls exit()) or "thread" (a new thread
// does, while main waits for it), or "none" (no exit: prints the backlog
// once a second for 6 s, then _exit()).
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "rcu/rcu.h"

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "mixed";
  const int threads = argc > 2 ? std::atoi(argv[2]) : 1;
  const std::string who = argc > 3 ? argv[3] : "main";
  static std::atomic<long> n{0};
  for (int t = 0; t < threads; ++t)
    std::thread([mode] {
      for (long i = 0;; ++i) {
        const bool guard = mode == "guards" || (mode == "mixed" && i % 3 == 0);
        if (guard) {
          rcu::ReadGuard g;
          rcu::Retire(new int(1));
        } else {
          rcu::Retire(new int(1));
        }
        n.store(i);
      }
    }).detach();
  while (n.load() < 10000) std::this_thread::yield();
  std::printf("exit_busy %s: calling exit() while a thread keeps retiring\n", mode.c_str());
  std::fflush(stdout);
  if (who == "none") {
    // No exit: how does the backlog evolve with these producers?
    for (int i = 0; i < 6; ++i) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      const rcu::Stats st = rcu::GetStats();
      std::printf("  t=%ds backlog %llu (queued %llu, invoked %llu)\n", i + 1,
                  (unsigned long long)(st.callbacks_queued - st.callbacks_invoked),
                  (unsigned long long)st.callbacks_queued,
                  (unsigned long long)st.callbacks_invoked);
      std::fflush(stdout);
    }
    std::_Exit(0);
  }
  if (who == "thread") std::thread([] { std::exit(0); }).join();
  std::exit(0);
}
