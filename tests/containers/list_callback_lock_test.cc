// Regression tests: the RCU lists never wait for the callback backlog while
// the writers' lock is held, because the callbacks they queue run user code
// (an IntrusiveRcuList's disposer, a value's destructor) that may take that
// lock.
//
// Each scenario holds the writers' lock, removes objects in several separate
// calls with the backlog limit at its minimum (2), and has the callbacks take
// the lock. Had a removal waited for the backlog under the lock, the callback
// thread, blocked in the first callback on the same lock, could never drain
// it: a deadlock, which the watchdog below turns into a test failure with a
// message (the process exits, since a deadlocked thread cannot be joined).
// Before the fix, IntrusiveRcuList::remove_if/clear and every
// ExternallyLockedRcuList removal deadlocked here on every run.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "containers/intrusive_rcu_list.h"
#include "containers/rcu_list.h"
#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/mutex.h"
#include "rcu/read_guard.h"
#include "rcu/stats.h"

namespace {

// Removals per scenario: enough to pass the minimum backlog limit (2) by
// more than one thread's retire block could explain.
constexpr int kRemovals = 8;

// Sets the backlog limit for one test and restores it.
class BacklogLimit {
 public:
  explicit BacklogLimit(std::size_t limit) : saved_(rcu::CallbackBacklogLimit()) {
    rcu::Barrier();  // start from an empty backlog
    rcu::SetCallbackBacklogLimit(limit);
  }
  ~BacklogLimit() { rcu::SetCallbackBacklogLimit(saved_); }

