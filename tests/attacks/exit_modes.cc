// exit() in awkward places. Each mode is one process; run_exit_modes.sh runs
// them many times with a time limit and checks the output.
//
//   from_thread   exit() called by a non-main thread while three others
//                 (main included) keep retiring, each checking its own
//                 callbacks' order; a Verifier constructed before the first
//                 RCU call checks in its destructor that everything the
//                 exiting thread queued before exit() ran.
//   in_section    exit() called while the calling thread holds a ReadGuard
//                 (with callbacks pending).
//   from_callback exit() called from inside an RCU callback.
//   barrier_race  other threads loop on Retire + Barrier() while main exits.
//   order_after   after the drain (static destructor), one thread queues by
//                 every path (batched Retire, stateful Retire, CallRcu,
//                 RcuObjBase, RcuHead), with callbacks that chain, and
//                 checks order and that Barrier() runs everything.
//   chain_mixed   before exit, chains of callbacks 50 deep that alternate
//                 queueing paths; the Verifier checks every chain finished
//                 before the drain returned.
//
// Every mode prints "DONE <mode>" from the last point it checks; failures
// print "FAIL: ..." and exit with status 1.
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "rcu/rcu.h"

namespace {

void Say(const std::string& s) {
  const std::string line = s + "\n";
  if (::write(1, line.data(), line.size()) < 0) std::_Exit(4);
}
[[noreturn]] void Fail(const std::string& s) {
  Say("FAIL: " + s);
  std::_Exit(1);
}

constexpr int kMaxThreads = 16;
std::atomic<std::int64_t> last_ran[kMaxThreads];
std::atomic<std::int64_t> ran_count[kMaxThreads];
std::atomic<std::int64_t> order_bad{0};

void Record(int t, std::int64_t seq) {
  const std::int64_t prev = last_ran[t].exchange(seq);
  ran_count[t].fetch_add(1);
  if (prev >= seq) {
    if (order_bad.fetch_add(1) < 5)
      Say("ORDER: thread " + std::to_string(t) + " ran " + std::to_string(seq) + " after " +
          std::to_string(prev));
  }
}

struct Tracked {
  int t;
  std::int64_t seq;
  ~Tracked() { Record(t, seq); }
};
struct TrackedObj : rcu::RcuObjBase<TrackedObj> {
  int t = 0;
  std::int64_t seq = 0;
  ~TrackedObj() { Record(t, seq); }
};
struct HeadNode {
  rcu::RcuHead head;
  int t;
  std::int64_t seq;
};
void HeadCb(rcu::RcuHead* h) {
  auto* n = reinterpret_cast<HeadNode*>(h);
  Record(n->t, n->seq);
  delete n;
}

// Queues one callback for thread-slot t with sequence seq, by path `kind`.
void QueueKind(int kind, int t, std::int64_t seq) {
  switch (kind % 5) {
    case 0:
      rcu::Retire(new Tracked{t, seq});
      break;
    case 1: {
      int salt = 1;
      rcu::Retire(new Tracked{t, seq}, [salt](Tracked* p) {
        if (salt) delete p;
      });
      break;
    }
    case 2:
      rcu::CallRcu([t, seq] { Record(t, seq); });
      break;
    case 3: {
      auto* o = new TrackedObj;
      o->t = t;
      o->seq = seq;
      rcu::Retire(o);
      break;
    }
    case 4: {
      auto* n = new HeadNode{{}, t, seq};
      rcu::CallRcu(&n->head, &HeadCb);
      break;
    }
  }
}

std::string mode;
std::atomic<std::int64_t> queued_by[kMaxThreads];

// from_thread: the exiting thread's slot.
constexpr int kExiter = 1;

// chain_mixed
constexpr int kChains = 20;
constexpr int kChainDepth = 50;
std::atomic<int> chain_done{0};
std::atomic<int> chain_max_depth{0};
void ChainStep(int chain, int depth) {
  int m = chain_max_depth.load();
  while (depth > m && !chain_max_depth.compare_exchange_weak(m, depth)) {
  }
  if (depth + 1 == kChainDepth) {
    chain_done.fetch_add(1);
    return;
  }
  switch (depth % 3) {
    case 0:
      rcu::CallRcu([chain, depth] { ChainStep(chain, depth + 1); });
      break;
    case 1: {
      struct Step {
        int chain, depth;
        ~Step() { ChainStep(chain, depth + 1); }
      };
      rcu::Retire(new Step{chain, depth});
      break;
    }
    case 2: {
      struct StepObj : rcu::RcuObjBase<StepObj> {
        int chain = 0, depth = 0;
        ~StepObj() { ChainStep(chain, depth + 1); }
      };
      auto* o = new StepObj;
      o->chain = chain;
      o->depth = depth;
      rcu::Retire(o);
      break;
    }
  }
}

// Constructed before the first RCU call: destroyed after the exit drain.
struct Verifier {
  ~Verifier() {
    if (mode == "from_thread") {
      const std::int64_t q = queued_by[kExiter].load();
      const std::int64_t r = ran_count[kExiter].load();
      Say("from_thread: exiter queued " + std::to_string(q) + ", ran before static dtors " +
          std::to_string(r));
      if (r < q) Fail("callbacks the exiting thread queued before exit() had not run");
      if (order_bad.load()) Fail("order");
      Say("DONE from_thread");
    } else if (mode == "in_section" || mode == "from_callback") {
      Say("DONE " + mode);  // exit() completed its handlers without hanging
    } else if (mode == "chain_mixed") {
      if (chain_done.load() != kChains)
        Fail("chains queued during the drain did not finish before it returned: " +
             std::to_string(chain_done.load()) + " of " + std::to_string(kChains) +
             " (deepest step reached: " + std::to_string(chain_max_depth.load()) + " of " +
             std::to_string(kChainDepth - 1) + ")");
      Say("DONE chain_mixed");
    } else if (mode == "order_after") {
      // After the drain: every path, from this thread, chained too.
      const int t = 3;
      std::int64_t seq = 0;
      for (int i = 0; i < 500; ++i) QueueKind(i * 7 % 5, t, ++seq);
      // A callback (post drain) that queues more from inside it.
      rcu::CallRcu([] {
        for (int i = 0; i < 10; ++i) QueueKind(i, 4, i + 1);
      });
      const std::int64_t queued = seq;
      rcu::Barrier();
      if (ran_count[t].load() != queued)
        Fail("after the drain, Barrier() left " + std::to_string(queued - ran_count[t].load()) +
             " of " + std::to_string(queued) + " callbacks");
      if (order_bad.load()) Fail("order after the drain");
      rcu::Barrier();
      if (ran_count[4].load() != 10)
        Fail("callbacks queued by a callback after the drain: " +
             std::to_string(ran_count[4].load()) + " of 10 after two Barrier()s");
      // Leave some for the very end of exit.
      for (int i = 0; i < 5; ++i) QueueKind(i, 5, i + 1);
      Say("DONE order_after");
    }
  }
};

// End of exit marker for order_after: destroyed before Verifier? No: we
// print from the callbacks left to the very end.
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: exit_modes MODE\n");
    return 2;
  }
  mode = argv[1];
  static Verifier verifier;  // before any RCU call
  for (auto& l : last_ran) l.store(0);
  rcu::SetDiagnosticHandler([](const rcu::Diagnostic& d) { Say("DIAGNOSTIC: " + d.message); });

  if (mode == "from_thread") {
    std::atomic<bool> go{false};
    std::vector<std::thread> others;
    for (int t = 2; t < 4; ++t) {
      others.emplace_back([t, &go] {
        std::int64_t seq = 0;
        while (!go.load()) std::this_thread::yield();
        for (;;) {
          if (seq % 3 == 0) {
            rcu::ReadGuard g;
            {
              ++seq;
              QueueKind(static_cast<int>(seq), t, seq);
            }
          } else {
            {
              ++seq;
              QueueKind(static_cast<int>(seq), t, seq);
            }
          }
        }
      });
    }
    std::thread exiter([&go] {
      go.store(true);
      std::int64_t seq = 0;
      for (int i = 0; i < 3000; ++i) {
        QueueKind(i, kExiter, ++seq);
        queued_by[kExiter].store(seq);
      }
      std::exit(0);
    });
    std::int64_t seq = 0;
    for (;;) {
      ++seq;
      QueueKind(static_cast<int>(seq), 0, seq);
    }  // main keeps retiring
  } else if (mode == "steady") {
    // from_thread's producers, without any exit(): is the order kept?
    std::atomic<bool> stop{false};
    std::vector<std::thread> others;
    for (int t = 1; t < 4; ++t) {
      others.emplace_back([t, &stop] {
        std::int64_t seq = 0;
        while (!stop.load()) {
          if (seq % 3 == 0) {
            rcu::ReadGuard g;
            {
              ++seq;
              QueueKind(static_cast<int>(seq), t, seq);
            }
          } else {
            {
              ++seq;
              QueueKind(static_cast<int>(seq), t, seq);
            }
          }
        }
        queued_by[t].store(seq);
      });
    }
    std::this_thread::sleep_for(std::chrono::seconds(3));
    stop.store(true);
    for (auto& th : others) th.join();
    rcu::Barrier();
    for (int t = 1; t < 4; ++t)
      if (ran_count[t].load() != queued_by[t].load()) Fail("steady: lost callbacks");
    if (order_bad.load()) Fail("steady: order");
    Say("DONE steady (" +
        std::to_string(queued_by[1].load() + queued_by[2].load() + queued_by[3].load()) +
        " callbacks)");
    std::_Exit(0);
  } else if (mode == "in_section") {
    for (int i = 0; i < 100; ++i) QueueKind(i, 0, i + 1);
    rcu::ReadGuard g;
    Say("calling exit() inside a read-side section");
    std::exit(0);
  } else if (mode == "from_callback") {
    for (int i = 0; i < 100; ++i) QueueKind(i, 0, i + 1);
    rcu::CallRcu([] {
      Say("calling exit() from a callback");
      std::exit(0);
    });
    for (int i = 0; i < 100; ++i) QueueKind(i, 0, 101 + i);
    rcu::Barrier();
    Fail("Barrier() returned after the callback called exit()");
  } else if (mode == "barrier_race") {
    for (int t = 1; t < 4; ++t) {
      std::thread([t] {
        std::int64_t seq = 0;
        for (;;) {
          for (int i = 0; i < 20; ++i) {
            ++seq;
            QueueKind(static_cast<int>(seq), t, seq);
          }
          rcu::Barrier();
          if (last_ran[t].load() != seq) {
            // During or after the drain, Barrier must still wait for ours.
            Fail("Barrier() racing with exit returned early: thread " + std::to_string(t) +
                 " queued " + std::to_string(seq) + ", last ran " +
                 std::to_string(last_ran[t].load()));
          }
        }
      }).detach();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    Say("DONE barrier_race");
    std::exit(0);
  } else if (mode == "order_after") {
    rcu::Retire(new Tracked{0, 1});
    rcu::Barrier();
    return 0;
  } else if (mode == "chain_mixed") {
    for (int c = 0; c < kChains; ++c) ChainStep(c, -1 + 1);
    std::exit(0);
  }
  std::fprintf(stderr, "unknown mode\n");
  return 2;
}
