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
// The same rounds run first in this process, where membarrier() is in use and
// the read side rightly has no fence: there the forbidden outcome is allowed
// (the emulated writer sends no membarrier()), and the count shows whether
// this machine, at this moment, lets the test see the reordering at all. It
// is printed, not asserted: a single CPU, or a busy machine that rarely runs
// both threads at once, shows none. The child, re-executed with membarrier()
// refused (tests/util/no_membarrier.h), must show none.
//
// Negative control: with ReaderFence()'s full fence (rcu/internal/read_side.cc)
// made a compiler-only fence, the child counts forbidden outcomes.
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

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

constexpr long kRounds = 400000;
// Stops early, with the rounds done so far, on a machine too busy to run
// both threads together (checked every 16 rounds; not an assertion).
constexpr auto kTimeBudget = std::chrono::seconds(5);

struct Outcomes {
  long rounds = 0;
  long both_saw = 0;     // sequentially consistent
  long reader_only = 0;  // the reader saw the store; the writer missed the section
  long writer_only = 0;  // the writer saw the section; the reader read the old number
  long forbidden = 0;    // neither saw the other
  bool fenced = false;   // the reader took the fenced path
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

Outcomes RunLitmus() {
  std::atomic<unsigned long> published{0};
  std::atomic<unsigned long*> reader_word{nullptr};
  std::atomic<long> arrived{0};
  std::atomic<long> last_round{kRounds};  // lowered when time runs out
  std::vector<unsigned long> before(kRounds + 1), after_writer(kRounds + 1), read(kRounds + 1);
  bool fenced = false;
  long rounds_done = 0;

  std::thread reader([&] {
    { rcu::ReadGuard registers; }
    fenced = (rcu::internal::reader_word & 1) != 0 && rcu::internal::fast_reader_word == nullptr;
    unsigned long* word = reinterpret_cast<unsigned long*>(rcu::internal::reader_word & ~1ul);
    reader_word.store(word, std::memory_order_release);
    for (long round = 1; round <= kRounds; ++round) {
      Meet(arrived, round);
      if (round > last_round.load(std::memory_order_relaxed)) break;
      before[round] = __atomic_load_n(word, __ATOMIC_RELAXED);
      rcu::ReadGuard section;
      read[round] = published.load(std::memory_order_relaxed);
    }
  });
  unsigned long* word = nullptr;
  while ((word = reader_word.load(std::memory_order_acquire)) == nullptr) std::this_thread::yield();
  const auto deadline = std::chrono::steady_clock::now() + kTimeBudget;
  for (long round = 1; round <= kRounds; ++round) {
    if ((round & 15) == 0 && std::chrono::steady_clock::now() > deadline) {
      last_round.store(round - 1, std::memory_order_relaxed);  // seen after this meeting
      Meet(arrived, round);
      break;
    }
    Meet(arrived, round);
    for (long i = round & 63; i > 0; --i) Pause();
    published.store(static_cast<unsigned long>(round), std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // synchronize_rcu()'s smp_mb()
    after_writer[round] = __atomic_load_n(word, __ATOMIC_RELAXED);
    rounds_done = round;
  }
  reader.join();

  Outcomes outcomes;
  outcomes.fenced = fenced;
  outcomes.rounds = rounds_done;
  for (long round = 1; round <= rounds_done; ++round) {
    const bool reader_saw = read[round] >= static_cast<unsigned long>(round);
    // Every section stores a new section number (OutermostSectionWord), so
    // the word differs from `before` once this round's section has begun.
    const bool writer_saw = after_writer[round] != before[round];
    if (reader_saw && writer_saw) ++outcomes.both_saw;
    if (reader_saw && !writer_saw) ++outcomes.reader_only;
    if (!reader_saw && writer_saw) ++outcomes.writer_only;
    if (!reader_saw && !writer_saw) ++outcomes.forbidden;
  }
  return outcomes;
}

void Print(const char* where, const Outcomes& o) {
  std::printf(
      "%s: %ld rounds; both saw the other %ld, only the reader %ld, only the writer %ld, "
      "neither %ld\n",
      where, o.rounds, o.both_saw, o.reader_only, o.writer_only, o.forbidden);
  std::fflush(stdout);
}

TEST(ReadSideFenceTest, SectionBeginIsOrderedBeforeItsLoadsWithoutMembarrier) {
  if (rcu_test::InProcessWithoutMembarrier()) GTEST_SKIP() << "the parent runs this";
  const Outcomes unfenced = RunLitmus();
  if (unfenced.fenced) {  // this kernel has no membarrier(): this run is the check
    Print("without membarrier() (the reader fences)", unfenced);
    EXPECT_EQ(unfenced.forbidden, 0) << "a section's first load passed the store that began it";
    return;
  }
  Print("with membarrier() (no reader fence; neither is allowed here)", unfenced);
  const int status = rcu_test::RunTestsWithoutMembarrier("ReadSideFenceChild.*");
  ASSERT_TRUE(WIFEXITED(status)) << "the child died: status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child failed (its output is above)";
}

TEST(ReadSideFenceChild, NeitherMissesTheOther) {
  if (!rcu_test::InProcessWithoutMembarrier()) GTEST_SKIP() << "runs in the re-executed child";
  const Outcomes fenced = RunLitmus();
  Print("without membarrier() (the reader fences)", fenced);
  ASSERT_TRUE(fenced.fenced) << "membarrier() was refused, yet the reader took the unfenced path";
  EXPECT_GT(fenced.rounds, 0);
  EXPECT_EQ(fenced.forbidden, 0)
      << "a section's first load passed the store that began it: a grace period could miss "
         "the reader and free what it reads";
}

#else
TEST(ReadSideFenceTest, NeedsTheInlineReadSide) {
  GTEST_SKIP() << "call mode (liburcu's own read side) or an architecture without the litmus";
}
#endif

}  // namespace
