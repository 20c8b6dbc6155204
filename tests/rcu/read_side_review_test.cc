// Review of the read side's single fast-path word (fast_reader_word): the
// section numbering the stall watchdog relies on, the backlog debt on every
// path that can set or pay it (first sections, signal handlers, an
// instruction-by-instruction sweep of a section's end, thread exit, pthread
// key destructors after the exit hook), and the fenced protocol a process
// without membarrier() gets (the test re-executes itself under a seccomp
// filter that refuses membarrier()).
//
// Each backlog test is deterministic: callbacks queued inside the thread's
// own section cannot be invoked until that section ends (their grace period
// waits for it), so the backlog stays over a limit of 2 until then. Where a
// test checks that the section's end paid by waiting, a BacklogHold keeps
// the backlog there past the end until the thread waits: otherwise the
// worker may drain it between the section's end and the payment, which then
// has nothing to wait for (seen once under ASan in CI).
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/diagnostics.h"
#include "rcu/grace_period.h"
#include "rcu/internal/callback_worker.h"
#include "rcu/internal/callbacks.h"
#include "rcu/internal/read_side.h"
#include "rcu/internal/thread_registry.h"
#include "rcu/internal/urcu_abi.h"
#include "rcu/read_guard.h"
#include "rcu/stats.h"
#include "rcu/std_rcu.h"
#include "tests/util/backlog_hold.h"
#include "tests/util/no_membarrier.h"
#include "tests/util/test_util.h"

namespace {

bool InFenceModeChild() { return rcu_test::InProcessWithoutMembarrier(); }

// --- White-box views of the inline read side --------------------------------

#if RCU_INTERNAL_INLINE_READ_SIDE
using rcu::internal::kUrcuGpCtrNestMask;
using rcu::internal::kUrcuGpCtrPhase;
constexpr unsigned long kSectionUnit = kUrcuGpCtrPhase << 1;

unsigned long ReaderWordNow() {
  return __atomic_load_n(
      reinterpret_cast<unsigned long*>(rcu::internal::reader_word & ~std::uintptr_t{1}),
      __ATOMIC_RELAXED);
}
unsigned long SectionNumber(unsigned long word) { return word / kSectionUnit; }
unsigned long GlobalWord() { return __atomic_load_n(rcu::internal::UrcuGpCtr(), __ATOMIC_RELAXED); }

// fast_reader_word is what its comment says it is, given the rest of the
// thread's state.
::testing::AssertionResult FastWordConsistent(const char* where) {
  using namespace rcu::internal;
  unsigned long* const expected = !thread_registered || (reader_word & 1) != 0 || backlog_debt
                                      ? nullptr
                                      : reinterpret_cast<unsigned long*>(reader_word);
  if (fast_reader_word != expected || thread_registered != (reader_word != 0)) {
    return ::testing::AssertionFailure()
           << where << ": fast_reader_word " << fast_reader_word << ", expected " << expected
           << " (registered " << thread_registered << ", reader_word "
           << reinterpret_cast<void*>(reader_word) << ", debt " << backlog_debt << ")";
  }
  return ::testing::AssertionSuccess();
}
#else
::testing::AssertionResult FastWordConsistent(const char*) { return ::testing::AssertionSuccess(); }
#endif

// --- The backlog over its limit, held by the calling thread's own section ---

struct Node : rcu::RcuHead {};
std::atomic<long> nodes_freed{0};
void FreeNode(rcu::RcuHead* head) {
  delete static_cast<Node*>(head);
  nodes_freed.fetch_add(1);
}

// Outside sections: no callbacks pending, the old limit saved.
class BacklogSetup {
 public:
  BacklogSetup() : old_limit_(rcu::CallbackBacklogLimit()) { rcu::Barrier(); }
  ~BacklogSetup() {
    rcu::SetCallbackBacklogLimit(old_limit_);
    rcu::Barrier();
  }
  // Inside a section: puts three callbacks in the backlog (which this
  // section keeps there) and lowers the limit under them.
  void OverTheLimit() {
    EXPECT_TRUE(rcu::InReadSection());
    rcu::SetCallbackBacklogLimit(std::max<std::size_t>(old_limit_, 1000));
    for (int i = 0; i < 3; ++i) rcu::CallRcu(new Node, &FreeNode);
    rcu::SetCallbackBacklogLimit(2);
  }

