// Backpressure's promises (call_rcu.h, "Backpressure" and "Locks and
// backpressure"). One mode per process (argv[1]).
//
//   in_section    stall warnings off, backlog limit 500, a worker held up by
//                 a slow callback for 2 s: a thread INSIDE a read-side
//                 section retires 50,000 objects. A thread inside a section
//                 cannot wait there: the 50,000 calls must finish while the
//                 worker is still held up (the thread pays when it leaves
//                 the section, after the worker is released).
//   in_callback   the same from inside a callback ("and the worker itself").
//   reader_lock   a writer holds lock L and retires a storm past the limit;
//                 a reader, inside its section, waits for L. Stall timeout
//                 500 ms: backpressure must stop waiting (the writer
//                 finishes and unlocks) within a few seconds.
//   starve        two threads retire a storm inside read-side sections; a
//                 third retires one object per ms outside sections: its
//                 worst Retire() latency (information; FAIL if over 1 s).
//   nested_guard  like in_section, with the retiring done two guards deep
//                 and from a thread whose first RCU use is that Retire().
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
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

std::atomic<bool> release_slow{false};

// Holds the worker up (not past any stall timeout: warnings are off).
void HoldWorker() {
  std::atomic<bool> started{false};
  rcu::CallRcu([&started] {
    started.store(true);
    while (!release_slow.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  while (!started.load()) std::this_thread::yield();
}

// Runs `fn` in a thread; true if it finished within `seconds`.
template <typename F>
bool FinishesWithin(int seconds, F fn) {
  std::atomic<bool> done{false};
  std::thread t([&] {
    fn();
    done.store(true);
  });
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!done.load() && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const bool ok = done.load();
  if (!ok) {
    std::printf("  did not finish within %d s; stacks:\n", seconds);
    std::fflush(stdout);
    review::DumpStacks(getpid());
  }
  release_slow.store(true);
  t.join();
  return ok;
}

int InSection(bool nested) {
  rcu::SetStallTimeout(absl::InfiniteDuration());
  rcu::SetCallbackBacklogLimit(500);
  HoldWorker();
  std::atomic<bool> inside_done{false};
  std::thread releaser([] {
    std::this_thread::sleep_for(std::chrono::seconds(2));  // the held-up time
    release_slow.store(true);
  });
  const bool ok = FinishesWithin(20,
                                 [nested, &inside_done] {
                                   if (nested) {
                                     rcu::ReadGuard outer;
                                     rcu::ReadGuard inner;
                                     for (int i = 0; i < 50000; ++i) rcu::Retire(new int(i));
                                     inside_done.store(!release_slow.load());
                                   } else {
                                     { rcu::ReadGuard warm; }
                                     rcu::ReadGuard g;
                                     for (int i = 0; i < 50000; ++i) {
                                       if (i % 2)
                                         rcu::Retire(new int(i));
                                       else
                                         rcu::CallRcu([] {});
                                     }
                                     inside_done.store(!release_slow.load());
                                   }
                                 }) &&
                  inside_done.load();
  releaser.join();
  std::printf("%s: 50,000 retirements inside a read-side section with the worker held up: %s\n",
              nested ? "nested_guard" : "in_section", ok ? "finished" : "BLOCKED");
  rcu::Barrier();
  return Verdict(ok);
}

int InCallback() {
  rcu::SetStallTimeout(absl::InfiniteDuration());
  rcu::SetCallbackBacklogLimit(500);
  std::atomic<bool> done{false};
  for (int i = 0; i < 2000; ++i) rcu::CallRcu([] {});
  rcu::CallRcu([&done] {
    for (int i = 0; i < 50000; ++i) {
      if (i % 2)
        rcu::Retire(new int(i));
      else
        rcu::CallRcu([] {});
    }
    done.store(true);
  });
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done.load() && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::printf("in_callback: 50,000 retirements from a callback: %s\n",
              done.load() ? "finished" : "BLOCKED");
  if (!done.load()) {
    review::DumpStacks(getpid());
    return Verdict(false);
  }
  rcu::Barrier();
  return Verdict(true);
}

int ReaderLock() {
  rcu::SetStallTimeout(absl::Milliseconds(500));
  rcu::SetStallHandler([](const rcu::StallReport&) {});
  rcu::SetCallbackBacklogLimit(1000);
  std::mutex lock_l;
  std::atomic<bool> writer_holds{false};
  std::thread reader;
  const auto start = std::chrono::steady_clock::now();
  const bool ok = FinishesWithin(20, [&] {
    std::lock_guard<std::mutex> hold(lock_l);
    writer_holds.store(true);
    reader = std::thread([&] {
      rcu::ReadGuard g;
      std::lock_guard<std::mutex> wait_for_writer(lock_l);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (int i = 0; i < 20000; ++i) rcu::Retire(new int(i));
  });
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  reader.join();
  std::printf(
      "reader_lock: writer holding the reader's lock retired 20,000 past a limit of "
      "1000: %s in %.2f s (backlog waits %" PRIu64 ")\n",
      ok ? "finished" : "DEADLOCKED", took, rcu::GetStats().backlog_waits);
  rcu::Barrier();
  return Verdict(ok);
}

// Two threads retire a storm inside read-side sections (never made to wait)
// for 6 s; a third retires one object every millisecond outside sections.
// How long does the third thread's Retire() take at worst? (It waits for
// the backlog to fall to half the limit, which the storm may never allow.)
int Starve() {
  rcu::SetCallbackBacklogLimit(100000);
  std::atomic<bool> stop{false}, plain_stop{false};
  std::vector<std::thread> storm;
  for (int t = 0; t < 2; ++t)
    storm.emplace_back([&] {
      while (!stop.load()) {
        rcu::ReadGuard g;
        rcu::Retire(new int(1));
      }
    });
  using Clock = std::chrono::steady_clock;
  std::atomic<double> worst{0};
  std::atomic<long> calls{0};
  std::atomic<Clock::rep> call_started{0};  // 0: not inside Retire()
  std::thread plain([&] {
    while (!plain_stop.load()) {
      const auto t0 = Clock::now();
      call_started.store(t0.time_since_epoch().count());
      rcu::Retire(new int(2));
      call_started.store(0);
      const double took = std::chrono::duration<double>(Clock::now() - t0).count();
      if (took > worst.load()) worst.store(took);
      calls.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  std::this_thread::sleep_for(std::chrono::seconds(6));
  plain_stop.store(true);
  const Clock::rep started = call_started.load();
  const double stuck_for = started == 0
                               ? 0.0
                               : std::chrono::duration<double>(Clock::now().time_since_epoch() -
                                                               Clock::duration(started))
                                     .count();
  const rcu::Stats s = rcu::GetStats();
  std::printf(
      "starve: in 6 s, %ld Retire() calls outside sections during an in-section storm; "
      "worst completed call %.3f s; a call still blocked after %.3f s; backlog %llu "
      "(limit 100000)\n",
      calls.load(), worst.load(), stuck_for,
      (unsigned long long)(s.callbacks_queued - s.callbacks_invoked));
  std::fflush(stdout);
  stop.store(true);
  for (auto& t : storm) t.join();
  plain.join();
  std::_Exit(Verdict(worst.load() < 1.0 && stuck_for < 1.0));
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "in_section") return InSection(false);
  if (mode == "nested_guard") return InSection(true);
  if (mode == "in_callback") return InCallback();
  if (mode == "reader_lock") return ReaderLock();
  if (mode == "starve") return Starve();
  std::fprintf(stderr, "unknown mode\n");
  return 2;
}
