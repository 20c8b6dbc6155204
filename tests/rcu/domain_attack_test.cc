// Adversarial tests of rcu::Domain (rcu/domain.h): the read side's
// bookkeeping under guards that end out of order, thousands of short-lived
// threads, tokens that end after their thread's exit hook; the update side
// under polling storms, expedited grace periods against readers that never
// all leave at once, backpressure while the retiring thread holds a token,
// and domains created and destroyed beside readers of other domains.
//
// A domain's destructor checks that no section of it is open (a fatal
// diagnostic otherwise), so every test that destroys its domain also checks
// that the counts of sections balance.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rcu/domain.h"
#include "rcu/mutex.h"
#include "rcu/rcu_ptr.h"
#include "rcu/stall.h"
#include "tests/util/notification.h"
#include "tests/util/test_util.h"

namespace {

using rcu_test::Notification;

// Guards are RAII, but one kept in a std::optional (or in an iterator, or
// any object that owns one) can end before a guard taken after it: hand over
// hand, from a section of one domain into a section of another. Each
// domain's InReadSection() must still be right at every step, since
// Synchronize(), Barrier() and backpressure go by it.
TEST(DomainAttackTest, GuardsEndedOutOfOrder) {
  rcu::Domain a(rcu::Domain::Options{"a"});
  rcu::Domain b(rcu::Domain::Options{"b"});
  std::optional<rcu::Domain::ReadGuard> first;
  std::optional<rcu::Domain::ReadGuard> second;
  first.emplace(a);
  second.emplace(b);
  first.reset();  // the outer guard ends first
  EXPECT_FALSE(a.InReadSection());
  EXPECT_TRUE(b.InReadSection()) << "b's guard is alive, but b says this thread is not inside it "
                                    "(its Synchronize() would wait for itself, undiagnosed)";
  second.reset();
  EXPECT_FALSE(a.InReadSection()) << "every guard has ended, but a says this thread is inside "
                                     "it (its Synchronize() would be diagnosed as fatal)";
  EXPECT_FALSE(b.InReadSection());
  // And the library's own checks agree: neither diagnoses a wait for itself.
  a.Synchronize();
  b.Synchronize();

  // Three guards of one domain and one of another, ended in creation order.
  std::optional<rcu::Domain::ReadGuard> g[4];
  g[0].emplace(a);
  g[1].emplace(b);
  g[2].emplace(a);
  g[3].emplace(b);
  g[0].reset();
  EXPECT_TRUE(a.InReadSection());
  EXPECT_TRUE(b.InReadSection());
  g[2].reset();
  EXPECT_FALSE(a.InReadSection());
  EXPECT_TRUE(b.InReadSection());
  g[1].reset();
  EXPECT_TRUE(b.InReadSection());
  g[3].reset();
  EXPECT_FALSE(a.InReadSection());
  EXPECT_FALSE(b.InReadSection());
  a.Synchronize();
  b.Synchronize();
}

// Thousands of threads, each taking sections of its own and beginning a
// token that another thread ends after it has exited. Slot indexes are
// handed back and reused; the counts must still balance (the destructor
// checks), grace periods must wait for the tokens and only for them, and
// the indexes must be reused rather than grow with the number of threads.
TEST(DomainAttackTest, ThousandsOfShortLivedThreads) {
  constexpr int kThreads = 3000;
  constexpr int kAtOnce = 4;
  rcu::Domain domain;
  rcu_test::HangGuard hang(std::chrono::seconds(120), "running short-lived threads");
  std::atomic<std::uint32_t> highest_index{0};
  std::vector<rcu::Domain::ReadToken> tokens;
  tokens.reserve(kThreads);
  std::mutex tokens_mu;
  for (int started = 0; started < kThreads; started += kAtOnce) {
    std::vector<std::thread> threads;
    for (int t = 0; t < kAtOnce; ++t) {
      threads.emplace_back([&, t] {
        {
          rcu::Domain::ReadGuard guard(domain);
          rcu::Domain::ReadGuard nested(domain);
        }
        rcu::Domain::ReadToken own = domain.BeginRead();
        own.End();
        std::uint32_t index = rcu::internal::domain_slot_index;
        std::uint32_t seen = highest_index.load();
        while (index > seen && !highest_index.compare_exchange_weak(seen, index)) {
        }
        if (t % 2 == 0) {
          rcu::Domain::ReadToken token = domain.BeginRead();
          std::lock_guard<std::mutex> lock(tokens_mu);
          tokens.push_back(std::move(token));  // outlives this thread
        }
      });
    }
    for (std::thread& t : threads) t.join();
  }
  EXPECT_LT(highest_index.load(), 64u) << "slot indexes not reused";
  ASSERT_EQ(tokens.size(), static_cast<std::size_t>(kThreads / 2));

  // The tokens hold the grace period until the last one ends.
  rcu::Domain::Cookie cookie = domain.StartPoll();
  for (std::size_t i = 0; i + 1 < tokens.size(); ++i) tokens[i].End();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a chance to end early
  EXPECT_FALSE(domain.PollState(cookie)) << "a grace period ended with a token still open";
  tokens.back().End();
  EXPECT_TRUE(rcu_test::Eventually([&] { return domain.PollState(cookie); }));
  domain.Synchronize();
}

// A token kept in a thread_local ends when its thread exits, before or after
// the hook that hands the thread's slot index back (thread_local objects die
// in the reverse order of their construction). Either way it must end.
rcu::Domain* tls_domain = nullptr;
thread_local rcu::Domain::ReadToken tls_token;

TEST(DomainAttackTest, ThreadLocalTokenEndsAtThreadExit) {
  rcu::Domain domain;
  rcu_test::HangGuard hang(std::chrono::seconds(60), "synchronizing after thread exits");
  tls_domain = &domain;
  // Constructed after the exit hook (the thread's first section installs
  // it): destroyed before it, on the thread's own slot.
  std::thread([] {
    { rcu::Domain::ReadGuard guard(*tls_domain); }
    tls_token = tls_domain->BeginRead();
  }).join();
  domain.Synchronize();
  // Constructed before the exit hook (empty), then holding a section: it
  // ends after the hook gave the slot index back, on the shared slot, while
  // another thread may already be counting on that index.
  Notification began;
  Notification go;
  std::thread first([&] {
    (void)&tls_token;  // constructs it, empty
    tls_token = tls_domain->BeginRead();
    began.Notify();
    go.WaitForNotification();
  });
  began.WaitForNotification();
  go.Notify();
  first.join();
  std::thread second([] {  // likely takes the index `first` gave back
    for (int i = 0; i < 1000; ++i) rcu::Domain::ReadGuard guard(*tls_domain);
  });
  second.join();
  domain.Synchronize();  // would wait forever if a section were left open
  tls_domain = nullptr;
}

// Backpressure must not wait forever for a grace period that the waiting
// thread itself holds up with a token: it stops waiting once the grace
// period is reported stalled (rcu/domain.h, "Rules").
TEST(DomainAttackTest, BackpressureWithTokenHeldByRetiringThread) {
  rcu::Domain::Options options;
  options.name = "held-by-retirer";
  options.stall_timeout = absl::Milliseconds(100);
  options.callback_backlog_limit = 100;
  rcu::Domain domain(options);
  rcu::StallHandler previous = rcu::SetStallHandler([](const rcu::StallReport&) {});
  std::atomic<int> ran{0};
  {
    rcu_test::HangGuard hang(std::chrono::seconds(60), "queueing past the limit with a token held");
    rcu::Domain::ReadToken token = domain.BeginRead();
    for (int i = 0; i < 1000; ++i) domain.CallRcu([&ran] { ran.fetch_add(1); });
    EXPECT_EQ(ran.load(), 0);  // none could run: the token holds them
    token.End();
    domain.Barrier();
  }
  EXPECT_EQ(ran.load(), 1000);
  rcu::SetStallHandler(previous);
}

// Many threads start polled grace periods at once while readers come and
// go; every cookie completes, and none while a token begun before it is
// still open.
TEST(DomainAttackTest, StartPollStorm) {
  rcu::Domain domain;
  std::atomic<bool> stop{false};
  std::atomic<long> early{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        rcu::Domain::ReadGuard guard(domain);
        std::this_thread::yield();
      }
    });
  }
  rcu_test::HangGuard hang(std::chrono::seconds(120), "polling");
  std::vector<std::thread> pollers;
  for (int t = 0; t < 4; ++t) {
    pollers.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        if ((i + t) % 8 == 0) {
          rcu::Domain::ReadToken token = domain.BeginRead();
          rcu::Domain::Cookie cookie = domain.StartPoll();
          for (int k = 0; k < 100; ++k) {
            if (domain.PollState(cookie)) early.fetch_add(1);
            std::this_thread::yield();
          }
          token.End();
          while (!domain.PollState(cookie)) std::this_thread::yield();
        } else {
          rcu::Domain::Cookie cookie = domain.StartPoll();
          while (!domain.PollState(cookie)) std::this_thread::yield();
        }
      }
    });
  }
  for (std::thread& t : pollers) t.join();
  stop.store(true);
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(early.load(), 0) << "cookies completed while a token older than them was open";
}

