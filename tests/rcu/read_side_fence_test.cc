// The full fence a read-side section begins with where membarrier() is
// missing (liburcu's smp_mb_slave()), checked as a store-buffering litmus
// test, since no end-to-end test catches its absence: the window is a few
// nanoseconds of a store waiting in the CPU's store buffer.
//
// A grace period decides a reader is outside its section by reading the
// reader's word after publishing the new version and a full fence
// (synchronize_rcu()'s smp_mb(), then its look at the readers). A reader
// stores its word and then reads the published pointer. If the reader's store
// could be passed by its load, both could miss each other: the reader reads
// the old version, and the grace period, not seeing the reader, frees it.
// With membarrier() the grace period's membarrier() orders the reader; without
// it the reader's own fence must, and that is what this test checks.
//
// Each round the two threads meet, then the "writer" stores the round number
// to `published`, fences and reads the reader's word, while the reader begins
// a section and reads `published`. The outcome in which the reader read an
// older number and the writer read the reader's word from before the section
// began is forbidden: it is counted, and must be zero. The writer's delay
// after the meeting sweeps 0-63 pause instructions, so that its store lands
// in every part of the reader's path to the load.
//
// Every other round calibrates: the reader takes the same out-of-line path
// with its word's "no membarrier()" bit cleared for that section, so that
// ReaderFence() leaves the fence out, as the read side rightly does where
// membarrier() is in use (and as a build without the fence would in every
// round). Those rounds may show the forbidden outcome, and how often they do
// measures, at this moment and on this machine, whether the check could see
// a missing fence at all: a single CPU, or a busy machine that rarely runs
// both threads at once, shows none. The rounds go on, past kMinRounds,
// until the calibrating ones have shown it kEnoughReorderings times (a build
// without the fence would then, in the checked rounds, about as often), or
// until a time budget runs out; if they never showed it the result is
// inconclusive and the check is skipped (in the child, whose output says
// so), rather than passed on no evidence.
//
// The check runs where membarrier() is refused: in this process if it is
// refused here already, otherwise in a child re-executed with a seccomp
// filter that refuses it (tests/util/no_membarrier.h).
//
// Negative control: with ReaderFence()'s full fence (rcu/internal/read_side.cc)
// made a compiler-only fence, the checked rounds count forbidden outcomes.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <thread>

#include "gtest/gtest.h"
#include "rcu/internal/read_side.h"
#include "rcu/read_guard.h"
#include "tests/util/no_membarrier.h"

namespace {

#if RCU_INTERNAL_INLINE_READ_SIDE && (defined(__x86_64__) || defined(__aarch64__))

inline void Pause() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#else
  asm volatile("yield" ::: "memory");
#endif
}

// The rounds stop after kMinRounds once the calibrating ones have shown the
// reordering this often, or after kMaxRounds, or when the time budget runs
// out (checked every 16 rounds; a budget, not an assertion: on a machine too
// busy to run both threads together the result is then inconclusive).
constexpr long kEnoughReorderings = 50;
constexpr long kMinRounds = 400000;
constexpr long kMaxRounds = 4000000;
constexpr auto kTimeBudget = std::chrono::seconds(10);

struct Outcomes {
  long rounds = 0;
  long both_saw = 0;     // sequentially consistent
  long reader_only = 0;  // the reader saw the store; the writer missed the section
  long writer_only = 0;  // the writer saw the section; the reader read the old number
  long forbidden = 0;    // neither saw the other

  void Count(bool reader_saw, bool writer_saw) {
    ++rounds;
    if (reader_saw && writer_saw) ++both_saw;
    if (reader_saw && !writer_saw) ++reader_only;
    if (!reader_saw && writer_saw) ++writer_only;
    if (!reader_saw && !writer_saw) ++forbidden;
  }
};

struct Litmus {
  bool fenced = false;  // the reader's sections take the fenced path
  Outcomes checked;     // even rounds: the read side as it is
  Outcomes calibrated;  // odd rounds: the same path without the fence
};

// Two threads meet at each round: both have arrived at round `round` once
// the count reaches 2 * round. Spins first (both threads running is when the
// round can show anything), then polls with short sleeps, so that on a busy
// or single CPU the other thread gets to run.
void Meet(std::atomic<long>& arrived, long round) {
  arrived.fetch_add(1, std::memory_order_acq_rel);
  int spins = 0;
  while (arrived.load(std::memory_order_acquire) < 2 * round) {
    if (++spins > 1000) {
      std::this_thread::sleep_for(std::chrono::microseconds(20));  // polling pace
    } else {
      Pause();
    }
  }
}

// Whether this process's read side fences (membarrier() unavailable).
bool ReadSideFencesHere() {
  bool fenced = false;
  std::thread([&] {
    { rcu::ReadGuard registers; }
    fenced = (rcu::internal::reader_word & 1) != 0;
  }).join();
  return fenced;
}

