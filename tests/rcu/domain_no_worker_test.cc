// rcu::Domain when no thread can be created for a domain's callback worker:
// callers then run batches themselves (Barrier(), backpressure), and a
// worker may start later, while such a batch is under way.
//
// This binary replaces pthread_create() (to fail it on demand), and
// pthread_mutex_lock() and pthread_cond_wait() (to see when the domain's
// worker blocks, so that the test can order its steps without sleeping). It runs in the default and
// clang configs only: the sanitizers intercept both functions themselves.
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rcu/domain.h"
#include "rcu/rcu_ptr.h"
#include "rcu/stall.h"
#include "tests/util/notification.h"
#include "tests/util/test_util.h"

namespace {

std::atomic<bool> fail_thread_creation{false};
// Set around the call that starts a domain's worker: the thread created
// then is marked as the worker.
std::atomic<bool> mark_next_thread{false};
thread_local bool is_marked_worker = false;
std::atomic<int> worker_lock_calls{0};
// True while the marked worker is in its second pthread_mutex_lock() call
// (the worker as first written: it has taken the queue and waits for the
// grace-period lock), or waits on a condition variable.
std::atomic<bool> worker_in_second_lock{false};
std::atomic<bool> worker_in_cond_wait{false};

using CreateFn = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
using LockFn = int (*)(pthread_mutex_t*);
using CondWaitFn = int (*)(pthread_cond_t*, pthread_mutex_t*);
CreateFn real_create = nullptr;
LockFn real_lock = nullptr;
CondWaitFn real_cond_wait = nullptr;

__attribute__((constructor)) void FindRealFunctions() {
  real_create = reinterpret_cast<CreateFn>(dlsym(RTLD_NEXT, "pthread_create"));
  real_lock = reinterpret_cast<LockFn>(dlsym(RTLD_NEXT, "pthread_mutex_lock"));
  real_cond_wait = reinterpret_cast<CondWaitFn>(dlsym(RTLD_NEXT, "pthread_cond_wait"));
}

struct MarkedStart {
  void* (*fn)(void*);
  void* arg;
};

void* RunMarked(void* p) {
  MarkedStart start = *static_cast<MarkedStart*>(p);
  delete static_cast<MarkedStart*>(p);
  is_marked_worker = true;
  return start.fn(start.arg);
}

}  // namespace

extern "C" int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*fn)(void*),
                              void* arg) {
  if (fail_thread_creation.load()) return EAGAIN;
  if (mark_next_thread.exchange(false)) {
    return real_create(thread, attr, &RunMarked, new MarkedStart{fn, arg});
  }
  return real_create(thread, attr, fn, arg);
}

extern "C" int pthread_mutex_lock(pthread_mutex_t* mutex) {
  if (real_lock == nullptr) FindRealFunctions();
  if (is_marked_worker && worker_lock_calls.fetch_add(1) + 1 == 2) {
    worker_in_second_lock.store(true);
    const int result = real_lock(mutex);
    worker_in_second_lock.store(false);
    return result;
  }
  return real_lock(mutex);
}

extern "C" int pthread_cond_wait(pthread_cond_t* cond, pthread_mutex_t* mutex) {
  if (real_cond_wait == nullptr) FindRealFunctions();
  if (!is_marked_worker) return real_cond_wait(cond, mutex);
  worker_in_cond_wait.store(true);
  const int result = real_cond_wait(cond, mutex);
  worker_in_cond_wait.store(false);
  return result;
}

