// rcu::Domain: independence, sleepable and cross-thread sections, the update
// side per domain, misuse diagnostics.
#include "rcu/domain.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/diagnostics.h"
#include "rcu/grace_period.h"
#include "rcu/mutex.h"
#include "rcu/read_guard.h"
#include "rcu/rcu_ptr.h"
#include "rcu/stall.h"
#include "tests/util/notification.h"
#include "tests/util/test_util.h"

namespace {

using rcu_test::Notification;

// A thread that holds a section of `domain` (a guard) until released.
class DomainReader {
 public:
  explicit DomainReader(rcu::Domain& domain)
      : thread_([this, &domain] {
          rcu::Domain::ReadGuard guard(domain);
          inside_.Notify();
          release_.WaitForNotification();  // a sleeping reader: blocks, not spins
        }) {
    inside_.WaitForNotification();
  }
  ~DomainReader() { Join(); }
  void Join() {
    if (!release_.HasBeenNotified()) release_.Notify();
    if (thread_.joinable()) thread_.join();
  }

 private:
  Notification inside_;
  Notification release_;
  std::thread thread_;
};

double MillisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

TEST(DomainTest, GuardAndSynchronize) {
  rcu::Domain domain;
  {
    rcu::Domain::ReadGuard guard(domain);
    EXPECT_TRUE(domain.InReadSection());
    EXPECT_FALSE(rcu::InReadSection());  // not the default domain's
    rcu::Domain::ReadGuard nested(domain);
    EXPECT_TRUE(domain.InReadSection());
  }
  EXPECT_FALSE(domain.InReadSection());
  domain.Synchronize();
  domain.SynchronizeExpedited();
}

// The independence test: a reader blocks in A for two seconds;
// meanwhile grace periods of the default domain and of B complete, and A's
// Synchronize() waits for that reader.
TEST(DomainTest, BlockedReaderHoldsUpOnlyItsOwnDomain) {
  rcu::Domain a(rcu::Domain::Options{"A"});
  rcu::Domain b(rcu::Domain::Options{"B"});
  DomainReader reader(a);

  std::atomic<bool> a_synchronized{false};
  std::thread a_writer([&] {
    a.Synchronize();
    a_synchronized.store(true);
  });

  const auto start = std::chrono::steady_clock::now();
  int default_gps = 0;
  int b_gps = 0;
  double slowest_ms = 0;
  // For two seconds, keep completing grace periods of the others. If any
  // waited for A's reader, it would never return (the reader is only
  // released after the loop): the test would hang, not pass.
  while (MillisecondsSince(start) < 2000) {
    auto t = std::chrono::steady_clock::now();
    rcu::Synchronize();
    ++default_gps;
    b.Synchronize();
    ++b_gps;
    b.SynchronizeExpedited();
    ++b_gps;
    slowest_ms = std::max(slowest_ms, MillisecondsSince(t));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // pacing only
  }
  EXPECT_FALSE(a_synchronized.load()) << "A's grace period did not wait for A's reader";
  std::printf(
      "while A's reader slept 2 s: %d default and %d B grace periods completed; "
      "slowest round %.3f ms\n",
      default_gps, b_gps, slowest_ms);
  reader.Join();
  a_writer.join();
  EXPECT_TRUE(a_synchronized.load());
}

TEST(DomainTest, DefaultReaderDoesNotHoldUpDomain) {
  rcu::Domain domain;
  rcu_test::ParkedReader reader;  // inside a default-domain section
  domain.Synchronize();
  domain.SynchronizeExpedited();
  domain.Barrier();
  bool ran = false;
  domain.CallRcu([&ran] { ran = true; });
  domain.Barrier();
  EXPECT_TRUE(ran);
}

// A token begun on one thread and ended on another holds the grace period
// until it ends.
TEST(DomainTest, TokenEndedOnAnotherThread) {
  rcu::Domain domain;
  rcu::Domain::ReadToken token = domain.BeginRead();
  ASSERT_TRUE(token.active());
  std::atomic<bool> synchronized{false};
  std::thread writer([&] {
    domain.Synchronize();
    synchronized.store(true);
  });
  Notification handed_over;
  Notification end_it;
  std::thread other([&, t = std::move(token)]() mutable {
    handed_over.Notify();
    end_it.WaitForNotification();
    t.End();
    EXPECT_FALSE(t.active());
  });
  handed_over.WaitForNotification();
  EXPECT_FALSE(token.active());  // moved from
  // The writer is still waiting: the section is open on `other`'s token.
  // Its grace period cannot have ended; let it try for a while.
  for (int i = 0; i < 50; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ASSERT_FALSE(synchronized.load()) << "grace period ended with a token still held";
  }
  end_it.Notify();
  other.join();
  writer.join();
  EXPECT_TRUE(synchronized.load());
}

TEST(DomainTest, TokenOutlivesItsThread) {
  rcu::Domain domain;
  rcu::Domain::ReadToken token;
  std::thread([&] { token = domain.BeginRead(); }).join();  // that thread is gone
  EXPECT_TRUE(token.active());
  std::atomic<bool> synchronized{false};
  std::thread writer([&] {
    domain.Synchronize();
    synchronized.store(true);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(synchronized.load());
  token = rcu::Domain::ReadToken();  // move-assigning ends the held section
  writer.join();
  EXPECT_TRUE(synchronized.load());
}

struct Node : rcu::RcuObjBase<Node> {
  explicit Node(std::atomic<int>* deleted) : deleted(deleted) {}
  ~Node() { deleted->fetch_add(1); }
  std::atomic<int>* deleted;
  int value = 42;
};

TEST(DomainTest, RetireWaitsForDomainReadersOnly) {
  rcu::Domain domain;
  std::atomic<int> deleted{0};
  int value_seen = 0;
  auto* node = new Node(&deleted);
  rcu::RcuPtr<Node> ptr(node);
  Notification got_it;
  Notification release;
  std::thread reader([&] {
    rcu::Domain::ReadGuard guard(domain);
    Node* n = ptr.Dereference(guard);
    got_it.Notify();
    release.WaitForNotification();
    value_seen = n->value;  // still valid: the retire waits for us
  });
  got_it.WaitForNotification();
  ptr.Assign(nullptr);
  domain.Retire(node);  // RcuObjBase: allocates nothing
  domain.StartPoll();   // a grace period starts; it cannot end yet
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(deleted.load(), 0);
  rcu::Synchronize();  // the default domain's grace period does not help
  rcu::Barrier();
  EXPECT_EQ(deleted.load(), 0);
  release.Notify();
  reader.join();
  domain.Barrier();
  EXPECT_EQ(deleted.load(), 1);
  EXPECT_EQ(value_seen, 42);
}

TEST(DomainTest, OwnedRcuPtrRetiresThroughItsDomain) {
  rcu::Domain domain;
  rcu::Mutex mu;
  std::atomic<int> deleted{0};
  struct Counted {
    explicit Counted(std::atomic<int>* d) : d(d) {}
    ~Counted() { d->fetch_add(1); }
    std::atomic<int>* d;
  };
  {
    rcu::OwnedRcuPtr<Counted> owned(domain, std::make_unique<Counted>(&deleted));
    rcu::Domain::ReadToken token = domain.BeginRead();
    const Counted* seen = owned.Dereference(token);
    {
      rcu::MutexLock lock(mu);
      owned.Replace(std::make_unique<Counted>(&deleted), mu);
    }
    domain.StartPoll();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(deleted.load(), 0);
    EXPECT_EQ(seen->d, &deleted);  // still intact
    token.End();
  }
  domain.Barrier();
  EXPECT_EQ(deleted.load(), 2);
}

TEST(DomainTest, CallbacksRunInOrderAndBarrierWaits) {
  rcu::Domain domain;
  std::vector<int> order;
  for (int i = 0; i < 1000; ++i) domain.CallRcu([&order, i] { order.push_back(i); });
  domain.Barrier();
  ASSERT_EQ(order.size(), 1000u);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(order[i], i);
}

TEST(DomainTest, DestructionRunsPendingCallbacksAndTheirs) {
  std::atomic<int> ran{0};
  {
    rcu::Domain domain;
    for (int i = 0; i < 100; ++i) {
      domain.CallRcu([&ran, &domain] {
        ran.fetch_add(1);
        domain.CallRcu([&ran] { ran.fetch_add(1); });  // queued by a callback
      });
    }
  }
  EXPECT_EQ(ran.load(), 200);
}

TEST(DomainTest, PollingCookies) {
  rcu::Domain domain;
  rcu::Domain::Cookie done = domain.CompletedState();
  EXPECT_TRUE(domain.PollState(done));
  EXPECT_TRUE(domain.PollState(rcu::Domain::Cookie()));
  rcu::Domain::Cookie cookie = domain.GetState();
  EXPECT_FALSE(domain.PollState(cookie));
  EXPECT_EQ(cookie, domain.GetState());  // no grace period in between
  domain.Synchronize();
  EXPECT_TRUE(domain.PollState(cookie));
  EXPECT_NE(cookie, domain.GetState());

  // StartPoll() gets a grace period going by itself.
  rcu::Domain::Cookie started = domain.StartPoll();
  EXPECT_TRUE(rcu_test::Eventually([&] { return domain.PollState(started); }));

  // A reader holds a cookie back.
  {
    DomainReader reader(domain);
    rcu::Domain::Cookie held = domain.StartPoll();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_FALSE(domain.PollState(held));
    reader.Join();
    domain.CondSynchronize(held);
    EXPECT_TRUE(domain.PollState(held));
  }
  // Wrap-around: the sequence starts near 2^64; many grace periods pass it.
  rcu::Domain::Cookie before = domain.GetState();
  for (int i = 0; i < 1100; ++i) domain.Synchronize();
  EXPECT_TRUE(domain.PollState(before));
  EXPECT_FALSE(domain.PollState(domain.GetState()));
}

TEST(DomainTest, ConcurrentCallersShareGracePeriods) {
  rcu::Domain domain;
  std::vector<std::thread> threads;
  std::atomic<int> calls{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        if ((i + t) % 2 == 0) {
          domain.Synchronize();
        } else {
          domain.SynchronizeExpedited();
        }
        calls.fetch_add(1);
      }
    });
  }
  std::vector<std::thread> readers;
  std::atomic<bool> stop{false};
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        rcu::Domain::ReadGuard guard(domain);
        std::this_thread::yield();
      }
    });
  }
  for (auto& t : threads) t.join();
  stop.store(true);
  for (auto& r : readers) r.join();
  EXPECT_EQ(calls.load(), 800);
}

