// A thread's first ReadGuard when operator new fails inside registration, at
// the point where the library's thread list must grow.
//
// Checked (RULES: "failed allocation ... No state is corrupted"; read_guard.h
// "a thread is registered with liburcu the first time it creates a guard and
// unregistered when it exits"): if registration throws std::bad_alloc, the
// thread must not stay registered with liburcu after it exits. (Since the
// review, registering allocates nothing, so the first guard must simply
// succeed, which is what this now checks.) Here the
// thread runs on a stack we own; after it exits we unmap that stack, so a
// reader entry left in liburcu's list points at unmapped memory and the next
// Synchronize() faults on it.
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <new>
#include <thread>
#include <vector>

#include "rcu/rcu.h"
#include "tests/attacks/failing_new.h"
#include "tests/attacks/util.h"

namespace {

std::atomic<bool> release{false};

struct Attempt {
  bool threw = false;
};

void* FailingFirstGuard(void* arg) {
  auto* a = static_cast<Attempt*>(arg);
  // The first allocation (the thread's record) succeeds; every later one
  // fails: the list's growth, when it must grow.
  review::FailAllocationsAfter(1, true);
  try {
    rcu::ReadGuard g;
  } catch (const std::bad_alloc&) {
    a->threw = true;
  }
  review::FailAllocationsAfter(-1, false);
  return nullptr;
}

}  // namespace

int main() {
  { rcu::ReadGuard g; }  // the process-wide set-up, done without failures
  rcu::Synchronize();
  std::vector<std::thread> parked;
  const size_t kStack = 1 << 20;
  for (int i = 0; i < 300; ++i) {
    void* stack = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, stack, kStack);
    Attempt a;
    pthread_t t;
    pthread_create(&t, &attr, &FailingFirstGuard, &a);
    pthread_join(t, nullptr);
    pthread_attr_destroy(&attr);
    if (a.threw) {
      const rcu::Stats s = rcu::GetStats();
      std::printf(
          "registration_fail: the first guard threw std::bad_alloc with %d threads "
          "registered (stats: %llu registered, %llu unregistered)\n",
          static_cast<int>(parked.size()) + 2,
          static_cast<unsigned long long>(s.threads_registered),
          static_cast<unsigned long long>(s.threads_unregistered));
      std::fflush(stdout);
      munmap(stack, kStack);
      std::printf("registration_fail: thread exited and its stack is unmapped; Synchronize()...\n");
      std::fflush(stdout);
      rcu::Synchronize();
      std::printf("registration_fail: Synchronize() returned\n");
      // And a new thread on a fresh stack can still be waited for.
      release.store(false);
      release.store(true);
      for (auto& p : parked) p.join();
      std::printf("PASS\n");
      return 0;
    }
    munmap(stack, kStack);
    // Grow the registry by one parked registered thread.
    std::atomic<bool> in{false};
    parked.emplace_back([&in] {
      { rcu::ReadGuard g; }
      in.store(true);
      while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    });
    while (!in.load()) std::this_thread::yield();
  }
  release.store(true);
  for (auto& p : parked) p.join();
  // Registration allocates nothing now: the first guard never throws for
  // want of memory, however many threads are registered.
  std::printf("registration_fail: the first guard never threw while allocations failed\nPASS\n");
  return 0;
}