 private:
  std::size_t old_limit_;
};

// A retirement made over the limit: inside a section it owes the wait.
void RetireOverTheLimit() { rcu::CallRcu(new Node, &FreeNode); }

// The same from a signal handler, which must not allocate: nodes from a
// ring, each reused only after the Barrier() that ends every test step.
Node handler_nodes[256];
std::atomic<unsigned> next_handler_node{0};
void CountNode(rcu::RcuHead*) { nodes_freed.fetch_add(1); }
void RetireOverTheLimitFromHandler() {
  rcu::CallRcu(&handler_nodes[next_handler_node.fetch_add(1) % 256], &CountNode);
}

std::uint64_t BacklogWaits() { return rcu::GetStats().backlog_waits; }

// --- Section numbers --------------------------------------------------------

#if RCU_INTERNAL_INLINE_READ_SIDE
// The commit replaced `(current & ~(kSectionUnit - 1)) + kSectionUnit`, OR
// the global counter, with OutermostSectionWord(current). Same value for
// every word a thread can have between sections (nesting count 0), phase
// bit either way, through the wrap.
TEST(ReadSideReviewTest, OutermostSectionWordIsTheOldFormula) {
  const unsigned long max_number = ~0UL / kSectionUnit;
  const unsigned long numbers[] = {0, 1, 2, 3, 12345, max_number / 2, max_number - 1, max_number};
  for (unsigned long number : numbers) {
    for (unsigned long phase : {0UL, kUrcuGpCtrPhase}) {
      const unsigned long current = number * kSectionUnit + phase;
      const unsigned long before = GlobalWord();
      const unsigned long word = rcu::internal::OutermostSectionWord(current);
      const unsigned long after = GlobalWord();
      const unsigned long old_section = (current & ~(kSectionUnit - 1)) + kSectionUnit;
      EXPECT_TRUE(word == (old_section | before) || word == (old_section | after))
          << std::hex << "current 0x" << current << ": got 0x" << word << ", old formula 0x"
          << (old_section | before);
      EXPECT_EQ(SectionNumber(word), number == max_number ? 0 : number + 1);
      EXPECT_EQ(word & kUrcuGpCtrNestMask, 1UL);
    }
  }
}

// Every way into an outermost section takes the next section number, and a
// nested one keeps it: fast path, first (registering) section, sections
// while a debt is owed (out of line), rcu_domain::lock(). The stall watchdog
// tells sections apart by it (rcu/stall.cc).
void CheckSectionNumbersAdvanceOnEveryPath() {
  // This thread's first section registers it (the out-of-line path).
  ASSERT_FALSE(rcu::internal::thread_registered);
  ASSERT_TRUE(FastWordConsistent("unregistered"));
  unsigned long last;
  {
    rcu::ReadGuard first;
    ASSERT_TRUE(FastWordConsistent("first section"));
    last = SectionNumber(ReaderWordNow());
    EXPECT_EQ(ReaderWordNow() & kUrcuGpCtrNestMask, 1UL);
  }
  auto expect_next = [&](const char* path) {
    const unsigned long word = ReaderWordNow();
    EXPECT_EQ(SectionNumber(word), last + 1) << path;
    EXPECT_EQ(word & kUrcuGpCtrNestMask, 1UL) << path;
    last = SectionNumber(word);
  };
  for (int i = 0; i < 3; ++i) {
    rcu::ReadGuard g;
    expect_next("ReadGuard");
    {
      rcu::ReadGuard nested;
      EXPECT_EQ(SectionNumber(ReaderWordNow()), last) << "a nested section took a new number";
      EXPECT_EQ(ReaderWordNow() & kUrcuGpCtrNestMask, 2UL);
    }
    EXPECT_EQ(SectionNumber(ReaderWordNow()), last);
  }
  {
    rcu::rcu_default_domain().lock();
    expect_next("rcu_domain::lock()");
    rcu::rcu_default_domain().unlock();
  }
  // A debt sends both ends out of line; paying it (nothing over the limit
  // here) clears it.
  rcu::internal::SetBacklogDebt(true);
  ASSERT_EQ(rcu::internal::fast_reader_word, nullptr);
  {
    rcu::ReadGuard owing;
    expect_next("ReadGuard while owing");
    ASSERT_TRUE(FastWordConsistent("owing"));
  }
  EXPECT_FALSE(rcu::internal::backlog_debt);
  ASSERT_TRUE(FastWordConsistent("after paying"));
  {
    rcu::ReadGuard g;
    expect_next("ReadGuard after paying");
  }
  EXPECT_EQ(ReaderWordNow() & kUrcuGpCtrNestMask, 0UL);
}

TEST(ReadSideReviewTest, SectionNumbersAdvanceOnEveryPath) {
  if (InFenceModeChild()) GTEST_SKIP() << "the parent runs this";
  std::thread([] { CheckSectionNumbersAdvanceOnEveryPath(); }).join();
}
#endif  // RCU_INTERNAL_INLINE_READ_SIDE

// --- Backlog debt -----------------------------------------------------------

// A debt set in nested sections inside a thread's very first section (the
// one that registers it) is paid when that section ends, not before.
void CheckDebtInFirstSectionIsPaidAtItsEnd() {
  BacklogSetup setup;
  rcu_test::BacklogHold hold;
  std::thread([&] {
    {
      rcu::ReadGuard first;  // registers the thread
      setup.OverTheLimit();
      {
        rcu::ReadGuard inner;
        RetireOverTheLimit();
      }
      EXPECT_TRUE(rcu::internal::backlog_debt) << "no debt: the test checked nothing";
      EXPECT_TRUE(FastWordConsistent("owing, inside"));
      EXPECT_FALSE(hold.Waited()) << "waited inside a section";
    }
    hold.Returned();
    EXPECT_FALSE(rcu::internal::backlog_debt) << "the outermost end did not pay";
    EXPECT_TRUE(hold.Waited()) << "the debt was dropped, not paid";
    EXPECT_TRUE(FastWordConsistent("paid"));
  }).join();
}

TEST(ReadSideReviewTest, DebtInAThreadsFirstSectionIsPaidWhenItEnds) {
  if (InFenceModeChild()) GTEST_SKIP() << "the parent runs this";
  CheckDebtInFirstSectionIsPaidAtItsEnd();
}

// Signal handlers: a handler's section nests inside the interrupted one, so
// a debt it sets is paid when the interrupted thread's outermost section
// ends, and a handler that interrupts no section pays its own at its end.
std::atomic<int> handler_runs{0};
void RetiringHandler(int) {
  {
    rcu::ReadGuard in_handler;
    RetireOverTheLimitFromHandler();
  }
  handler_runs.fetch_add(1);
}

class SignalHandlerScope {
 public:
  explicit SignalHandlerScope(void (*handler)(int)) {
    struct sigaction action = {};
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    sigaction(SIGUSR1, &action, &old_);
  }
  ~SignalHandlerScope() { sigaction(SIGUSR1, &old_, nullptr); }