TEST(DomainTest, StallReportsNameTheDomain) {
  rcu::Domain::Options options;
  options.name = "stalled-domain";
  options.stall_timeout = absl::Milliseconds(100);
  rcu::Domain domain(options);
  std::atomic<int> reports{0};
  std::string name;
  long long open = 0;
  rcu::StallHandler previous = rcu::SetStallHandler([&](const rcu::StallReport& r) {
    if (r.kind != rcu::StallReport::Kind::kDomainReaders) return;
    name = r.domain;
    open = r.open_sections;
    reports.fetch_add(1);
  });
  {
    DomainReader reader(domain);
    std::thread writer([&] { domain.Synchronize(); });
    EXPECT_TRUE(rcu_test::Eventually([&] { return reports.load() > 0; }));
    reader.Join();
    writer.join();
  }
  rcu::SetStallHandler(previous);
  EXPECT_EQ(name, "stalled-domain");
  EXPECT_EQ(open, 1);
}

TEST(DomainTest, StallTimeoutFromChrono) {
  rcu::Domain::Options options;
  EXPECT_EQ(options.set_stall_timeout(std::chrono::milliseconds(250)).stall_timeout,
            absl::Milliseconds(250));
  EXPECT_EQ(options.set_stall_timeout(std::chrono::nanoseconds::max()).stall_timeout,
            absl::InfiniteDuration());
  rcu::Domain domain(rcu::Domain::Options{"chrono"}.set_stall_timeout(std::chrono::seconds(3)));
  EXPECT_EQ(domain.name(), "chrono");
}

