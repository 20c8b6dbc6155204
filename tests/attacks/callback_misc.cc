// Callbacks that misbehave, and Barrier() racing with exits. One mode per
// process (argv[1]).
//
//   throw_block     a batched Retire() deleter throws in the middle of a
//                   block: reported (kCallbackThrew), counted in
//                   callbacks_failed, and the rest of the block still runs.
//   throw_after     after the exit-time drain (in a static destructor) a
//                   callback that throws is queued and Barrier() is called:
//                   the exception must not escape into the destructor (it
//                   is "reported ... and dropped; the rest keep running").
//   throw_drain     a callback pending at exit() throws during the drain: the
//                   rest still run, exit completes.
//   sync_in_cb      a callback calls Synchronize() (not forbidden): no hang,
//                   also during the exit drain and after it.
//   requeue         a callback re-queues itself forever: Barrier() still
//                   returns (it waits only for callbacks queued before it),
//                   and exit() still completes.
//   barrier_exit    a thread retires a few objects (a partial block), says
//                   so, and exits; at that moment another thread calls
//                   Barrier(): everything retired must have run when
//                   Barrier() returns. Repeated 3000 times.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "rcu/rcu.h"

namespace {

void Say(const std::string& s) {
  const std::string line = s + "\n";
  if (::write(1, line.data(), line.size()) < 0) std::_Exit(4);
}
int Verdict(bool ok) {
  Say(ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

std::atomic<int> diagnostics_threw{0};
std::atomic<int> ran{0};
std::string mode;

struct Thrower {
  bool throws;
  ~Thrower() noexcept(false) {
    ran.fetch_add(1);
    if (throws) throw std::runtime_error("deleter throws");
  }
};

void InstallHandler() {
  rcu::SetDiagnosticHandler([](const rcu::Diagnostic& d) {
    if (d.kind == rcu::Diagnostic::Kind::kCallbackThrew) diagnostics_threw.fetch_add(1);
    Say("  diagnostic: " + d.message);
  });
}

// After the drain.
struct AfterDrain {
  ~AfterDrain() {
    if (mode == "throw_after") {
      try {
        rcu::CallRcu([] { throw std::runtime_error("after-drain callback throws"); });
        for (int i = 0; i < 10; ++i) rcu::CallRcu([] { ran.fetch_add(1); });
        rcu::Barrier();
        Say("throw_after: Barrier() returned; " + std::to_string(ran.load()) +
            " of 10 later callbacks ran; diagnostics " + std::to_string(diagnostics_threw.load()));
        std::_Exit(Verdict(ran.load() == 10 && diagnostics_threw.load() == 1));
      } catch (const std::exception& e) {
        Say(std::string("throw_after: the callback's exception escaped into the static "
                        "destructor that called Barrier(): ") +
            e.what());
        std::_Exit(Verdict(false));
      }
    } else if (mode == "sync_in_cb") {
      std::atomic<int> done{0};
      rcu::CallRcu([&done] {
        rcu::Synchronize();
        done.fetch_add(1);
      });
      rcu::Barrier();
      Say("sync_in_cb: after the drain, callback with Synchronize() ran: " +
          std::to_string(done.load()));
      std::_Exit(Verdict(done.load() == 1 && ran.load() == 1));
    } else if (mode == "throw_drain") {
      Say("throw_drain: at static destruction " + std::to_string(ran.load()) +
          " of 11 callbacks ran, diagnostics " + std::to_string(diagnostics_threw.load()));
      std::_Exit(Verdict(ran.load() == 11 && diagnostics_threw.load() == 1));
    } else if (mode == "requeue") {
      Say("requeue: exit drain finished");
      std::_Exit(Verdict(true));
    }
  }
};

std::atomic<long> requeues{0};
void Requeue() {
  requeues.fetch_add(1);
  rcu::CallRcu(&Requeue);
}

int BarrierExit() {
  constexpr int kRounds = 3000;
  int bad = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::atomic<int> destroyed{0};
    std::atomic<int> retired{0};
    struct Counted {
      std::atomic<int>* d;
      ~Counted() { d->fetch_add(1); }
    };
    const int n = 1 + round % 61;
    std::thread t([&] {
      for (int i = 0; i < n; ++i) {
        if (round % 3 == 0) {
          rcu::ReadGuard g;
          rcu::Retire(new Counted{&destroyed});
        } else {
          rcu::Retire(new Counted{&destroyed});
        }
        retired.fetch_add(1);
      }
      // returns: the thread's exit hands the partial block over
    });
    while (retired.load() != n) {
    }
    rcu::Barrier();
    const int d = destroyed.load();
    t.join();
    if (d != n) {
      if (++bad < 5)
        Say("barrier_exit: round " + std::to_string(round) + ": Barrier() returned with " +
            std::to_string(d) + " of " + std::to_string(n) + " reclaimed");
      rcu::Barrier();
    }
  }
  Say("barrier_exit: " + std::to_string(kRounds) + " rounds, " + std::to_string(bad) + " early");
  return Verdict(bad == 0);
}

}  // namespace

int main(int argc, char** argv) {
  mode = argc > 1 ? argv[1] : "";
  static AfterDrain after_drain;  // before the first use: runs after the drain
  InstallHandler();
  if (mode == "throw_block") {
    for (int i = 0; i < 20; ++i) rcu::Retire(new Thrower{i == 7});
    rcu::Barrier();
    const rcu::Stats s = rcu::GetStats();
    Say("throw_block: " + std::to_string(ran.load()) + " of 20 deleters ran, callbacks_failed " +
        std::to_string(s.callbacks_failed) + ", diagnostics " +
        std::to_string(diagnostics_threw.load()));
    std::_Exit(
        Verdict(ran.load() == 20 && s.callbacks_failed == 1 && diagnostics_threw.load() == 1));
  }
  if (mode == "throw_after") {
    rcu::Synchronize();
    return 0;
  }
  if (mode == "throw_drain") {
    rcu::CallRcu([] {
      ran.fetch_add(1);
      throw std::runtime_error("drain callback throws");
    });
    for (int i = 0; i < 10; ++i) rcu::CallRcu([] { ran.fetch_add(1); });
    std::exit(0);
  }
  if (mode == "sync_in_cb") {
    std::atomic<int> done{0};
    rcu::CallRcu([&done] {
      rcu::Synchronize();
      done.fetch_add(1);
    });
    rcu::Barrier();
    if (done.load() != 1) return Verdict(false);
    rcu::CallRcu([] {
      rcu::Synchronize();
      ran.fetch_add(1);  // during the drain
    });
    std::exit(0);
  }
  if (mode == "requeue") {
    rcu::CallRcu(&Requeue);
    for (int i = 0; i < 5; ++i) rcu::Barrier();
    Say("requeue: 5 Barrier()s returned while a callback re-queues itself (" +
        std::to_string(requeues.load()) + " runs so far)");
    std::exit(0);
  }
  if (mode == "barrier_exit") std::_Exit(BarrierExit());
  Say("unknown mode");
  return 2;
}