 private:
  struct sigaction old_;
};

void CheckDebtFromSignalHandlers() {
  SignalHandlerScope scope(&RetiringHandler);
  {
    BacklogSetup setup;
    rcu_test::BacklogHold hold;
    const int runs = handler_runs.load();
    {
      rcu::ReadGuard outer;
      setup.OverTheLimit();
      raise(SIGUSR1);  // the handler's section nests in this one
      ASSERT_EQ(handler_runs.load(), runs + 1);
      EXPECT_TRUE(rcu::internal::backlog_debt) << "the handler's retirement owed nothing";
      EXPECT_TRUE(FastWordConsistent("owing after the handler"));
      EXPECT_FALSE(hold.Waited()) << "the handler waited inside the interrupted section";
    }
    hold.Returned();
    EXPECT_FALSE(rcu::internal::backlog_debt) << "the interrupted section's end did not pay";
    EXPECT_TRUE(hold.Waited()) << "the debt was dropped, not paid";
  }
  {
    // The handler interrupts no section: it pays at its own section's end.
    // The backlog over the limit, held there until the handler waits.
    BacklogSetup setup;
    rcu_test::BacklogHold hold;
    rcu::SetCallbackBacklogLimit(1000);
    for (int i = 0; i < 3; ++i) rcu::CallRcu(new Node, &FreeNode);
    rcu::SetCallbackBacklogLimit(2);
    raise(SIGUSR1);
    hold.Returned();
    EXPECT_FALSE(rcu::internal::backlog_debt) << "the handler's own outermost end did not pay";
    EXPECT_TRUE(hold.Waited()) << "the debt was dropped, not paid";
    EXPECT_TRUE(FastWordConsistent("after a handler paid"));
  }
}

TEST(ReadSideReviewTest, DebtSetBySignalHandlersIsPaidAtTheOutermostEnd) {
  if (InFenceModeChild()) GTEST_SKIP() << "the parent runs this";
  std::thread(&CheckDebtFromSignalHandlers).join();
}

#if defined(__x86_64__) && RCU_INTERNAL_INLINE_READ_SIDE
// Single-stepping (the trap flag, SIGTRAP after every instruction): a signal
// handler that retires over the limit is run at each instruction boundary of
// an outermost section's end, in turn. Wherever it lands, the debt it sets
// must not be lost: once the guard's destructor has returned it is either
// paid or still owed with the fast path off, so that the thread's next
// section end pays it. (Paid at that end is not promised: the fast path
// reads its word once, before the handler can set the debt, and CallRcu()
// and Retire() are not async-signal-safe anyway (rcu/call_rcu.h). In the
// review that found it, 15 of 58 positions of an unoptimized build deferred
// the payment to the next section; the read side before c0da556 paid at
// that end, one thread-local test per section more.)
constexpr long kTrapFlag = 0x100;
volatile int trap_steps = 0;
volatile int trap_target = -1;
volatile int trap_fired = 0;
volatile long trap_rip = 0;
volatile bool trap_nesting_before = false;

void OnTrap(int, siginfo_t*, void* context) {
  if (trap_steps++ != trap_target) return;
  trap_fired = 1;
  trap_rip = static_cast<ucontext_t*>(context)->uc_mcontext.gregs[REG_RIP];
  trap_nesting_before = rcu::InReadSection();
  {
    rcu::ReadGuard in_handler;
    RetireOverTheLimitFromHandler();  // owes the wait: this section keeps the backlog up
    // The debt is set; raising the limit (an atomic store) leaves it owed
    // but gives its payment nothing to wait for. A handler must not wait
    // for the worker: if it interrupted the guard's end anywhere from
    // leaving the section to waking a sleeping grace period (after its
    // futex store, before the FUTEX_WAKE), that grace period, and so the
    // worker, would sleep until the interrupted code ran again.
    rcu::SetCallbackBacklogLimit(1000);
  }
  static_cast<ucontext_t*>(context)->uc_mcontext.gregs[REG_EFL] &= ~kTrapFlag;  // stop stepping
}

// Below the red zone, which pushfq would overwrite.
#define RCU_TEST_SET_TRAP_FLAG()                                                                 \
  asm volatile("sub $128, %%rsp\n\tpushfq\n\torq $0x100, (%%rsp)\n\tpopfq\n\tadd $128, %%rsp" :: \
                   : "memory", "cc")
#define RCU_TEST_CLEAR_TRAP_FLAG()                                                               \
  asm volatile("sub $128, %%rsp\n\tpushfq\n\tandq $-257, (%%rsp)\n\tpopfq\n\tadd $128, %%rsp" :: \
                   : "memory", "cc")

struct StepResult {
  int positions = 0;  // instruction boundaries tried
  int deferred = 0;   // ... after which the guard ended still owing
  int lost = 0;       // ... of which with the fast path on, or the next end not paying
  int first_lost = -1;
};

__attribute__((noinline)) void EndGuardStepping(rcu::ReadGuard* guard) {
  RCU_TEST_SET_TRAP_FLAG();
  guard->~ReadGuard();
  RCU_TEST_CLEAR_TRAP_FLAG();
}

// With `grace_period_sleeps`, each position first waits until the worker's
// grace period for the callbacks just queued sleeps waiting for the guard's
// section (liburcu's futex at -1), so that the guard's end takes its longer
// path, through waking that grace period (WakeGracePeriodWaiter()); without
// it the worker has usually not begun one yet (it batches).
StepResult SweepSectionEnd(bool grace_period_sleeps) {
  struct sigaction action = {}, old;
  action.sa_sigaction = &OnTrap;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTRAP, &action, &old);
  StepResult result;
  int past_the_end = 0;  // targets in a row that the steps did not reach
  for (int target = 0; target < 10000; ++target) {
    BacklogSetup setup;  // restores the limit the handler raises
    alignas(rcu::ReadGuard) unsigned char storage[sizeof(rcu::ReadGuard)];
    auto* guard = new (storage) rcu::ReadGuard;
    setup.OverTheLimit();
    if (grace_period_sleeps) {
      rcu::internal::HurryCallbackWorker();
      while (__atomic_load_n(rcu::internal::UrcuGpFutex(), __ATOMIC_ACQUIRE) != -1) {
        std::this_thread::yield();
      }
    }
    trap_steps = 0;
    trap_target = target;
    trap_fired = 0;
    EndGuardStepping(guard);
    trap_target = -1;
    // Past the end of the destructor, as far as this run's path went. The
    // path is not always the same length (a grace period may stop waiting,
    // or begin, during the steps before it), so one short run does not end
    // the sweep.
    if (!trap_fired) {
      if (++past_the_end == 8) break;
      continue;
    }
    past_the_end = 0;
    ++result.positions;
    if (rcu::internal::backlog_debt) {
      ++result.deferred;
      bool lost = rcu::internal::fast_reader_word != nullptr;
      { rcu::ReadGuard next; }  // pays it (with nothing to wait for)
      lost = lost || rcu::internal::backlog_debt;
      if (lost) {
        ++result.lost;
        if (result.first_lost < 0) result.first_lost = target;
        std::printf("lost: step %d rip %lx in section %d\n", target, trap_rip, trap_nesting_before);
      }
    }
    EXPECT_FALSE(rcu::InReadSection());
  }
  sigaction(SIGTRAP, &old, nullptr);
  return result;
}