Litmus RunLitmus() {
  // What the reader saw in a round, read by the writer after the next
  // meeting (which orders it): two slots, since the reader fills the next
  // round's while the writer reads the last one's.
  struct Seen {
    unsigned long before = 0;  // the reader's word before its section
    unsigned long read = 0;    // `published`, read inside the section
  };
  Seen seen[2];
  std::atomic<unsigned long> published{0};
  std::atomic<unsigned long*> reader_word{nullptr};
  std::atomic<long> arrived{0};
  std::atomic<long> last_round{std::numeric_limits<long>::max()};  // lowered to stop
  Litmus litmus;

  std::thread reader([&] {
    { rcu::ReadGuard registers; }
    const std::uintptr_t tagged = rcu::internal::reader_word;
    litmus.fenced = (tagged & 1) != 0 && rcu::internal::fast_reader_word == nullptr;
    unsigned long* word = reinterpret_cast<unsigned long*>(tagged & ~std::uintptr_t{1});
    reader_word.store(word, std::memory_order_release);
    for (long round = 1;; ++round) {
      Meet(arrived, round);
      if (round > last_round.load(std::memory_order_relaxed)) break;
      Seen& s = seen[round & 1];
      s.before = __atomic_load_n(word, __ATOMIC_RELAXED);
      // Odd rounds calibrate: bit 0 of the tagged word is what makes
      // ReadLockSlow() fence (fast_reader_word stays null, so the section
      // still takes that path).
      rcu::internal::reader_word = (round & 1) != 0 ? tagged & ~std::uintptr_t{1} : tagged;
      {
        rcu::ReadGuard section;
        s.read = published.load(std::memory_order_relaxed);
      }
      rcu::internal::reader_word = tagged;
    }
  });
  unsigned long* word = nullptr;
  while ((word = reader_word.load(std::memory_order_acquire)) == nullptr) std::this_thread::yield();
  const auto deadline = std::chrono::steady_clock::now() + kTimeBudget;
  // Round `round`'s outcome, once the reader has arrived at the next one.
  auto count = [&](long round, unsigned long writer_read) {
    const Seen& s = seen[round & 1];
    const bool reader_saw = s.read >= static_cast<unsigned long>(round);
    // Every section stores a new section number (OutermostSectionWord), so
    // the word differs from `before` once this round's section has begun.
    const bool writer_saw = writer_read != s.before;
    ((round & 1) != 0 ? litmus.calibrated : litmus.checked).Count(reader_saw, writer_saw);
  };
  long round = 1;
  unsigned long writer_read = 0;  // the writer's read of the word in round - 1
  for (;; ++round) {
    if ((round & 15) == 0 &&
        (round > kMaxRounds ||
         (round > kMinRounds && litmus.calibrated.forbidden >= kEnoughReorderings) ||
         std::chrono::steady_clock::now() > deadline)) {
      last_round.store(round - 1, std::memory_order_relaxed);  // seen after this meeting
      Meet(arrived, round);
      break;
    }
    Meet(arrived, round);
    for (long i = (round >> 1) & 63; i > 0; --i) Pause();
    published.store(static_cast<unsigned long>(round), std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // synchronize_rcu()'s smp_mb()
    const unsigned long read_now = __atomic_load_n(word, __ATOMIC_RELAXED);
    // The last round's, out of this round's window (the reader fills its
    // slot again only after the next meeting).
    if (round > 1) count(round - 1, writer_read);
    writer_read = read_now;
  }
  reader.join();
  if (round > 1) count(round - 1, writer_read);
  return litmus;
}

void Print(const char* name, const Outcomes& o) {
  std::printf(
      "%s: %ld rounds; both saw the other %ld, only the reader %ld, only the writer %ld, "
      "neither %ld\n",
      name, o.rounds, o.both_saw, o.reader_only, o.writer_only, o.forbidden);
  std::fflush(stdout);
}

// The check, in a process where membarrier() is refused.
void CheckNeitherMissesTheOther() {
  const Litmus litmus = RunLitmus();
  Print("without membarrier(), the read side as it is (neither must be 0)", litmus.checked);
  Print("the same without the reader's fence (neither shows the check can see it)",
        litmus.calibrated);
  ASSERT_TRUE(litmus.fenced) << "membarrier() was refused, yet the reader took the unfenced path";
  EXPECT_GT(litmus.checked.rounds, 0);
  EXPECT_EQ(litmus.checked.forbidden, 0)
      << "a section's first load passed the store that began it: a grace period could miss "
         "the reader and free what it reads";
  if (litmus.calibrated.forbidden == 0) {
    GTEST_SKIP() << "inconclusive: without the fence this machine showed no reordering in "
                 << litmus.calibrated.rounds
                 << " rounds (one CPU, or too busy to run both threads at once)";
  }
}

TEST(ReadSideFenceTest, SectionBeginIsOrderedBeforeItsLoadsWithoutMembarrier) {
  if (rcu_test::InProcessWithoutMembarrier()) GTEST_SKIP() << "the parent runs this";
  if (ReadSideFencesHere()) {  // this kernel has no membarrier(): the check runs here
    CheckNeitherMissesTheOther();
    return;
  }
  const rcu_test::ChildOutcome child = rcu_test::RunTestsWithoutMembarrier("ReadSideFenceChild.*");
  if (child.filter_refused) GTEST_SKIP() << child.why;
  EXPECT_TRUE(child.passed) << child.why;
}

TEST(ReadSideFenceChild, NeitherMissesTheOther) {
  if (!rcu_test::InProcessWithoutMembarrier()) GTEST_SKIP() << "runs in the re-executed child";
  CheckNeitherMissesTheOther();
}

#else
TEST(ReadSideFenceTest, NeedsTheInlineReadSide) {
  GTEST_SKIP() << "call mode (liburcu's own read side) or an architecture without the litmus";
}
#endif

}  // namespace
