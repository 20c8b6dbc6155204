// stress/fork_torture_test.cc: fork() while every part of the RCU core is
// busy, and children that must be able to use all of it.
//
// For RCU_STRESS_SECONDS seconds (default 10) these threads run together in
// the parent:
//  - readers dereference a published object and check it, and inside their
//    read-side sections retire objects (batched and not), queue callbacks,
//    and read rcu::GetStats();
//  - a writer keeps replacing the published object, retiring the old one;
//  - fake writers call Synchronize(), Barrier(), StartPoll()/PollState()
//    and GetState()/CondSynchronize() in loops;
//  - a spawner starts short-lived threads whose first Retire() (which
//    creates their retire buffer) happens inside a read-side section, and
//    which exit at once;
//  - the forking thread forks, again and again.
// Each child checks the object it inherited, starts threads that use every
// update path (Retire with and without state, CallRcu, RcuObjBase,
// Synchronize, polling, Barrier), checks that all of it ran and that nothing
// is left pending (the parent's threads may have been between counting a
// callback and queueing it), and exits with exit(), which runs the exit-time
// drain in the child.
//
// Violations (the exit status is then 1):
//  - fork() did not return within kForkBound (a deadlock in the fork
//    hooks): the test prints every thread's stack with gdb and aborts;
//  - a child did not exit within kChildBound (its stacks are printed and it
//    is killed), died of a signal, or exited with a failure status, which
//    names the step that failed;
//  - a reader saw a reclaimed object;
//  - at the end, after Barrier(), a callback never ran;
//  - any rcu::Diagnostic report.
//
// Sanitizers: under ThreadSanitizer the children only read and exit (see
// ChildMain()): TSan follows a child that starts threads only with
// die_after_fork=0 (set below), and even then fails on thread ids that the
// child reuses. So TSan checks the parent's side of fork(): the fork hooks
// against every thread racing with them. GCC 12's AddressSanitizer
// allocator is not fork-safe: a child may inherit its allocator lock held by
// another thread and block on its first allocation, so the ASan build is
// not run.
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "rcu/internal/sanitizer.h"
#include "rcu/rcu.h"
#include "stress/stress_util.h"

