// Publishes a few versions of a value while a reader thread reads it.
#include <atomic>
#include <cstdio>
#include <memory>
#include <thread>

#include "rcu/rcu.h"

struct Greeting {
  int version;
  const char* text;
};

int main() {
  rcu::Mutex mu;
  rcu::OwnedRcuPtr<Greeting> greeting(std::make_unique<Greeting>(Greeting{0, "hello"}));
  std::atomic<bool> done{false};
  std::atomic<long> reads{0};
  int last_seen = -1;
  std::thread reader([&] {
    while (!done.load()) {
      rcu::ReadGuard guard;
      last_seen = greeting.Dereference(guard)->version;
      reads.fetch_add(1);
    }
  });
  for (int v = 1; v <= 100; ++v) {
    rcu::MutexLock lock(mu);
    greeting.Replace(std::make_unique<Greeting>(Greeting{v, "hello again"}), mu);
  }
  done.store(true);
  reader.join();
  rcu::Barrier();
  const rcu::Stats stats = rcu::GetStats();
  std::printf(
      "consumer: published 100 versions; reader made %ld reads, last saw version %d; "
      "%llu old versions reclaimed\n",
      reads.load(), last_seen, static_cast<unsigned long long>(stats.callbacks_invoked));
  return stats.callbacks_invoked == 100 ? 0 : 1;
}
