// rcu::Mutex (rcu/mutex.h) and the core's condition variable for it
// (rcu/internal/cond_var.h).
#include "rcu/mutex.h"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "absl/base/attributes.h"
#include "absl/base/thread_annotations.h"
#include "gtest/gtest.h"
#include "rcu/internal/cond_var.h"
#include "tests/util/notification.h"

namespace {

// Constant-initialized, so usable from any static initializer: this one runs
// before main() and may run before the Mutex's own translation unit's.
ABSL_CONST_INIT rcu::Mutex static_mu;
const bool locked_before_main = [] {
  rcu::MutexLock lock(static_mu);
  return static_mu.HeldByCurrentThread();
}();

TEST(MutexTest, KnowsItsHolder) {
  rcu::Mutex mu;
  EXPECT_FALSE(mu.HeldByCurrentThread());
  mu.Lock();
  EXPECT_TRUE(mu.HeldByCurrentThread());
  mu.AssertHeld();
  bool held_elsewhere = true;
  std::thread([&] { held_elsewhere = mu.HeldByCurrentThread(); }).join();
  EXPECT_FALSE(held_elsewhere);
  mu.Unlock();
  EXPECT_FALSE(mu.HeldByCurrentThread());
  if (mu.TryLock()) {
    EXPECT_TRUE(mu.HeldByCurrentThread());
    mu.Unlock();
  } else {
    ADD_FAILURE() << "TryLock() failed on a free mutex";
  }
}

TEST(MutexTest, UsableFromStaticInitializers) {
  EXPECT_TRUE(locked_before_main);
  EXPECT_FALSE(static_mu.HeldByCurrentThread());
}

// Forks while holding `mu`; the child checks that it holds `mu`, unlocks it
// and takes it again. Returns the child's pid (or -1).
pid_t ForkHoldingIt(rcu::Mutex& mu) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  mu.Lock();
  const pid_t pid = fork();
  if (pid == 0) {
    const bool held = mu.HeldByCurrentThread();
    mu.Unlock();
    _exit(held && mu.TryLock() ? 0 : 1);
  }
  mu.Unlock();
  return pid;
}

TEST(MutexTest, ForkChildOfTheHolderStillHoldsIt) {
  // The core holds its locks across fork() and releases them in the child,
  // which only works if the child's only thread counts as their holder.
  rcu::Mutex mu;
  const pid_t pid = ForkHoldingIt(mu);
  ASSERT_GE(pid, 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

TEST(CondVarTest, WaitReleasesTheMutexAndTakesItBack) {
  rcu::Mutex mu;
  rcu::internal::CondVar cv;
  bool ready = false;  // guarded by mu
  rcu_test::Notification waiting;
  std::thread signaller([&] {
    waiting.WaitForNotification();
    rcu::MutexLock lock(mu);  // free only while the waiter waits
    ready = true;
    cv.SignalAll();
  });
  {
    rcu::MutexLock lock(mu);
    waiting.Notify();
    while (!ready) {
      cv.Wait(mu);
      EXPECT_TRUE(mu.HeldByCurrentThread());  // taken back, holder restored
    }
  }
  signaller.join();
  EXPECT_FALSE(mu.HeldByCurrentThread());
}

TEST(CondVarTest, WaitUntilAPassedDeadlineGivesUp) {
  // A deadline already passed times out at once, whatever wakes the wait
  // (a spurious wake-up before a future deadline would not be a timeout).
  rcu::Mutex mu;
  rcu::internal::CondVar cv;
  rcu::MutexLock lock(mu);
  EXPECT_FALSE(cv.WaitUntil(mu, std::chrono::steady_clock::now() - std::chrono::seconds(1)));
  EXPECT_TRUE(mu.HeldByCurrentThread());
}

TEST(MutexDeathTest, AssertHeldFailsWithAMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  rcu::Mutex mu;
  EXPECT_DEATH(mu.AssertHeld(), "the calling thread does not hold it");
}

}  // namespace