namespace {

using stress::Rng;
using stress::SetThreadName;

constexpr auto kForkBound = std::chrono::seconds(60);
constexpr auto kChildBound = std::chrono::seconds(60);
constexpr std::uint64_t kLiveMagic = 0x464f524b4c495645;  // "FORKLIVE"
constexpr std::uint64_t kDeadMagic = 0xdeadbeefdeadbeef;

enum Violation {
  kChildFailed,
  kChildCrashed,
  kChildHung,
  kReclaimedUnderReader,
  kLost,
  kDiagnosticReported,
  kNumViolations,
};

constexpr const char* kViolationNames[kNumViolations] = {
    "a child exited with a failure status",
    "a child died of a signal",
    "a child did not exit in time",
    "a reader saw a reclaimed object",
    "callbacks lost",
    "rcu diagnostic reported",
};

stress::Violations<kNumViolations> violations(kViolationNames);

std::atomic<std::int64_t> queued{0};
std::atomic<std::int64_t> ran{0};

struct Object {
  explicit Object(std::uint64_t v) : value(v) {}
  ~Object() {
    magic.store(kDeadMagic, std::memory_order_relaxed);
    ran.fetch_add(1, std::memory_order_relaxed);
  }
  std::atomic<std::uint64_t> magic{kLiveMagic};
  std::uint64_t value;
};

struct Counted {
  ~Counted() { ran.fetch_add(1, std::memory_order_relaxed); }
};

struct CountedObj : rcu::RcuObjBase<CountedObj> {
  ~CountedObj() { ran.fetch_add(1, std::memory_order_relaxed); }
};

rcu::Mutex writer_mu;
rcu::RcuPtr<Object> published;

// Every update path once; each counts one in `queued` before and one in
// `ran` when it runs.
void UseEveryUpdatePath(Rng& rng) {
  queued.fetch_add(5, std::memory_order_relaxed);
  rcu::Retire(new Counted);
  rcu::Retire(new Counted, [tag = rng.Next()](Counted* c) {
    (void)tag;
    delete c;
  });
  rcu::CallRcu([] { ran.fetch_add(1, std::memory_order_relaxed); });
  rcu::Retire(new CountedObj);
  rcu::Retire(new Counted);
}

// ---------------------------------------------------------------------------
// The child.

// Exit statuses name the step that failed.
enum ChildStep {
  kChildOk = 0,
  kChildBadObject = 10,
  kChildThreadsLost = 11,
  kChildPollIncomplete = 12,
  kChildBarrierEarly = 13,
  kChildPendingLeft = 14,
};

[[noreturn]] void ChildMain() {
  {
    rcu::ReadGuard guard;
    const Object* object = published.Dereference(guard);
    if (object == nullptr || object->magic.load() != kLiveMagic) std::_Exit(kChildBadObject);
  }
#if RCU_INTERNAL_TSAN
  // ThreadSanitizer cannot follow a child of a multi-threaded process that
  // starts threads (glibc hands it the dead threads' stacks, and TSan dies
  // on the reused thread ids), and every update path starts the child's
  // callback or watchdog thread. Under TSan the children only read; the
  // parent's side of fork() is what it checks.
  std::_Exit(kChildOk);
#endif
  const std::int64_t ran_before = ran.load();
  std::atomic<std::int64_t> child_queued{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([t, &child_queued] {
      Rng rng(1000 + t);
      for (int i = 0; i < 20; ++i) {
        rcu::ReadGuard guard;
        UseEveryUpdatePath(rng);
        child_queued.fetch_add(5);
      }
      rcu::Synchronize();
      const rcu::GracePeriodCookie cookie = rcu::StartPoll();
      rcu::CondSynchronize(cookie);
      if (!rcu::PollState(cookie)) std::_Exit(kChildPollIncomplete);
    });
  }
  for (std::thread& t : threads) t.join();
  {
    rcu::MutexLock lock(writer_mu);
    Object* old = published.Exchange(new Object(0), writer_mu);
    queued.fetch_add(1);
    child_queued.fetch_add(1);
    rcu::Retire(old);
  }
  rcu::Barrier();
  // Everything the child queued has run, and the parent's callbacks pending
  // at the fork ran here too (on the child's copy of the memory).
  if (ran.load() - ran_before < child_queued.load()) std::_Exit(kChildBarrierEarly);
  // Nothing else runs in the child now: after Barrier() nothing is pending,
  // even if other threads of the parent were between counting a callback
  // and queueing it when the process forked.
  const rcu::Stats stats = rcu::GetStats();
  if (stats.callbacks_queued != stats.callbacks_invoked) std::_Exit(kChildPendingLeft);
  std::exit(kChildOk);  // runs the exit-time drain in the child
}

// ---------------------------------------------------------------------------
// The parent's threads.

void Reader(const std::atomic<bool>& stop, int id) {
  SetThreadName("reader");
  Rng rng(id);
  for (std::uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
    {
      rcu::ReadGuard guard;
      const Object* object = published.Dereference(guard);
      if (object != nullptr && object->magic.load(std::memory_order_relaxed) != kLiveMagic) {
        violations.Report(kReclaimedUnderReader, "value " + std::to_string(object->value));
      }
      switch (rng.Below(4)) {
        case 0:
          UseEveryUpdatePath(rng);
          break;
        case 1:
          (void)rcu::GetStats();
          break;
        default:
          break;
      }
    }
    // Threads inside sections are never held by backpressure; this, outside
    // one, keeps the backlog (which every child inherits) bounded.
    if (i % 16 == 0) UseEveryUpdatePath(rng);
  }
}

void Writer(const std::atomic<bool>& stop) {
  SetThreadName("writer");
  std::uint64_t value = 1;
  while (!stop.load(std::memory_order_relaxed)) {
    Object* old;
    {
      rcu::MutexLock lock(writer_mu);
      old = published.Exchange(new Object(value++), writer_mu);
    }
    queued.fetch_add(1, std::memory_order_relaxed);
    if (value % 2 == 0) {
      rcu::Retire(old);
    } else {
      rcu::Synchronize();
      delete old;
    }
  }
}

void FakeWriter(const std::atomic<bool>& stop, int id) {
  SetThreadName("fake-writer");
  Rng rng(100 + id);
  while (!stop.load(std::memory_order_relaxed)) {
    switch (rng.Below(4)) {
      case 0:
        rcu::Synchronize();
        break;
      case 1:
        rcu::Barrier();
        break;
      case 2: {
        const rcu::GracePeriodCookie cookie = rcu::StartPoll();
        while (!rcu::PollState(cookie) && !stop.load(std::memory_order_relaxed)) {
          std::this_thread::yield();
        }
        break;
      }
      default:
        rcu::CondSynchronize(rcu::GetState());
        break;
    }
  }
}

std::atomic<std::uint64_t> threads_spawned{0};

void Spawner(const std::atomic<bool>& stop) {
  SetThreadName("spawner");
  while (!stop.load(std::memory_order_relaxed)) {
    std::thread([] {
      rcu::ReadGuard guard;
      queued.fetch_add(1, std::memory_order_relaxed);
      rcu::Retire(new Counted);  // the thread's first: creates its buffer
    }).join();
    threads_spawned.fetch_add(1, std::memory_order_relaxed);
  }
}

// Prints every thread's stack of process `pid` with gdb, if it is installed.
void DumpStacks(pid_t pid) {
  const std::string command = "command -v gdb >/dev/null && gdb -p " + std::to_string(pid) +
                              " -batch -nx -ex 'thread apply all bt' 1>&2";
  if (std::system(command.c_str()) != 0) std::fprintf(stderr, "(no gdb stacks)\n");
}

// Aborts the process, with stacks, if a fork() does not return in time.
class ForkWatch {
 public:
  ForkWatch()
      : thread_([this] {
          std::unique_lock<std::mutex> lock(mu_);
          while (!done_) {
            if (forking_ && std::chrono::steady_clock::now() - since_ > kForkBound) {
              std::fprintf(stderr, "HANG: fork() has not returned for %lld s; stacks follow\n",
                           static_cast<long long>(kForkBound.count()));
              DumpStacks(getpid());
              std::abort();
            }
            cv_.wait_for(lock, std::chrono::seconds(1));
          }
        }) {}
  ~ForkWatch() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Forking(bool forking) {
    std::lock_guard<std::mutex> lock(mu_);
    forking_ = forking;
    since_ = std::chrono::steady_clock::now();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;                            // guarded by mu_
  bool forking_ = false;                         // guarded by mu_
  std::chrono::steady_clock::time_point since_;  // guarded by mu_
  std::thread thread_;
};

// Waits for child `pid` for up to kChildBound; returns false if it hung (it
// is then killed, after its stacks are printed).
bool WaitForChild(pid_t pid, int& status) {
  const auto deadline = std::chrono::steady_clock::now() + kChildBound;
  while (true) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) return true;
    if (std::chrono::steady_clock::now() > deadline) {
      DumpStacks(pid);
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // polling a child
  }
}

}  // namespace

