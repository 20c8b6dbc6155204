// fork() from several threads at once, while every other part of the core is
// busy; children check that the callbacks pending at the fork run exactly
// once in them, in per-thread order, and that they can use everything and
// fork again (grandchildren), then exit with exit() or _exit().
//
// Checked (call_rcu.h, "fork()"): "Each process then runs its own copy of
// the callbacks pending at the fork"; "the child may read, retire and
// synchronize freely"; per-thread order ("one thread's callbacks still run in
// the order it queued them"); Barrier() waits for everything queued before
// it; stats.h "callbacks_invoked <= callbacks_queued". One extra thread never
// uses RCU itself and forks every 20-70 ms; its children start from there.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "rcu/rcu.h"
#include "tests/attacks/util.h"

namespace {

constexpr std::uint32_t kMaxIds = 1u << 22;
constexpr std::uint32_t kMaxProducers = 1u << 20;

std::atomic<std::uint8_t> ran[kMaxIds];
std::atomic<std::uint8_t> queued[kMaxIds];
std::atomic<std::uint32_t> next_id{0};
std::atomic<std::int64_t> last_seq[kMaxProducers];
std::atomic<std::uint32_t> next_producer{0};
std::atomic<std::int64_t> doubles{0}, order_bad{0}, barrier_bad{0}, stats_bad{0};
std::atomic<std::int64_t> forks{0}, child_fail{0}, child_hang{0};
std::atomic<bool> stop{false};
std::atomic<bool> ids_exhausted{false};

void Record(std::uint32_t id, std::uint32_t producer, std::int64_t seq) {
  if (ran[id].fetch_add(1) != 0) doubles.fetch_add(1);
  if (producer == UINT32_MAX) return;
  const std::int64_t prev = last_seq[producer].exchange(seq);
  if (prev >= seq) {
    order_bad.fetch_add(1);
    std::fprintf(stderr, "[%d] ORDER: producer %u ran seq %" PRId64 " after %" PRId64 "\n",
                 (int)getpid(), producer, seq, prev);
  }
}

struct Meta {
  std::uint32_t id, producer;
  std::int64_t seq;
};

struct Tracked {
  Meta m;
  ~Tracked() { Record(m.id, m.producer, m.seq); }
};
struct TrackedObj : rcu::RcuObjBase<TrackedObj> {
  Meta m;
  ~TrackedObj() { Record(m.id, m.producer, m.seq); }
};
struct HeadNode {
  rcu::RcuHead head;
  Meta m;
};
void HeadCallback(rcu::RcuHead* h) {
  HeadNode* n = reinterpret_cast<HeadNode*>(h);
  Record(n->m.id, n->m.producer, n->m.seq);
  delete n;
}
struct StatelessDeleter {
  void operator()(Tracked* t) const { delete t; }
};

// One producer's identity and sequence.
struct Producer {
  std::uint32_t id;
  std::int64_t seq = 0;
  std::mt19937_64 rng;
  Producer() : id(next_producer.fetch_add(1)), rng(id * 7919 + getpid()) {
    if (id >= kMaxProducers) {
      std::fprintf(stderr, "fork_storm: out of producer ids\n");
      std::_Exit(70);
    }
    last_seq[id].store(0);
  }
};

bool NewId(std::uint32_t& id) {
  id = next_id.fetch_add(1);
  if (id >= kMaxIds) {
    ids_exhausted.store(true);
    return false;
  }
  return true;
}

// Queues one callback of a random kind; returns false when ids ran out.
bool QueueOne(Producer& p) {
  std::uint32_t id;
  if (!NewId(id)) return false;
  const Meta m{id, p.id, ++p.seq};
  switch (p.rng() % 7) {
    case 0:
    case 1:
      rcu::Retire(new Tracked{m});
      break;
    case 2:
      rcu::Retire(new Tracked{m}, StatelessDeleter{});
      break;
    case 3: {
      int salt = 1;
      rcu::Retire(new Tracked{m}, [salt](Tracked* t) {
        if (salt) delete t;
      });
      break;
    }
    case 4:
      rcu::CallRcu([m] { Record(m.id, m.producer, m.seq); });
      break;
    case 5: {
      auto* o = new TrackedObj;
      o->m = m;
      rcu::Retire(o);
      break;
    }
    case 6: {
      auto* n = new HeadNode;
      n->m = m;
      rcu::CallRcu(&n->head, &HeadCallback);
      break;
    }
  }
  queued[id].store(1);
  return true;
}

bool StatsOk() {
  const rcu::Stats s = rcu::GetStats();
  return s.callbacks_invoked <= s.callbacks_queued;
}

// All ids queued (as seen in this process's memory) ran exactly once.
int CheckAllRan(const char* where) {
  const std::uint32_t n = std::min(next_id.load(), kMaxIds);
  int missing = 0, dup = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    const int r = ran[i].load();
    if (queued[i].load() && r == 0) {
      if (missing < 5)
        std::fprintf(stderr, "[%d] %s: id %u queued but never ran\n", (int)getpid(), where, i);
      ++missing;
    }
    if (r > 1) ++dup;
  }
  if (missing || dup)
    std::fprintf(stderr, "[%d] %s: %d missing, %d run twice (of %u)\n", (int)getpid(), where,
                 missing, dup, n);
  return missing + dup;
}