namespace {

using rcu_test::Notification;

struct Tracked {
  std::atomic<bool> reclaimed{false};
  int value = 42;
};

// Thread A runs a batch itself (no worker could be started) and waits for
// its grace period, which a reader R1 holds up. Meanwhile a reader R2 takes
// an object, the object is retired, and this time the worker starts. The
// object's callback may run only after a grace period that began after it
// was queued, which R2's section holds up; it must not run with A's batch,
// whose grace period began before R2 entered.
TEST(DomainNoWorkerTest, LateWorkerDoesNotJoinAnInlineBatch) {
  rcu::Domain::Options options;
  options.name = "late-worker";
  options.stall_timeout = absl::Milliseconds(50);
  rcu::Domain domain(options);
  std::atomic<int> stalls{0};
  rcu::StallHandler previous = rcu::SetStallHandler([&stalls](const rcu::StallReport& r) {
    if (r.kind == rcu::StallReport::Kind::kDomainReaders && r.domain == "late-worker") {
      stalls.fetch_add(1);
    }
  });
  Tracked first;
  Tracked second;
  rcu::RcuPtr<Tracked> ptr(&first);

  // Every thread is created before thread creation starts failing.
  Notification r1_inside, r1_release;
  std::thread r1([&] {
    rcu::Domain::ReadGuard guard(domain);
    r1_inside.Notify();
    r1_release.WaitForNotification();
  });
  Notification r2_go, r2_inside, r2_release;
  std::atomic<bool> r2_saw_reclaimed{false};
  std::thread r2([&] {
    r2_go.WaitForNotification();
    rcu::Domain::ReadGuard guard(domain);
    const Tracked* t = ptr.Dereference(guard);
    r2_inside.Notify();
    r2_release.WaitForNotification();
    if (t->reclaimed.load()) r2_saw_reclaimed.store(true);
  });
  Notification a_go, a_done;
  std::atomic<bool> first_callback_ran{false};
  std::thread a([&] {
    a_go.WaitForNotification();
    domain.Barrier();  // no worker: runs the batch here
    a_done.Notify();
  });
  r1_inside.WaitForNotification();

  fail_thread_creation.store(true);
  domain.CallRcu([&first_callback_ran] { first_callback_ran.store(true); });
  a_go.Notify();
  // A's grace period has flipped the index and waits for R1 (the other
  // index had no sections): it reports a stall.
  ASSERT_TRUE(rcu_test::Eventually([&] { return stalls.load() > 0; }));
  r2_go.Notify();
  r2_inside.WaitForNotification();  // R2 holds `first`; A's grace period does not wait for it

  ptr.Assign(&second);
  fail_thread_creation.store(false);
  mark_next_thread.store(true);
  domain.Retire(&first, [](Tracked* t) { t->reclaimed.store(true); });  // the worker starts
  mark_next_thread.store(false);
  // The worker blocks: either it has taken what was queued and waits for
  // the grace-period lock that A holds (the bug), or it waits until A's
  // batch is done (a condition variable). (Should it block some other way,
  // the test goes on after ten seconds, and still checks.)
  const bool worker_blocked = rcu_test::Eventually(
      [] { return worker_in_second_lock.load() || worker_in_cond_wait.load(); });
  std::printf("worker started, and blocked %s\n", !worker_blocked ? "nowhere seen"
                                                  : worker_in_second_lock.load()
                                                      ? "on a lock, having taken the queue"
                                                      : "on a condition variable");

  r1_release.Notify();
  r1.join();
  a_done.WaitForNotification();  // A's batch has run
  EXPECT_TRUE(first_callback_ran.load());
  EXPECT_FALSE(first.reclaimed.load())
      << "the object was reclaimed by another thread's batch, whose grace period began before "
         "the reader that still holds it entered";
  r2_release.Notify();
  r2.join();
  EXPECT_FALSE(r2_saw_reclaimed.load()) << "a reader saw its object reclaimed inside its section";
  a.join();
  domain.Barrier();
  EXPECT_TRUE(first.reclaimed.load());
  rcu::SetStallHandler(previous);
}

// Backpressure while the queueing thread holds a token of the domain, with
// no worker: the header promises that backpressure stops waiting once the
// domain's grace period is reported stalled. Without a worker the caller
// runs the grace period itself, and that waits for its own token. In a child
// process, bounded: a hang fails the test.
//
// DISABLED: reproduces a finding not fixed here (see the report of issue 13's
// torture branch): the child hangs.
TEST(DomainNoWorkerTest, BackpressureWithoutWorkerAndTokenHeld) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    rcu::SetStallHandler([](const rcu::StallReport&) {});
    rcu::Domain::Options options;
    options.name = "no-worker-backpressure";
    options.stall_timeout = absl::Milliseconds(100);
    options.callback_backlog_limit = 10;
    rcu::Domain domain(options);
    std::atomic<int> ran{0};
    fail_thread_creation.store(true);
    rcu::Domain::ReadToken token = domain.BeginRead();
    for (int i = 0; i < 50; ++i) domain.CallRcu([&ran] { ran.fetch_add(1); });
    token.End();
    domain.Barrier();  // runs them here
    std::_Exit(ran.load() == 50 ? 0 : 3);
  }
  int status = 0;
  ASSERT_TRUE(rcu_test::WaitForChild(pid, std::chrono::seconds(30), status))
      << "backpressure waited for the grace period its own token holds up";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