// ThreadSanitizer refuses to start threads in the child of a multi-threaded
// fork unless told otherwise; the rest of TSAN_OPTIONS still applies.
extern "C" const char* __tsan_default_options() { return "die_after_fork=0"; }

int main() {
  const double seconds = stress::StressSeconds();
  rcu::SetDiagnosticHandler(
      [](const rcu::Diagnostic& d) { violations.Report(kDiagnosticReported, d.message); });
  {
    rcu::MutexLock lock(writer_mu);
    published.Exchange(new Object(0), writer_mu);
  }
  std::printf(
      "fork torture: 2 readers retiring inside sections, a writer, 2 fake writers, a "
      "thread spawner, and a forking thread, %.0f s\n",
      seconds);
  std::fflush(stdout);

  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) threads.emplace_back(Reader, std::cref(stop), i);
  threads.emplace_back(Writer, std::cref(stop));
  for (int i = 0; i < 2; ++i) threads.emplace_back(FakeWriter, std::cref(stop), i);
  threads.emplace_back(Spawner, std::cref(stop));

  std::uint64_t forks = 0, children_ok = 0;
  {
    ForkWatch watch;
    const auto end =
        std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::nanoseconds>(
                                               std::chrono::duration<double>(seconds));
    stress::Progress progress(seconds, nullptr, [] { return violations.Total(); });
    while (std::chrono::steady_clock::now() < end) {
      progress.Tick();
      std::fflush(nullptr);
      watch.Forking(true);
      pid_t pid;
      {
        // The writer's own lock is held across fork(), as any lock a child
        // will take must be: otherwise the child may inherit it held by
        // the writer thread, which does not exist there.
        rcu::MutexLock lock(writer_mu);
        pid = fork();
      }
      if (pid == 0) ChildMain();
      watch.Forking(false);
      if (pid < 0) {
        std::perror("fork");
        return 2;
      }
      ++forks;
      int status = 0;
      if (!WaitForChild(pid, status)) {
        violations.Report(kChildHung, "child " + std::to_string(forks));
      } else if (WIFSIGNALED(status)) {
        violations.Report(kChildCrashed, "child " + std::to_string(forks) + ": signal " +
                                             std::to_string(WTERMSIG(status)));
      } else if (WEXITSTATUS(status) != kChildOk) {
        violations.Report(kChildFailed, "child " + std::to_string(forks) + ": status " +
                                            std::to_string(WEXITSTATUS(status)));
      } else {
        ++children_ok;
      }
    }
  }
  stop.store(true);
  for (std::thread& t : threads) t.join();
  {
    rcu::MutexLock lock(writer_mu);
    Object* last = published.Exchange(nullptr, writer_mu);
    queued.fetch_add(1);
    rcu::Retire(last);
  }
  rcu::Barrier();
  if (ran.load() != queued.load()) {
    violations.Report(
        kLost, "queued " + std::to_string(queued.load()) + ", ran " + std::to_string(ran.load()));
  }
  const rcu::Stats stats = rcu::GetStats();
  std::printf("%" PRIu64 " forks, %" PRIu64 " children passed every check; %" PRId64
              " callbacks ran in the parent; %" PRIu64 " short-lived threads; %" PRIu64
              " grace periods\n",
              forks, children_ok, ran.load(), threads_spawned.load(), stats.grace_periods);
  return violations.Verdict();
}
