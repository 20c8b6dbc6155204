// Targeted fork() cases. One mode per process (argv[1]); each child reports
// through its exit status.
//
//   poll_child     the parent calls StartPoll() and forks at once; the child
//                  makes no other RCU call and polls PollState() for up to
//                  10 s. grace_period.h: StartPoll() "makes sure such a grace
//                  period starts, even if no other thread ever waits for
//                  one", and the child runs "its own copy of the callbacks
//                  pending at the fork".
//   stall_child    the watchdog is running in the parent; the child holds a
//                  reader for 1.5 s (timeout 300 ms) while a grace period
//                  waits: the child must get a stall report naming its own
//                  thread id.
//   slow_batch     fork while the worker runs a batch whose callbacks each
//                  take 20 ms; every callback must run exactly once in each
//                  process (the child's copy of the memory shows what ran
//                  before the fork).
//   barrier_child  fork while another thread is blocked in Barrier() behind a
//                  slow callback, and a third is blocked in backpressure; in
//                  the child, Barrier() and Retire storms work.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "rcu/rcu.h"
#include "tests/attacks/util.h"

namespace {

int Verdict(bool ok) {
  std::printf("%s\n", ok ? "PASS" : "FAIL");
  std::fflush(stdout);
  return ok ? 0 : 1;
}

int ForkAndWait(int (*child)(), int seconds, const char* what) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) std::_Exit(child());
  const int status = review::WaitChild(pid, seconds);
  std::printf("%s: child %s\n", what, review::DescribeStatus(status).c_str());
  return status;
}

rcu::GracePeriodCookie cookie;

int PollChild() {
  // POLL_CHILD_KICK=1: queue one callback in the child first (which starts
  // its callback worker); =2: call Synchronize() first.
  const int kick = review::EnvInt("POLL_CHILD_KICK", 0);
  if (kick == 1) rcu::CallRcu([] {});
  if (kick == 2) rcu::Synchronize();
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < end) {
    if (rcu::PollState(cookie)) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 1;
}

std::mutex mu;
std::vector<rcu::StallReport> reports;

int StallChild() {
  std::atomic<pid_t> tid{0};
  std::atomic<bool> in{false}, release{false};
  std::thread reader([&] {
    rcu::ReadGuard g;
    tid.store(review::Gettid());
    in.store(true);
    while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  });
  while (!in.load()) std::this_thread::yield();
  std::thread writer([] { rcu::Synchronize(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  release.store(true);
  reader.join();
  writer.join();
  std::lock_guard<std::mutex> lock(mu);
  for (auto& r : reports)
    if (r.kind == rcu::StallReport::Kind::kReader && r.thread_id == tid.load()) return 0;
  std::printf("  child: %zu reports, none for its reader %d\n", reports.size(), (int)tid.load());
  return 1;
}

constexpr int kSlow = 30;
std::atomic<int> slow_ran[kSlow];

int SlowChild() {
  rcu::Barrier();
  for (int i = 0; i < kSlow; ++i)
    if (slow_ran[i].load() != 1) {
      std::printf("  child: slow callback %d ran %d times\n", i, slow_ran[i].load());
      return 1;
    }
  return 0;
}

std::atomic<bool> release_worker{false};

int BarrierChild() {
  rcu::SetCallbackBacklogLimit(200);
  for (int i = 0; i < 5000; ++i) rcu::Retire(new int(i));
  std::atomic<int> n{0};
  for (int i = 0; i < 100; ++i) rcu::CallRcu([&n] { n.fetch_add(1); });
  rcu::Barrier();
  return n.load() == 100 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "poll_child") {
    rcu::Synchronize();
    cookie = rcu::StartPoll();
    const int status = ForkAndWait(&PollChild, 30, "poll_child");
    const bool parent_ok = [] {
      for (int i = 0; i < 1000; ++i) {
        if (rcu::PollState(cookie)) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      return false;
    }();
    std::printf("poll_child: parent's cookie completed: %s; the child's: %s\n",
                parent_ok ? "yes" : "no", status == 0 ? "yes" : "NO (within 10 s)");
    return Verdict(parent_ok && status == 0);
  }
  if (mode == "stall_child") {
    rcu::SetStallTimeout(absl::Milliseconds(300));
    rcu::SetStallHandler([](const rcu::StallReport& r) {
      std::lock_guard<std::mutex> lock(mu);
      reports.push_back(r);
    });
    {
      // Get the watchdog going in the parent: one short stall.
      std::atomic<bool> in{false}, release{false};
      std::thread reader([&] {
        rcu::ReadGuard g;
        in.store(true);
        while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      });
      while (!in.load()) std::this_thread::yield();
      std::thread writer([] { rcu::Synchronize(); });
      std::this_thread::sleep_for(std::chrono::milliseconds(600));
      release.store(true);
      reader.join();
      writer.join();
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      std::printf("stall_child: parent got %zu reports before the fork\n", reports.size());
      reports.clear();
    }
    const int status = ForkAndWait(&StallChild, 30, "stall_child");
    return Verdict(status == 0);
  }
  if (mode == "slow_batch") {
    int bad = 0;
    for (int round = 0; round < 10; ++round) {
      for (auto& r : slow_ran) r.store(0);
      for (int i = 0; i < kSlow; ++i)
        rcu::CallRcu([i] {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          slow_ran[i].fetch_add(1);
        });
      std::this_thread::sleep_for(std::chrono::milliseconds(30 + round * 40));
      const int status = ForkAndWait(&SlowChild, 30, "slow_batch");
      if (status != 0) ++bad;
      rcu::Barrier();
      for (int i = 0; i < kSlow; ++i)
        if (slow_ran[i].load() != 1) ++bad;
    }
    return Verdict(bad == 0);
  }
  if (mode == "barrier_child") {
    rcu::SetCallbackBacklogLimit(200);
    rcu::SetStallTimeout(absl::InfiniteDuration());
    std::atomic<bool> started{false};
    rcu::CallRcu([&started] {
      started.store(true);
      while (!release_worker.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    while (!started.load()) std::this_thread::yield();
    std::thread barrier([] { rcu::Barrier(); });
    std::thread storm([] {
      for (int i = 0; i < 2000; ++i) rcu::Retire(new int(i));
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    // fork() waits for the batch in progress: release it a little later.
    std::thread releaser([] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      release_worker.store(true);
    });
    const int status = ForkAndWait(&BarrierChild, 30, "barrier_child");
    releaser.join();
    barrier.join();
    storm.join();
    return Verdict(status == 0);
  }
  std::fprintf(stderr, "unknown mode\n");
  return 2;
}
