// Assorted promises. One mode per process (argv[1]).
//
//   stats_after_drain  stats.h: "callbacks_invoked <= callbacks_queued always
//                      holds in one snapshot", and counters only grow; checked
//                      by a polling thread while static destructors (after
//                      the drain) retire by every path, and at the end every
//                      queued callback is counted as invoked.
//   leaked_guard       read_guard.h: "A thread that exits while a guard is
//                      still open ... is diagnosed, and its read-side section
//                      is ended for it": the thread retired objects inside
//                      that section (batched and not); after it exits,
//                      Synchronize() returns, Barrier() runs them all, and
//                      kThreadExitInReadSection is reported exactly once per
//                      thread. Also with pthread_exit() under a guard.
//   cookies            grace_period.h: "A cookie never reports a grace period
//                      that did not fully happen": readers check that objects
//                      they hold are not marked dead; writers mark an object
//                      dead only once PollState() (StartPoll()/GetState()) or
//                      CondSynchronize() says a grace period has elapsed.
//   tiny_limit         SetCallbackBacklogLimit(0) and (1): a thread retiring
//                      10,000 objects (batched and not) still finishes.
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "rcu/rcu.h"
#include "tests/attacks/util.h"

namespace {

void Say(const std::string& s) {
  const std::string line = s + "\n";
  if (::write(1, line.data(), line.size()) < 0) std::_Exit(4);
}
int Verdict(bool ok) {
  Say(ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

std::string mode;
std::atomic<bool> poll_stop{false};
std::atomic<long> stats_bad{0}, stats_polls{0};

void PollStats() {
  rcu::Stats prev{};
  while (!poll_stop.load()) {
    const rcu::Stats s = rcu::GetStats();
    if (s.callbacks_invoked > s.callbacks_queued || s.callbacks_queued < prev.callbacks_queued ||
        s.callbacks_invoked < prev.callbacks_invoked) {
      if (stats_bad.fetch_add(1) < 3)
        Say("  stats: queued " + std::to_string(s.callbacks_queued) + " invoked " +
            std::to_string(s.callbacks_invoked) + " (previous " +
            std::to_string(prev.callbacks_queued) + "/" + std::to_string(prev.callbacks_invoked) +
            ")");
    }
    prev = s;
    stats_polls.fetch_add(1);
  }
}

struct Obj : rcu::RcuObjBase<Obj> {};
struct Head {
  rcu::RcuHead head;
};

void RetireEveryWay(int n) {
  for (int i = 0; i < n; ++i) {
    switch (i % 4) {
      case 0:
        rcu::Retire(new int(i));
        break;
      case 1:
        rcu::CallRcu([] {});
        break;
      case 2:
        rcu::Retire(new Obj);
        break;
      case 3: {
        rcu::ReadGuard g;
        rcu::Retire(new int(i));
        break;
      }
    }
  }
}

struct AfterDrain {
  ~AfterDrain() {
    if (mode != "stats_after_drain") return;
    std::thread poller(&PollStats);
    std::thread other([] { RetireEveryWay(5000); });
    RetireEveryWay(5000);
    other.join();
    rcu::Barrier();
    poll_stop.store(true);
    poller.join();
    const rcu::Stats s = rcu::GetStats();
    Say("stats_after_drain: " + std::to_string(stats_polls.load()) + " snapshots, " +
        std::to_string(stats_bad.load()) + " bad; at the end queued " +
        std::to_string(s.callbacks_queued) + ", invoked " + std::to_string(s.callbacks_invoked) +
        ", buffered " + std::to_string(s.retirements_buffered));
    std::_Exit(Verdict(stats_bad.load() == 0 && s.callbacks_queued == s.callbacks_invoked));
  }
};

std::atomic<int> exit_diags{0};
std::atomic<int> reclaimed{0};
struct Counted {
  ~Counted() { reclaimed.fetch_add(1); }
};

int LeakedGuard() {
  rcu::SetDiagnosticHandler([](const rcu::Diagnostic& d) {
    if (d.kind == rcu::Diagnostic::Kind::kThreadExitInReadSection) exit_diags.fetch_add(1);
  });
  constexpr int kThreads = 20;
  int retired = 0;
  for (int t = 0; t < kThreads; ++t) {
    const bool use_pthread_exit = t % 2;
    const int n = 10 + t * 7;
    retired += n;
    std::thread([n, use_pthread_exit] {
      auto* leaked = new rcu::ReadGuard;
      (void)leaked;
      for (int i = 0; i < n; ++i) {
        if (i % 2)
          rcu::Retire(new Counted);
        else {
          int salt = 1;
          rcu::Retire(new Counted, [salt](Counted* c) {
            if (salt) delete c;
          });
        }
      }
      if (use_pthread_exit) {
        rcu::ReadGuard second;  // skipped by pthread_exit
        pthread_exit(nullptr);
      }
    }).join();
  }
  std::atomic<bool> synced{false};
  std::thread s([&] {
    rcu::Synchronize();
    synced.store(true);
  });
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!synced.load() && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (!synced.load()) {
    Say("leaked_guard: Synchronize() blocked after threads exited with open guards");
    std::_Exit(Verdict(false));
  }
  s.join();
  rcu::Barrier();
  Say("leaked_guard: " + std::to_string(kThreads) +
      " threads exited inside sections (half by "
      "pthread_exit): diagnostics " +
      std::to_string(exit_diags.load()) + ", reclaimed " + std::to_string(reclaimed.load()) +
      " of " + std::to_string(retired));
  return Verdict(exit_diags.load() == kThreads && reclaimed.load() == retired);
}

struct Checked {
  std::atomic<int> alive{1};
};
std::atomic<Checked*> current{nullptr};
std::atomic<long> cookie_bad{0}, cookie_checks{0}, cookie_retired{0};

int Cookies() {
  const int seconds = review::EnvInt("SECONDS_TO_RUN", 10);
  current.store(new Checked);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&] {
      while (!stop.load()) {
        rcu::ReadGuard g;
        Checked* c = current.load(std::memory_order_acquire);
        for (int i = 0; i < 50; ++i) {
          if (c->alive.load(std::memory_order_relaxed) != 1) cookie_bad.fetch_add(1);
        }
        cookie_checks.fetch_add(1, std::memory_order_relaxed);
      }
    });
  std::mutex writer_mu;
  for (int w = 0; w < 3; ++w)
    threads.emplace_back([&, w] {
      std::vector<Checked*> graveyard;
      while (!stop.load()) {
        Checked* old;
        {
          std::lock_guard<std::mutex> lock(writer_mu);
          old = current.exchange(new Checked, std::memory_order_acq_rel);
        }
        if (w == 0) {
          const rcu::GracePeriodCookie c = rcu::StartPoll();
          while (!rcu::PollState(c) && !stop.load()) std::this_thread::yield();
          if (!rcu::PollState(c)) break;
        } else if (w == 1) {
          const rcu::GracePeriodCookie c = rcu::GetState();
          rcu::CondSynchronize(c);
          if (!rcu::PollState(c)) cookie_bad.fetch_add(1000000);
        } else {
          const rcu::GracePeriodCookie c = rcu::GetState();
          // Relies on the others' grace periods.
          while (!rcu::PollState(c) && !stop.load()) std::this_thread::yield();
          if (!rcu::PollState(c)) break;
        }
        old->alive.store(0, std::memory_order_relaxed);
        graveyard.push_back(old);  // never freed: the mark stays readable
        cookie_retired.fetch_add(1);
      }
      (void)graveyard;
    });
  threads.emplace_back([&] {
    while (!stop.load()) {
      rcu::Synchronize();
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  });
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop.store(true);
  for (auto& t : threads) t.join();
  Say("cookies: " + std::to_string(cookie_checks.load()) + " reader sections, " +
      std::to_string(cookie_retired.load()) +
      " objects marked dead after their cookie "
      "completed; dead objects seen by readers: " +
      std::to_string(cookie_bad.load()));
  return Verdict(cookie_bad.load() == 0 && cookie_retired.load() > 100);
}

int TinyLimit() {
  bool ok = true;
  for (std::size_t limit : {std::size_t{0}, std::size_t{1}}) {
    rcu::SetCallbackBacklogLimit(limit);
    std::atomic<bool> done{false};
    std::thread t([&] {
      for (int i = 0; i < 10000; ++i) {
        if (i % 3)
          rcu::Retire(new int(i));
        else
          rcu::CallRcu([] {});
      }
      done.store(true);
    });
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!done.load() && std::chrono::steady_clock::now() < end)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    Say("tiny_limit: limit " + std::to_string(limit) + ": 10,000 retirements " +
        (done.load() ? "finished" : "BLOCKED for 60 s"));
    if (!done.load()) {
      review::DumpStacks(getpid());
      std::_Exit(Verdict(false));
    }
    t.join();
  }
  rcu::Barrier();
  return Verdict(ok);
}

}  // namespace

int main(int argc, char** argv) {
  mode = argc > 1 ? argv[1] : "";
  static AfterDrain after_drain;
  if (mode == "stats_after_drain") {
    rcu::Synchronize();
    return 0;
  }
  if (mode == "leaked_guard") std::_Exit(LeakedGuard());
  if (mode == "cookies") std::_Exit(Cookies());
  if (mode == "tiny_limit") std::_Exit(TinyLimit());
  Say("unknown mode");
  std::_Exit(2);
}