// Readers that relay: each begins its next section before it ends the one
// it holds, so some section is open at every moment. Expedited and plain
// grace periods must still complete (new sections take the other index).
TEST(DomainAttackTest, ExpeditedGracePeriodsAgainstRelayingReaders) {
  rcu::Domain domain;
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int r = 0; r < 6; ++r) {
    readers.emplace_back([&, r] {
      rcu::Domain::ReadToken held = domain.BeginRead();
      for (std::uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        rcu::Domain::ReadToken next = domain.BeginRead();
        if (r % 2 == 0) {
          rcu::Domain::ReadGuard nested(domain);
          if (i % 64 == 0) std::this_thread::yield();
        }
        held = std::move(next);  // ends the older section
      }
    });
  }
  rcu_test::HangGuard hang(std::chrono::seconds(120), "synchronizing against relaying readers");
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < 100; ++i) {
        if (w == 2) {
          domain.Synchronize();
        } else {
          domain.SynchronizeExpedited();
        }
      }
    });
  }
  for (std::thread& t : writers) t.join();
  stop.store(true);
  for (std::thread& t : readers) t.join();
}

// Domains created and destroyed by several threads at once, each used by a
// reader, a retirer and callbacks that queue more, beside readers and
// writers of a long-lived domain. Nothing is lost, no section is left open
// (each destructor checks), and the long-lived domain is never disturbed.
TEST(DomainAttackTest, DomainsCreatedAndDestroyedConcurrently) {
  struct Value : rcu::RcuObjBase<Value> {
    explicit Value(std::atomic<long>* l) : live(l) { live->fetch_add(1); }
    ~Value() {
      magic = 0;
      live->fetch_sub(1);
    }
    std::atomic<long>* live;
    int magic = 0x5a5a;
  };
  std::atomic<long> live{0};
  std::atomic<long> callbacks_queued{0};
  std::atomic<long> callbacks_run{0};
  std::atomic<long> bad_reads{0};
  rcu::Domain steady(rcu::Domain::Options{"steady"});
  std::atomic<bool> stop{false};
  std::thread steady_reader([&] {
    while (!stop.load()) {
      rcu::Domain::ReadGuard guard(steady);
      rcu::Domain::ReadToken token = steady.BeginRead();
    }
  });
  std::thread steady_writer([&] {
    while (!stop.load()) steady.Synchronize();
  });
  rcu_test::HangGuard hang(std::chrono::seconds(120), "creating and destroying domains");
  std::vector<std::thread> creators;
  for (int c = 0; c < 3; ++c) {
    creators.emplace_back([&] {
      for (int round = 0; round < 40; ++round) {
        rcu::Domain domain(rcu::Domain::Options{"churn"});
        rcu::RcuPtr<Value> ptr(new Value(&live));
        rcu::Mutex mu;
        std::atomic<bool> done{false};
        std::thread reader([&] {
          while (!done.load()) {
            rcu::Domain::ReadGuard guard(domain);
            rcu::Domain::ReadGuard other(steady);
            const Value* v = ptr.Dereference(guard);
            std::this_thread::yield();
            if (v->magic != 0x5a5a) bad_reads.fetch_add(1);
          }
        });
        for (int i = 0; i < 50; ++i) {
          Value* old;
          {
            rcu::MutexLock lock(mu);
            old = ptr.Exchange(new Value(&live), mu);
          }
          domain.Retire(old);
          callbacks_queued.fetch_add(2);
          domain.CallRcu([&domain, &callbacks_run] {
            callbacks_run.fetch_add(1);
            domain.CallRcu([&callbacks_run] { callbacks_run.fetch_add(1); });
          });
        }
        done.store(true);
        reader.join();
        rcu::MutexLock lock(mu);
        domain.Retire(ptr.Exchange(nullptr, mu));
      }
    });
  }
  for (std::thread& t : creators) t.join();
  stop.store(true);
  steady_reader.join();
  steady_writer.join();
  EXPECT_EQ(bad_reads.load(), 0);
  EXPECT_EQ(live.load(), 0);
  EXPECT_EQ(callbacks_run.load(), callbacks_queued.load());
}

}  // namespace
