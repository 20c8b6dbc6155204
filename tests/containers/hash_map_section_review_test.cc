// Review of the read side's fast-path word (c0da556) from the hash map's
// side: iterators that own read-side sections (find(key) without a guard,
// their copies and moves) leave sections through the thread's word, not a
// word each iterator kept. A write made while one is alive owes the backlog
// wait, which must be paid when the thread's outermost section ends (the
// last iterator that owns one), and not when a copy's nested section ends.
//
// Deterministic: callbacks queued inside the thread's own section cannot be
// invoked until that section ends, so the backlog stays over a limit of 2
// until then, and a BacklogHold keeps it there past the end until the thread
// has waited (the payment), so that the worker cannot drain it first.
#include <atomic>
#include <string>
#include <thread>
#include <utility>

#include "containers/hash_map.h"
#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/internal/callbacks.h"
#include "rcu/read_guard.h"
#include "tests/util/backlog_hold.h"

namespace {

// std::string values: erased entries go to the RCU core one by one (not to
// the node recycler's batches), so one erase queues one callback.
using Map = rcu::HashMap<int, std::string>;

void Fill(Map& m) {
  for (int i = 0; i < 16; ++i) m.insert_or_assign(i, std::to_string(i));
}

// Inside a section: three callbacks that the section keeps pending, over a
// limit of 2. `ran` counts those that ran.
void PendOverTheLimit(std::atomic<int>& ran) {
  rcu::SetCallbackBacklogLimit(1000);
  for (int i = 0; i < 3; ++i) rcu::CallRcu([&ran] { ran.fetch_add(1); });
  rcu::SetCallbackBacklogLimit(2);
}

TEST(HashMapSectionReviewTest, IteratorSectionsPayTheDebtWhenTheLastOwnerEnds) {
  Map m;
  Fill(m);
  // A fresh thread, so that the iterator's section is the thread's first
  // (the one that registers it, out of line).
  std::thread([&] {
    const std::size_t old_limit = rcu::CallbackBacklogLimit();
    rcu::Barrier();
    rcu_test::BacklogHold hold;
    {
      auto it = m.find(1);  // owns the thread's outermost section
      ASSERT_NE(it, m.end());
      ASSERT_TRUE(rcu::InReadSection());
      std::atomic<int> ran{0};
      PendOverTheLimit(ran);

      auto copy = it;                // a nested section of its own
      auto moved = std::move(copy);  // the same nested section
      EXPECT_EQ(m.erase(2), 1u);     // retires inside: owes the wait
      EXPECT_TRUE(rcu::internal::backlog_debt) << "no debt: the test checked nothing";
      { auto other = m.find(3); }  // a nested section ends
      moved = m.end();             // the copy's section ends
      EXPECT_TRUE(rcu::internal::backlog_debt) << "a nested section's end paid the debt";
      EXPECT_FALSE(hold.Waited()) << "waited inside a section";
      EXPECT_TRUE(rcu::InReadSection()) << "a copy's end closed the original's section";
      EXPECT_EQ(it->second, "1");
      EXPECT_EQ(ran.load(), 0);
    }
    hold.Returned();
    EXPECT_FALSE(rcu::internal::backlog_debt) << "the last owner's end did not pay";
    EXPECT_TRUE(hold.Waited()) << "the debt was dropped, not paid";
    EXPECT_FALSE(rcu::InReadSection());
    rcu::SetCallbackBacklogLimit(old_limit);
    rcu::Barrier();
  }).join();
}

// The same through a ReadGuard the user holds around the iterators: their
// sections nest in it, and only the guard's end pays.
TEST(HashMapSectionReviewTest, IteratorsInsideAGuardLeaveThePayingToIt) {
  Map m;
  Fill(m);
  std::thread([&] {
    const std::size_t old_limit = rcu::CallbackBacklogLimit();
    rcu::Barrier();
    rcu_test::BacklogHold hold;
    {
      rcu::ReadGuard guard;
      std::atomic<int> ran{0};
      PendOverTheLimit(ran);
      {
        auto it = m.find(1);
        auto copy = it;
        EXPECT_EQ(m.erase(4), 1u);
        EXPECT_TRUE(rcu::internal::backlog_debt) << "no debt: the test checked nothing";
      }
      EXPECT_TRUE(rcu::internal::backlog_debt) << "an iterator's nested end paid the debt";
      EXPECT_FALSE(hold.Waited()) << "waited inside a section";
      EXPECT_TRUE(rcu::InReadSection());
    }
    hold.Returned();
    EXPECT_FALSE(rcu::internal::backlog_debt) << "the guard's end did not pay";
    EXPECT_TRUE(hold.Waited()) << "the debt was dropped, not paid";
    rcu::SetCallbackBacklogLimit(old_limit);
    rcu::Barrier();
  }).join();
}

}  // namespace