TEST(ReadSideReviewTest, DebtSetByASignalAtAnyInstructionOfASectionsEndIsNotLost) {
  if (InFenceModeChild()) GTEST_SKIP() << "the parent runs this";
  for (bool grace_period_sleeps : {false, true}) {
    StepResult result;
    std::thread([&] { result = SweepSectionEnd(grace_period_sleeps); }).join();
    const char* const path = grace_period_sleeps ? "waking a sleeping grace period" : "as it comes";
    std::printf(
        "%s: instruction boundaries tried: %d; guard ended still owing after %d, paid by the "
        "next section's end; lost after %d (first at %d)\n",
        path, result.positions, result.deferred, result.lost, result.first_lost);
    EXPECT_GT(result.positions, 3) << path << ": the sweep did not step through the section's end";
    EXPECT_EQ(result.lost, 0)
        << path
        << ": a debt set by a signal handler during an outermost section's end was lost: the "
           "fast path stayed on, or the next section's end did not pay it (first at instruction "
        << result.first_lost << ")";
  }
}
#endif

// A thread that exits inside a section while owing: the exit hook ends the
// section (diagnosed) without waiting for the backlog, and the debt is gone.
TEST(ReadSideReviewTest, ThreadExitingInsideASectionWhileOwingEndsItWithoutWaiting) {
  if (InFenceModeChild()) GTEST_SKIP() << "the parent runs this";
  std::mutex mu;
  std::vector<rcu::Diagnostic> seen;
  rcu::DiagnosticHandler previous = rcu::SetDiagnosticHandler([&](const rcu::Diagnostic& d) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(d);
  });
  std::uint64_t waits_at_exit = 0;
  {
    BacklogSetup setup;
    std::thread([&] {
      alignas(rcu::ReadGuard) static thread_local unsigned char storage[2][sizeof(rcu::ReadGuard)];
      new (storage[0]) rcu::ReadGuard;  // never destroyed
      setup.OverTheLimit();
      new (storage[1]) rcu::ReadGuard;
      RetireOverTheLimit();
      EXPECT_TRUE(rcu::internal::backlog_debt);
      waits_at_exit = BacklogWaits();
    }).join();
    EXPECT_EQ(BacklogWaits(), waits_at_exit) << "an exiting thread waited for the backlog";
    rcu::Synchronize();  // hangs if the section was left open
  }
  rcu::SetDiagnosticHandler(std::move(previous));
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, rcu::Diagnostic::Kind::kThreadExitInReadSection);
  EXPECT_NE(seen[0].message.find("2 open ReadGuard"), std::string::npos) << seen[0].message;
}