 private:
  std::size_t saved_;
};

// Runs `scenario` on its own thread and fails the test, ending the process
// with a diagnosis, if it has not finished after `bound` (a generous bound:
// it takes milliseconds when it works). Not a synchronization: only a
// detector for the deadlock this file is about.
void RunOrReportDeadlock(const char* what, std::function<void()> scenario,
                         std::chrono::seconds bound = std::chrono::seconds(30)) {
  std::mutex mu;
  std::condition_variable done_cv;
  bool done = false;
  const rcu::Stats before = rcu::GetStats();
  std::thread worker([&] {
    scenario();
    std::lock_guard<std::mutex> lock(mu);
    done = true;
    done_cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu);
  if (!done_cv.wait_for(lock, bound, [&] { return done; })) {
    const rcu::Stats now = rcu::GetStats();
    std::fprintf(stderr,
                 "FAILURE: %s: deadlock. The writer has not returned after %lld s; it "
                 "waited for the callback backlog %llu time(s) while holding the "
                 "writers' lock, and the callback thread is blocked on that lock "
                 "inside a callback (pending callbacks: %llu).\n",
                 what, static_cast<long long>(bound.count()),
                 static_cast<unsigned long long>(now.backlog_waits - before.backlog_waits),
                 static_cast<unsigned long long>(now.callbacks_queued - now.callbacks_invoked));
    std::fflush(stderr);
    std::_Exit(1);  // the deadlocked threads cannot be joined
  }
  lock.unlock();
  worker.join();
}

// --- IntrusiveRcuList: disposers that re-link, taking the writers' lock. ----

struct Item {
  explicit Item(int i) : id(i) {}
  int id;
  rcu::IntrusiveListHook hook;
};
using ItemList = rcu::IntrusiveRcuList<Item, &Item::hook>;

// A list whose disposer puts every removed item back at the end, under the
// writers' lock, as the header allows.
struct Recycler {
  rcu::Mutex mu;
  ItemList list;
  std::vector<std::unique_ptr<Item>> items;
  int relinked ABSL_GUARDED_BY(mu) = 0;

  explicit Recycler(int n) {
    rcu::MutexLock lock(mu);
    for (int i = 0; i < n; ++i) {
      items.push_back(std::make_unique<Item>(i));
      list.push_back(mu, *items.back());
    }
  }
  ~Recycler() {
    rcu::Barrier();  // every recycling disposer has run
    {
      rcu::MutexLock lock(mu);
      list.clear(mu, [](Item*) {});
    }
    rcu::Barrier();  // the items outlive their disposal
  }
  auto Disposer() {
    return [this](Item* item) {
      rcu::MutexLock lock(mu);  // the callback thread takes the writers' lock
      list.push_back(mu, *item);
      ++relinked;
    };
  }
  int Relinked() {
    rcu::MutexLock lock(mu);
    return relinked;
  }
};

TEST(ListCallbackLockTest, IntrusiveRemoveIfDoesNotWaitUnderTheLock) {
  BacklogLimit limit(2);
  Recycler r(kRemovals);
  RunOrReportDeadlock("IntrusiveRcuList::remove_if", [&] {
    rcu::MutexLock lock(r.mu);
    for (int i = 0; i < kRemovals; ++i) {
      EXPECT_EQ(r.list.remove_if(
                    r.mu, [i](const Item& item) { return item.id == i; }, r.Disposer()),
                1u);
    }
  });
  rcu::Barrier();
  EXPECT_EQ(r.Relinked(), kRemovals);
  rcu::MutexLock lock(r.mu);
  EXPECT_EQ(r.list.size(), static_cast<std::size_t>(kRemovals));
}

TEST(ListCallbackLockTest, IntrusiveClearDoesNotWaitUnderTheLock) {
  BacklogLimit limit(2);
  Recycler r(1);
  RunOrReportDeadlock("IntrusiveRcuList::clear", [&] {
    rcu::MutexLock lock(r.mu);
    for (int i = 0; i < kRemovals; ++i) {
      // One item each time: the first disposal must wait for the lock.
      if (r.list.empty()) {
        Item* spare = new Item(100 + i);
        r.items.emplace_back(spare);
        r.list.push_back(r.mu, *spare);
      }
      EXPECT_GE(r.list.clear(r.mu, r.Disposer()), 1u);
    }
  });
  rcu::Barrier();
  EXPECT_EQ(r.Relinked(), kRemovals);
}

// --- ExternallyLockedRcuList: destructors that take the writers' lock. ------

// A value whose destructor takes a lock of the user's: here the very lock
// that serializes the list's writers (say, to update a registry it guards).
struct Registered {
  Registered(rcu::Mutex* mu, int* destroyed) : mu(mu), destroyed(destroyed) {}
  Registered(Registered&& other) noexcept
      : mu(std::exchange(other.mu, nullptr)), destroyed(other.destroyed) {}
  ~Registered() {
    if (mu == nullptr) return;
    rcu::MutexLock lock(*mu);
    ++*destroyed;
  }
  rcu::Mutex* mu;
  int* destroyed;
};

struct Registry {
  rcu::Mutex mu;
  rcu::ExternallyLockedRcuList<Registered> list;
  int destroyed ABSL_GUARDED_BY(mu) = 0;

  int Destroyed() {
    rcu::MutexLock lock(mu);
    return destroyed;
  }
};

TEST(ListCallbackLockTest, ExternallyLockedRemovalsDoNotWaitUnderTheLock) {
  BacklogLimit limit(2);
  Registry r;
  RunOrReportDeadlock("ExternallyLockedRcuList removals", [&] {
    rcu::MutexLock lock(r.mu);
    for (int i = 0; i < kRemovals; ++i) {
      // Each kind of removal in turn, one retire each.
      r.list.emplace_back(r.mu, &r.mu, &r.destroyed);
      r.list.emplace_back(r.mu, &r.mu, &r.destroyed);
      auto first = r.list.Protected(r.mu).begin();
      switch (i % 4) {
        case 0:
          EXPECT_TRUE(r.list.erase(r.mu, first));
          break;
        case 1:
          EXPECT_TRUE(r.list.emplace_replace(r.mu, first, &r.mu, &r.destroyed));
          break;
        case 2:
          EXPECT_GE(r.list.remove_if(r.mu, [](const Registered&) { return true; }), 1u);
          break;
        default:
          EXPECT_GE(r.list.clear(r.mu), 1u);
          break;
      }
    }
  });
  rcu::Barrier();
  const std::size_t left = [&] {
    rcu::MutexLock lock(r.mu);
    return r.list.size();
  }();
  EXPECT_EQ(static_cast<std::size_t>(r.Destroyed()) + left, 2u * kRemovals + kRemovals / 4);
  {
    rcu::MutexLock lock(r.mu);
    r.list.clear(r.mu);
  }
  rcu::Barrier();  // the destructors use r.mu
}

// --- RcuList: destructors that call the same list's writers. -----------------

// An RcuList retires after releasing its lock, so a value's destructor may
// even write to the same list (taking its lock) while another thread removes
// under that lock. A guard against the pattern coming back.
struct Boomerang {
  Boomerang(rcu::RcuList<Boomerang>* list, int generation) : list(list), generation(generation) {}
  Boomerang(Boomerang&& other) noexcept
      : list(std::exchange(other.list, nullptr)), generation(other.generation) {}
  ~Boomerang() {
    if (list != nullptr && generation > 0) list->emplace_back(nullptr, generation - 1);
  }
  rcu::RcuList<Boomerang>* list;
  int generation;
};

TEST(ListCallbackLockTest, RcuListRemovalsDoNotWaitUnderItsLock) {
  BacklogLimit limit(2);
  auto list = std::make_unique<rcu::RcuList<Boomerang>>();
  RunOrReportDeadlock("RcuList removals", [&] {
    for (int i = 0; i < kRemovals; ++i) {
      list->emplace_back(list.get(), 1);
      // Removes only what this loop added; the destructors' elements stay.
      EXPECT_EQ(list->remove_if([](const Boomerang& b) { return b.generation == 1; }), 1u);
    }
  });
  rcu::Barrier();
  EXPECT_EQ(list->size(), static_cast<std::size_t>(kRemovals));  // one boomerang each
  list.reset();
  rcu::Barrier();
}

}  // namespace