int ChildMain(Producer& p, int depth);

// Forks; the child runs ChildMain. Returns false if the child failed.
void ForkAndCheck(Producer& p, int depth) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("fork");
    return;
  }
  if (pid == 0) {
    const int code = ChildMain(p, depth + 1);
    if (code == 0 && (p.rng() & 1)) std::exit(0);  // runs the exit-time drain
    std::_Exit(code);
  }
  forks.fetch_add(1);
  const int status = review::WaitChild(pid, 60, child_hang.load() == 0);
  if (status == -1) {
    child_hang.fetch_add(1);
  } else if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    child_fail.fetch_add(1);
    std::fprintf(stderr, "[%d] child %d (depth %d) failed: %s\n", (int)getpid(), (int)pid,
                 depth + 1, review::DescribeStatus(status).c_str());
  }
}

int ChildMain(Producer& p, int depth) {
  if (!StatsOk()) return 10;
  rcu::Barrier();
  if (CheckAllRan("child after first Barrier")) return 11;
  if (last_seq[p.id].load() != p.seq) {
    std::fprintf(stderr, "[%d] child: own last_seq %" PRId64 " != %" PRId64 "\n", (int)getpid(),
                 last_seq[p.id].load(), p.seq);
    return 12;
  }
  if (order_bad.load() || doubles.load()) return 13;
  // Use everything: two threads retiring inside and outside sections.
  std::vector<std::thread> threads;
  std::atomic<int> helper_done{0};
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      Producer q;
      for (int i = 0; i < 150; ++i) {
        if (i % 3 == 0) {
          rcu::ReadGuard g;
          QueueOne(q);
        } else {
          QueueOne(q);
        }
      }
      helper_done.fetch_add(1);
    });
  }
  // Fork again while the helpers run (grandchild).
  if (depth < 3 && (p.rng() % 2 == 0)) ForkAndCheck(p, depth);
  for (auto& t : threads) t.join();
  for (int i = 0; i < 50; ++i) QueueOne(p);
  rcu::Synchronize();
  const rcu::GracePeriodCookie c = rcu::StartPoll();
  rcu::CondSynchronize(c);
  if (!rcu::PollState(c)) return 14;
  rcu::Barrier();
  if (CheckAllRan("child after second Barrier")) return 15;
  if (last_seq[p.id].load() != p.seq) return 16;
  if (!StatsOk()) return 17;
  if (order_bad.load() || doubles.load()) return 18;
  if (child_fail.load() || child_hang.load()) return 19;
  // Leave something pending for the exit drain / _exit.
  for (int i = 0; i < 30; ++i) QueueOne(p);
  return 0;
}

}  // namespace