// A pthread key destructor that runs after the library's exit hook (which
// unregistered the thread) takes a guard: the thread registers again, its
// fast-path word follows, a debt set there is paid at that guard's end, and
// the thread is unregistered again on the next round of destructors.
pthread_key_t late_key;
std::atomic<int> late_destructor_checks{0};
BacklogSetup* late_setup = nullptr;

void LateDestructor(void* value) {
  if (rcu::internal::thread_registered) {
    // The exit hook has not run yet (its key came later): after it.
    pthread_setspecific(late_key, value);
    return;
  }
  EXPECT_FALSE(rcu::InReadSection());
  EXPECT_TRUE(FastWordConsistent("after the exit hook"));
  {
    rcu::ReadGuard g;  // registers again
    EXPECT_TRUE(rcu::InReadSection());
    EXPECT_TRUE(FastWordConsistent("re-registered"));
    late_setup->OverTheLimit();
    {
      rcu::ReadGuard inner;
      RetireOverTheLimit();
    }
    EXPECT_TRUE(rcu::internal::backlog_debt);
    EXPECT_TRUE(FastWordConsistent("re-registered, owing"));
  }
  EXPECT_FALSE(rcu::internal::backlog_debt) << "the re-registered thread's section did not pay";
  EXPECT_FALSE(rcu::InReadSection());
  EXPECT_TRUE(FastWordConsistent("re-registered, paid"));
  late_destructor_checks.fetch_add(1);
}

