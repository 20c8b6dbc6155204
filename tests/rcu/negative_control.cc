// The scenario behind the ThreadSanitizer negative control.
//
// A reader dereferences an object under a ReadGuard; a writer unpublishes it,
// waits for a grace period (Synchronize() or Retire()) and frees it. Built
// against the real core this is correct, and TSan must stay quiet (the
// annotations in rcu/internal/sanitizer.h supply the happens-before edge).
// Built against //rcu:rcu_without_grace_periods_for_testing, the free no longer
// waits for the reader, and TSan must report it: that proves the annotations
// do not hide real bugs. The reader and writer coordinate with relaxed atomics
// only, which give TSan no happens-before edge of their own.
//
// After the writer has unpublished the object, the reader stays in its section
// until the writer says it has reclaimed the object, and then reads it once
// more: with grace periods skipped that read is a use after free, every time.
// With real grace periods the writer cannot reclaim while the reader is inside,
// so the reader stops waiting after a second and leaves; nothing depends on
// how long that takes.
//
// Usage: negative_control synchronize|retire
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "rcu/rcu.h"

namespace {

struct Payload {
  int values[16];
};

int Run(bool use_retire) {
  rcu::Mutex mu;
  rcu::RcuPtr<Payload> ptr;
  auto* payload = new Payload;
  for (int& v : payload->values) v = 1;
  ptr.Assign(payload);

  std::atomic<int> stage{0};
  std::atomic<long> sum{0};
  std::thread reader([&] {
    rcu::ReadGuard guard;
    const Payload* p = ptr.Dereference(guard);
    long local = p->values[0];
    stage.store(1, std::memory_order_relaxed);
    while (stage.load(std::memory_order_relaxed) < 2) std::this_thread::yield();
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (stage.load(std::memory_order_relaxed) < 3 &&
           std::chrono::steady_clock::now() < give_up) {
      std::this_thread::yield();
    }
    for (int v : p->values) local += v;
    sum.store(local, std::memory_order_relaxed);
  });
  while (stage.load(std::memory_order_relaxed) < 1) std::this_thread::yield();
  Payload* old;
  {
    rcu::MutexLock lock(mu);
    old = ptr.Exchange(nullptr, mu);
  }
  stage.store(2, std::memory_order_relaxed);
  if (use_retire) {
    rcu::Retire(old);
    stage.store(3, std::memory_order_relaxed);  // possibly before reclamation
    rcu::Barrier();
  } else {
    rcu::Synchronize();
    delete old;
    stage.store(3, std::memory_order_relaxed);
  }
  reader.join();
  std::printf("negative_control: %s scenario finished, reader sum %ld\n",
              use_retire ? "retire" : "synchronize", sum.load());
  return sum.load() == 17 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 ||
      (std::strcmp(argv[1], "synchronize") != 0 && std::strcmp(argv[1], "retire") != 0)) {
    std::fprintf(stderr, "usage: %s synchronize|retire\n", argv[0]);
    return 2;
  }
  return Run(std::strcmp(argv[1], "retire") == 0);
}
