// Regression tests for the RCU lists from the outside review of issue 10
// (review/REPORT.md there): each reproduces one reported bug
// deterministically.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <type_traits>
#include <vector>

#include "containers/intrusive_rcu_list.h"
#include "containers/rcu_list.h"
#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/diagnostics.h"
#include "rcu/mutex.h"
#include "rcu/read_guard.h"
#include "tests/util/backlog_probe.h"

namespace {

// --- Bug 1: the iterators promised multi-pass (forward_iterator_tag) ----------

template <typename It>
constexpr bool kIsInputOnly =
    std::is_same_v<typename std::iterator_traits<It>::iterator_category, std::input_iterator_tag>;

struct Hooked {
  rcu::IntrusiveListHook hook;
};
static_assert(kIsInputOnly<rcu::RcuList<int>::const_iterator>);
static_assert(kIsInputOnly<rcu::ExternallyLockedRcuList<int>::const_iterator>);
static_assert(kIsInputOnly<rcu::IntrusiveRcuList<Hooked, &Hooked::hook>::const_iterator>);

// An element whose first copy appends another element to the list it is
// copied out of: a writer that runs between std::distance's pass and the
// copying pass of std::vector's range constructor, made deterministic.
rcu::RcuList<struct GrowOnCopy>* grow_target = nullptr;
int grow_copies_left = 0;
struct GrowOnCopy {
  explicit GrowOnCopy(long v) : value(v) {}
  GrowOnCopy(const GrowOnCopy& other) : value(other.value) {
    if (grow_target != nullptr && grow_copies_left > 0) {
      --grow_copies_left;
      grow_target->emplace_back(1000 + value);  // a writer, inside the reader's section
    }
  }
  GrowOnCopy& operator=(const GrowOnCopy&) = default;
  long value;
};

TEST(ListIteratorTest, VectorFromARangeThatGrowsDuringTheCopy) {
  rcu::RcuList<GrowOnCopy> list;
  for (long i = 0; i < 8; ++i) list.emplace_back(i);
  grow_target = &list;
  grow_copies_left = 1;
  std::vector<GrowOnCopy> copy;
  {
    rcu::ReadGuard guard;
    auto range = list.Iterate(guard);
    copy = std::vector<GrowOnCopy>(range.begin(), range.end());
  }
  grow_target = nullptr;
  // A multi-pass constructor would have counted 8, allocated 8 and written 9.
  std::printf("copied %zu elements into a vector of capacity %zu\n", copy.size(), copy.capacity());
  ASSERT_LE(copy.size(), copy.capacity());
  ASSERT_EQ(copy.size(), 9u);  // the element appended meanwhile was reached
  for (long i = 0; i < 8; ++i) EXPECT_EQ(copy[static_cast<std::size_t>(i)].value, i);
  EXPECT_EQ(copy[8].value, 1000);
}

// --- Bug 5: positional writes inside a ReadGuard escaped backpressure ----------

using rcu_test::kProbeBound;
using rcu_test::kProbeLimit;
using rcu_test::kProbeOps;

TEST(ListBacklogTest, ReplaceInsideAReadGuardIsHeldToTheLimit) {
  rcu::RcuList<int> list;
  for (int i = 0; i < 100; ++i) list.push_back(i);
  const std::uint64_t peak = rcu_test::PeakUnderStalledReader(kProbeLimit, kProbeOps, [&](int i) {
    rcu::ReadGuard guard;  // the header's read-copy-update loop
    list.replace(list.Iterate(guard).begin(), i);
  });
  std::printf("RcuList {ReadGuard; replace(it, v)}: peak backlog %llu (limit %zu, %d ops)\n",
              static_cast<unsigned long long>(peak), kProbeLimit, kProbeOps);
  EXPECT_LE(peak, kProbeBound);
}

TEST(ListBacklogTest, EraseInsideAReadGuardIsHeldToTheLimit) {
  rcu::RcuList<int> list;
  const std::uint64_t peak = rcu_test::PeakUnderStalledReader(kProbeLimit, kProbeOps, [&](int i) {
    list.push_back(i);
    rcu::ReadGuard guard;
    list.erase(list.Iterate(guard).begin());
  });
  std::printf("RcuList push_back; {ReadGuard; erase(begin)}: peak backlog %llu\n",
              static_cast<unsigned long long>(peak));
  EXPECT_LE(peak, kProbeBound);
}

// --- Bug 6: a clear() of N elements counted as one callback -----------------------

// A refresh loop (refill, clear) beside a stalled reader: the elements that
// wait to be freed are bounded by the limit, not by limit x list size.
TEST(ListBacklogTest, ClearStormIsBoundedByElements) {
  constexpr int kElements = 1000;
  rcu::RcuList<rcu_test::LiveCounted> list;
  const std::uint64_t peak = rcu_test::PeakUnderStalledReader(
      kProbeLimit, 400,
      [&](int) {
        for (int i = 0; i < kElements; ++i) list.emplace_back();
        list.clear();
      },
      &rcu_test::LiveCounted::Live);
  std::printf("RcuList refresh loop of %d elements: peak %llu elements alive (limit %zu)\n",
              kElements, static_cast<unsigned long long>(peak), kProbeLimit);
  EXPECT_LE(peak, 2 * kProbeLimit + kElements);
}

// --- Bug 13: relinking an object whose disposer has not run -----------------------

struct Item {
  explicit Item(int i) : id(i) {}
  int id;
  rcu::IntrusiveListHook hook;
};
using ItemList = rcu::IntrusiveRcuList<Item, &Item::hook>;

// remove_if() chains the removed objects through their hooks until the
// disposer runs; linking one again before that used to overwrite the chain
// (disposing of linked objects, skipping others). Now it is reported.
void RelinkPendingAfterRemoveIf() {
  rcu::Mutex mu;
  ItemList list;
  Item a(1), b(2), c(3);
  rcu::ReadGuard guard;  // keeps the disposal from running before the relink
  rcu::MutexLock lock(mu);
  list.push_back(mu, a);
  list.push_back(mu, b);
  list.push_back(mu, c);
  list.remove_if(
      mu, [](const Item& i) { return i.id <= 2; }, [](Item*) {});
  list.push_back(mu, b);  // b's disposer has not run
}

void ReplaceWithPendingAfterClear() {
  rcu::Mutex mu;
  ItemList list;
  Item a(1), b(2), c(3);
  rcu::ReadGuard guard;
  rcu::MutexLock lock(mu);
  list.push_back(mu, a);
  list.push_back(mu, b);
  list.clear(mu, [](Item*) {});
  list.push_back(mu, c);
  list.replace(mu, ItemList::iterator_to(c), a);  // a's disposer has not run
}

TEST(IntrusiveMisuseDeathTest, RelinkBeforeTheDisposerRunsIsReported) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(RelinkPendingAfterRemoveIf(),
               "IntrusiveRcuList: linking an object that remove_if\\(\\) or clear\\(\\) "
               "removed before its disposer has run");
}

TEST(IntrusiveMisuseDeathTest, ReplaceWithAnObjectPendingDisposalIsReported) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(ReplaceWithPendingAfterClear(), "before its disposer has run");
}

// Linking again from the disposer, or after it has run, is fine.
TEST(IntrusiveMisuseTest, RelinkAfterTheDisposerRanWorks) {
  rcu::Mutex mu;
  ItemList list;
  Item a(1), b(2);
  {
    rcu::MutexLock lock(mu);
    list.push_back(mu, a);
    list.push_back(mu, b);
    list.remove_if(
        mu, [](const Item& i) { return i.id == 1; }, [](Item*) {});
  }
  rcu::Barrier();  // the disposer has run
  {
    rcu::MutexLock lock(mu);
    list.push_back(mu, a);
    EXPECT_EQ(list.size(), 2u);
    list.clear(mu, [](Item*) {});
  }
  rcu::Barrier();  // before the objects go
}

}  // namespace