TEST(ReadSideReviewTest, GuardInAKeyDestructorAfterTheExitHookRegistersAgain) {
  if (InFenceModeChild()) GTEST_SKIP() << "the parent runs this";
  { rcu::ReadGuard g; }  // the library's exit key exists before ours
  ASSERT_EQ(pthread_key_create(&late_key, &LateDestructor), 0);
  const rcu::Stats before = rcu::GetStats();
  {
    BacklogSetup setup;
    late_setup = &setup;
    std::thread([] {
      { rcu::ReadGuard g; }
      pthread_setspecific(late_key, reinterpret_cast<void*>(1));
    }).join();
    late_setup = nullptr;
  }
  EXPECT_EQ(late_destructor_checks.load(), 1);
  const rcu::Stats after = rcu::GetStats();
  EXPECT_EQ(after.threads_registered - before.threads_registered, 2u);
  EXPECT_EQ(after.threads_unregistered - before.threads_unregistered, 2u);
  rcu::Synchronize();  // no registration left behind blocks it
  pthread_key_delete(late_key);
}

// --- Without membarrier() ---------------------------------------------------

// The checks above, and a grace period that waits for a reader, in a copy
// of this test re-executed under a seccomp filter that refuses membarrier():
// liburcu then needs the readers' full fences, which only the out-of-line
// paths have, so the fast-path word must stay null on every thread.
TEST(ReadSideReviewTest, WithoutMembarrier) {
  if (InFenceModeChild()) GTEST_SKIP() << "the parent runs this";
  const rcu_test::ChildOutcome child =
      rcu_test::RunTestsWithoutMembarrier("ReadSideFenceModeChild.*");
  if (child.filter_refused) GTEST_SKIP() << child.why;
  EXPECT_TRUE(child.passed) << child.why;
}