int main() {
  const int seconds = review::EnvInt("SECONDS_TO_RUN", 20);
  const int producers = review::EnvInt("PRODUCERS", 3);
  const int fork_one_in = review::EnvInt("FORK_ONE_IN", 3000);
  rcu::SetDiagnosticHandler([](const rcu::Diagnostic& d) {
    std::fprintf(stderr, "[%d] DIAGNOSTIC: %s\n", (int)getpid(), d.message.c_str());
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < producers; ++t) {
    threads.emplace_back([&, t] {
      Producer p;
      std::uint64_t ops = 0;
      while (!stop.load() && !ids_exhausted.load()) {
        ++ops;
        const unsigned r = p.rng() % fork_one_in;
        if (r == 0) {
          ForkAndCheck(p, 0);
        } else if (r < 4) {
          rcu::Barrier();
          if (last_seq[p.id].load() != p.seq) {
            barrier_bad.fetch_add(1);
            std::fprintf(stderr, "BARRIER: producer %u last ran %" PRId64 ", queued %" PRId64 "\n",
                         p.id, last_seq[p.id].load(), p.seq);
          }
        } else if (r < 8) {
          rcu::Synchronize();
        } else if (r < 12) {
          const rcu::GracePeriodCookie c = rcu::StartPoll();
          (void)rcu::PollState(c);
        } else if (r < 30) {
          if (!StatsOk()) stats_bad.fetch_add(1);
        } else if (r < 400) {
          rcu::ReadGuard g;
          QueueOne(p);
          QueueOne(p);
        } else {
          QueueOne(p);
        }
        (void)t;
      }
    });
  }
  // Spawner: short-lived threads with partial blocks, some first-use inside a
  // section.
  threads.emplace_back([&] {
    while (!stop.load() && !ids_exhausted.load() && next_producer.load() < kMaxProducers - 1000) {
      std::thread([] {
        Producer q;
        const int n = 1 + static_cast<int>(q.rng() % 70);
        rcu::ReadGuard g;
        for (int i = 0; i < n; ++i) QueueOne(q);
      }).join();
    }
  });
  // A thread that never uses RCU itself and forks now and then; its child
  // starts using RCU from that thread.
  if (review::EnvInt("UNREGISTERED_FORKER", 1))
    threads.emplace_back([&] {
      std::mt19937 rng(12345);
      while (!stop.load() && !ids_exhausted.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 50));
        std::fflush(nullptr);
        const pid_t pid = fork();
        if (pid == 0) {
          Producer q;
          std::_Exit(ChildMain(q, 1));
        }
        forks.fetch_add(1);
        const int status = review::WaitChild(pid, 60, child_hang.load() == 0);
        if (status == -1) {
          child_hang.fetch_add(1);
        } else if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
          child_fail.fetch_add(1);
          std::fprintf(stderr, "child %d of the unregistered forker failed: %s\n", (int)pid,
                       review::DescribeStatus(status).c_str());
        }
      }
    });
  // Stats reader.
  threads.emplace_back([&] {
    rcu::Stats prev{};
    while (!stop.load()) {
      const rcu::Stats s = rcu::GetStats();
      if (s.callbacks_invoked > s.callbacks_queued || s.callbacks_queued < prev.callbacks_queued ||
          s.callbacks_invoked < prev.callbacks_invoked || s.grace_periods < prev.grace_periods)
        stats_bad.fetch_add(1);
      prev = s;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop.store(true);
  for (auto& t : threads) t.join();
  rcu::Barrier();
  const int bad_end = CheckAllRan("parent at end");
  std::printf("fork_storm: %u callbacks, %" PRId64
              " forks (from %d threads), child failures %" PRId64 ", child hangs %" PRId64
              ", order %" PRId64 ", doubles %" PRId64 ", barrier %" PRId64 ", stats %" PRId64
              ", end-missing %d%s\n",
              std::min(next_id.load(), kMaxIds), forks.load(), producers, child_fail.load(),
              child_hang.load(), order_bad.load(), doubles.load(), barrier_bad.load(),
              stats_bad.load(), bad_end, ids_exhausted.load() ? " (ids exhausted)" : "");
  const bool ok = child_fail.load() == 0 && child_hang.load() == 0 && order_bad.load() == 0 &&
                  doubles.load() == 0 && barrier_bad.load() == 0 && stats_bad.load() == 0 &&
                  bad_end == 0;
  std::printf("%s\n", ok ? "PASS" : "FAIL");
  std::fflush(stdout);
  return ok ? 0 : 1;
}
