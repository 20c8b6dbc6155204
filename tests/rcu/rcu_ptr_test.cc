// Typed RCU pointers and the writers' mutex.
#include "rcu/rcu_ptr.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/grace_period.h"
#include "rcu/mutex.h"
#include "rcu/read_guard.h"

namespace {

struct Config {
  int version;
  std::string name;
};

std::atomic<int> config_destroyed{0};
struct Counted {
  explicit Counted(int v) : value(v) {}
  ~Counted() { config_destroyed.fetch_add(1); }
  int value;
};

TEST(RcuPtrTest, PublishAndSubscribe) {
  rcu::Mutex mu;
  rcu::RcuPtr<Config> ptr;
  {
    rcu::ReadGuard guard;
    EXPECT_EQ(ptr.Dereference(guard), nullptr);
  }
  Config first{1, "first"};
  ptr.Assign(&first);
  {
    rcu::ReadGuard guard;
    EXPECT_EQ(ptr.Dereference(guard)->name, "first");
  }
  Config second{2, "second"};
  Config* old;
  {
    rcu::MutexLock lock(mu);
    EXPECT_EQ(ptr.Protected(mu), &first);
    old = ptr.Exchange(&second, mu);
  }
  EXPECT_EQ(old, &first);
  rcu::ReadGuard guard;
  EXPECT_EQ(ptr.Dereference(guard)->version, 2);
}

TEST(RcuPtrTest, ReadersSeeFullyInitializedObjects) {
  rcu::Mutex mu;
  rcu::OwnedRcuPtr<Config> ptr(std::make_unique<Config>(Config{0, "v0"}));
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::thread reader([&] {
    int last = 0;
    while (!stop.load()) {
      rcu::ReadGuard guard;
      const Config* c = ptr.Dereference(guard);
      if (c->name != "v" + std::to_string(c->version) || c->version < last) bad.fetch_add(1);
      last = c->version;
    }
  });
  for (int v = 1; v <= 2000; ++v) {
    rcu::MutexLock lock(mu);
    ptr.Replace(std::make_unique<Config>(Config{v, "v" + std::to_string(v)}), mu);
  }
  stop.store(true);
  reader.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(OwnedRcuPtrTest, ReplaceAndDestroyRetire) {
  rcu::Barrier();
  config_destroyed.store(0);
  rcu::Mutex mu;
  {
    rcu::OwnedRcuPtr<Counted> ptr(std::make_unique<Counted>(1));
    {
      rcu::MutexLock lock(mu);
      ptr.Replace(std::make_unique<Counted>(2), mu);
      ptr.Replace(std::make_unique<Counted>(3), mu);
      EXPECT_EQ(ptr.Protected(mu)->value, 3);
    }
    rcu::ReadGuard guard;
    EXPECT_EQ(ptr.Dereference(guard)->value, 3);
  }
  rcu::Barrier();
  EXPECT_EQ(config_destroyed.load(), 3);
}

TEST(OwnedRcuPtrTest, ResetPublishesNull) {
  rcu::Mutex mu;
  rcu::OwnedRcuPtr<int> ptr(std::make_unique<int>(4));
  {
    rcu::MutexLock lock(mu);
    ptr.Reset(mu);
  }
  rcu::ReadGuard guard;
  EXPECT_EQ(ptr.Dereference(guard), nullptr);
}

#ifndef NDEBUG
TEST(RcuPtrDeathTest, DereferenceOutsideTheGuardsThreadIsCaught) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  rcu::RcuPtr<int> ptr;
  EXPECT_DEATH(
      {
        rcu::ReadGuard guard;
        std::thread([&] { ptr.Dereference(guard); }).join();
      },
      "Dereference\\(\\) outside a read-side critical section");
}

TEST(RcuPtrDeathTest, WriterAccessWithoutTheLockIsCaught) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  rcu::Mutex mu;
  rcu::RcuPtr<int> ptr;
  // Deliberately breaks the annotation's contract; the analysis is only
  // compiled in under --config=clang, and this code would not pass it.
  auto unlocked_access = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { ptr.Protected(mu); };
  EXPECT_DEATH(unlocked_access(), "without holding the writers' lock");
}
#endif

}  // namespace