TEST(ReadSideFenceModeChild, MembarrierIsRefused) {
  if (!InFenceModeChild()) GTEST_SKIP() << "runs in the re-executed child";
  errno = 0;
  EXPECT_EQ(syscall(__NR_membarrier, 0, 0), -1);
  EXPECT_EQ(errno, ENOSYS);
}

#if RCU_INTERNAL_INLINE_READ_SIDE
TEST(ReadSideFenceModeChild, EveryThreadTakesTheFencedPath) {
  if (!InFenceModeChild()) GTEST_SKIP() << "runs in the re-executed child";
  for (int i = 0; i < 2; ++i) {
    std::thread([] {
      {
        rcu::ReadGuard g;
        EXPECT_NE(rcu::internal::reader_word & 1, 0u) << "membarrier() was not refused";
        EXPECT_EQ(rcu::internal::fast_reader_word, nullptr)
            << "a thread without membarrier() took the unfenced fast path";
        EXPECT_TRUE(FastWordConsistent("fence mode"));
      }
      EXPECT_EQ(rcu::internal::fast_reader_word, nullptr);
    }).join();
  }
}

TEST(ReadSideFenceModeChild, SectionNumbersAdvance) {
  if (!InFenceModeChild()) GTEST_SKIP() << "runs in the re-executed child";
  std::thread([] { CheckSectionNumbersAdvanceOnEveryPath(); }).join();
}
#endif

TEST(ReadSideFenceModeChild, DebtIsPaid) {
  if (!InFenceModeChild()) GTEST_SKIP() << "runs in the re-executed child";
  CheckDebtInFirstSectionIsPaidAtItsEnd();
  std::thread(&CheckDebtFromSignalHandlers).join();
}

TEST(ReadSideFenceModeChild, GracePeriodsWaitForReaders) {
  if (!InFenceModeChild()) GTEST_SKIP() << "runs in the re-executed child";
  std::atomic<bool> freed{false};
  {
    rcu_test::ParkedReader reader;
    rcu::CallRcu([&] { freed.store(true); });
    std::atomic<bool> synchronized{false};
    std::thread writer([&] {
      rcu::Synchronize();
      synchronized.store(true);
    });
    // Neither can finish while the reader is inside its section; nothing
    // here times that, the reader is released only after these checks.
    for (int i = 0; i < 1000; ++i) std::this_thread::yield();
    EXPECT_FALSE(freed.load());
    EXPECT_FALSE(synchronized.load());
    reader.Release();
    writer.join();
  }
  rcu::Barrier();
  EXPECT_TRUE(freed.load());
}

}  // namespace