TEST(DomainTest, BackpressureBoundsTheBacklog) {
  rcu::Domain::Options options;
  options.callback_backlog_limit = 1000;
  rcu::Domain domain(options);
  std::atomic<long> live{0};
  long peak = 0;
  for (int i = 0; i < 20000; ++i) {
    live.fetch_add(1);
    domain.CallRcu([&live] { live.fetch_sub(1); });
    peak = std::max(peak, live.load());
  }
  domain.Barrier();
  EXPECT_EQ(live.load(), 0);
  std::printf("backlog peak %ld with limit 1000\n", peak);
  EXPECT_LE(peak, 1001);
}

TEST(DomainDeathTest, SynchronizeInsideOwnSectionIsFatal) {
  rcu::Domain domain;
  EXPECT_DEATH(
      {
        rcu::Domain::ReadGuard guard(domain);
        domain.Synchronize();
      },
      "inside a ReadGuard of the same domain");
}

TEST(DomainDeathTest, DestroyedWithOpenSectionIsFatal) {
  EXPECT_DEATH(
      {
        auto* domain = new rcu::Domain;
        rcu::Domain::ReadToken leaked = domain->BeginRead();
        delete domain;
      },
      "destroyed with 1 read-side section");
}

TEST(DomainDeathTest, CookieOfAnotherDomainIsFatal) {
  rcu::Domain a;
  rcu::Domain b;
  EXPECT_DEATH({ b.PollState(a.GetState()); }, "cookie of another domain");
}

TEST(DomainDeathTest, BarrierFromOwnCallbackIsFatal) {
  EXPECT_DEATH(
      {
        rcu::Domain domain;
        domain.CallRcu([&domain] { domain.Barrier(); });
        domain.Barrier();
      },
      "called from one of its callbacks");
}

}  // namespace
