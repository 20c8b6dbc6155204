// Unit tests of the linearizability checker (stress/linearizability.h) on
// small hand-made histories whose verdict is known, including the classic
// non-linearizable ones, so that the stress test's "PASS" means something.
#include "stress/linearizability.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace {

using stress::lin::Check;
using stress::lin::kAbsent;
using stress::lin::Op;

Op Write(std::uint64_t call, std::uint64_t ret, std::uint64_t value) {
  Op op;
  op.call = call;
  op.ret = ret;
  op.effect = Op::Effect::kSet;
  op.value = value;
  return op;
}

Op Read(std::uint64_t call, std::uint64_t ret, std::uint64_t seen) {
  Op op;
  op.call = call;
  op.ret = ret;
  op.expect = Op::Expect::kEquals;
  op.expected = seen;
  return op;
}

// Compare-and-set: expects `from`, leaves `to`.
Op Cas(std::uint64_t call, std::uint64_t ret, std::uint64_t from, std::uint64_t to) {
  Op op = Read(call, ret, from);
  op.effect = Op::Effect::kSet;
  op.value = to;
  return op;
}

TEST(LinearizabilityTest, EmptyAndSequentialHistories) {
  EXPECT_TRUE(Check({}, kAbsent).linearizable);
  EXPECT_TRUE(
      Check({Write(1, 2, 7), Read(3, 4, 7), Write(5, 6, kAbsent), Read(7, 8, kAbsent)}, kAbsent)
          .linearizable);
  EXPECT_FALSE(Check({Write(1, 2, 7), Read(3, 4, kAbsent)}, kAbsent).linearizable);
  EXPECT_TRUE(Check({Read(1, 2, 5)}, 5).linearizable);  // the initial state counts
  EXPECT_FALSE(Check({Read(1, 2, 5)}, kAbsent).linearizable);
}

TEST(LinearizabilityTest, OverlappingOperationsMayTakeEffectInEitherOrder) {
  // The read overlaps the write: it may see the value before or after.
  EXPECT_TRUE(Check({Write(1, 4, 7), Read(2, 3, kAbsent)}, kAbsent).linearizable);
  EXPECT_TRUE(Check({Write(1, 4, 7), Read(2, 3, 7)}, kAbsent).linearizable);
  // A read that returned before the write was called cannot see it.
  EXPECT_FALSE(Check({Read(1, 2, 7), Write(3, 4, 7)}, kAbsent).linearizable);
}

TEST(LinearizabilityTest, StaleReadAfterAWriteCompletedIsCaught) {
  // Write 1, then write 2 (completed), then a read returns 1: stale.
  EXPECT_FALSE(Check({Write(1, 2, 1), Write(3, 4, 2), Read(5, 6, 1)}, kAbsent).linearizable);
  // The same read overlapping the second write is fine.
  EXPECT_TRUE(Check({Write(1, 2, 1), Write(3, 6, 2), Read(4, 5, 1)}, kAbsent).linearizable);
}

TEST(LinearizabilityTest, ReadersThatDisagreeOnTheOrderOfTwoWrites) {
  // Two concurrent writes; one reader sees 1 then 2, another 2 then 1, all
  // after both writes were called. No single order explains both.
  std::vector<Op> ops = {Write(1, 20, 1), Write(2, 20, 2), Read(3, 4, 1),
                         Read(5, 6, 2),   Read(7, 8, 2),   Read(9, 10, 1)};
  EXPECT_FALSE(Check(ops, kAbsent).linearizable);
  ops.pop_back();
  EXPECT_TRUE(Check(ops, kAbsent).linearizable);
}

TEST(LinearizabilityTest, CompareAndSetChainsMustNotFork) {
  // Two updates both claim to have replaced 1: only one can have.
  EXPECT_FALSE(Check({Write(1, 2, 1), Cas(3, 10, 1, 2), Cas(4, 11, 1, 3)}, kAbsent).linearizable);
  EXPECT_TRUE(Check({Write(1, 2, 1), Cas(3, 10, 1, 2), Cas(4, 11, 2, 3)}, kAbsent).linearizable);
}

TEST(LinearizabilityTest, ConditionalEffects) {
  // insert (result unknown) over a present key keeps the value.
  Op insert;
  insert.call = 3;
  insert.ret = 4;
  insert.effect = Op::Effect::kSetIfAbsent;
  insert.value = 9;
  EXPECT_TRUE(Check({Write(1, 2, 5), insert, Read(5, 6, 5)}, kAbsent).linearizable);
  EXPECT_FALSE(Check({Write(1, 2, 5), insert, Read(5, 6, 9)}, kAbsent).linearizable);
  // erase of entry 5 after it was replaced by 6 does nothing.
  Op erase;
  erase.call = 5;
  erase.ret = 6;
  erase.effect = Op::Effect::kEraseIfEquals;
  erase.value = 5;
  EXPECT_TRUE(Check({Write(1, 2, 5), Write(3, 4, 6), erase, Read(7, 8, 6)}, kAbsent).linearizable);
  EXPECT_FALSE(
      Check({Write(1, 2, 5), Write(3, 4, 6), erase, Read(7, 8, kAbsent)}, kAbsent).linearizable);
}

TEST(LinearizabilityTest, ReportsWhereTheSearchGotStuck) {
  std::vector<Op> ops = {Write(1, 2, 1), Write(3, 4, 2), Read(5, 6, 1)};
  const stress::lin::Result r = Check(ops, kAbsent);
  ASSERT_FALSE(r.linearizable);
  EXPECT_EQ(r.deepest, 2u);
  EXPECT_EQ(r.stuck, 2u);
}

TEST(LinearizabilityTest, ManyConcurrentOperationsStayTractable) {
  // 12 fully concurrent writes and a read of one of them: legal, and the
  // cache keeps the search near 2^12 configurations rather than 12!.
  std::vector<Op> ops;
  for (std::uint64_t i = 0; i < 12; ++i) ops.push_back(Write(1 + i, 100 + i, 1 + i));
  ops.push_back(Read(200, 201, 7));
  const stress::lin::Result r = Check(ops, kAbsent);
  EXPECT_TRUE(r.linearizable);
  EXPECT_FALSE(r.undecided);
  EXPECT_LT(r.states, 12u << 12);
}

}  // namespace
