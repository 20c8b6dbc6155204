// One thread's callback order while ANOTHER thread calls exit().
//
// call_rcu.h: "one thread's callbacks still run in the order it queued
// them"; exit_drain.h promises after-drain runs "keep each thread's order".
// Producer threads queue numbered callbacks, alternating batched Retire(),
// stateful Retire(), CallRcu(), RcuObjBase and RcuHead, some inside
// read-side sections (argv[2] = "guards") or none ("plain"), a bounded
// number, then sleep. The thread that calls exit() is argv[1]: "main" or
// "thread". Every out-of-order run is printed ("ORDER: ...") as it happens;
// the last line says how many there were. Exit status 0 either way; the
// driver script counts.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "rcu/rcu.h"

namespace {

void Say(const std::string& s) {
  const std::string line = s + "\n";
  if (::write(1, line.data(), line.size()) < 0) std::_Exit(4);
}

constexpr int kProducers = 2;
constexpr std::int64_t kPerProducer = 100000;
std::atomic<std::int64_t> last_ran[kProducers];
std::atomic<std::int64_t> ran[kProducers];
std::atomic<std::int64_t> queued[kProducers];
std::atomic<int> order_bad{0};
bool guards = false;
std::string kinds = "01234";  // argv[3]: which paths, cycled

void Record(int t, std::int64_t seq) {
  const std::int64_t prev = last_ran[t].exchange(seq);
  ran[t].fetch_add(1);
  if (prev >= seq && order_bad.fetch_add(1) < 5) {
    Say("ORDER: producer " + std::to_string(t) + " ran #" + std::to_string(seq) + " after #" +
        std::to_string(prev) + " (queued so far " + std::to_string(queued[t].load()) + ")");
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

void QueueKind(int t, std::int64_t seq) {
  switch (kinds[seq % kinds.size()] - '0') {
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
    case 4:
      rcu::CallRcu(&(new HeadNode{{}, t, seq})->head, [](rcu::RcuHead* h) {
        auto* n = reinterpret_cast<HeadNode*>(h);
        Record(n->t, n->seq);
        delete n;
      });
      break;
  }
}

struct Reporter {
  ~Reporter() {
    Say("exit_order: static destructors reached; order violations so far " +
        std::to_string(order_bad.load()));
  }
};

}  // namespace

int main(int argc, char** argv) {
  const std::string who = argc > 1 ? argv[1] : "main";
  guards = argc > 2 && std::string(argv[2]) == "guards";
  if (argc > 3) kinds = argv[3];
  static Reporter reporter;
  for (auto& l : last_ran) l.store(0);
  std::atomic<bool> started{false};
  for (int t = 0; t < kProducers; ++t) {
    std::thread([t, &started] {
      for (std::int64_t seq = 1; seq <= kPerProducer; ++seq) {
        if (guards && seq % 3 == 0) {
          rcu::ReadGuard g;
          QueueKind(t, seq);
        } else {
          QueueKind(t, seq);
        }
        queued[t].store(seq);
        if (seq == 2000) started.store(true);
      }
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
    }).detach();
  }
  while (!started.load()) std::this_thread::yield();
  if (who == "thread") {
    std::thread([] { std::exit(0); }).join();
  }
  std::exit(0);
}
