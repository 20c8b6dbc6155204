// Regression tests for the RCU lists from the outside review of issue 10
// (review/REPORT.md there): each reproduces one reported bug
// deterministically.
#include <cstdio>
#include <iterator>
#include <type_traits>
#include <vector>

#include "containers/intrusive_rcu_list.h"
#include "containers/rcu_list.h"
#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/read_guard.h"

namespace {

// --- Bug 1: the iterators promised multi-pass (forward_iterator_tag) ----------

template <typename It>
constexpr bool kIsInputOnly =
    std::is_same_v<typename std::iterator_traits<It>::iterator_category,
                   std::input_iterator_tag>;

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
  std::printf("copied %zu elements into a vector of capacity %zu\n", copy.size(),
              copy.capacity());
  ASSERT_LE(copy.size(), copy.capacity());
  ASSERT_EQ(copy.size(), 9u);  // the element appended meanwhile was reached
  for (long i = 0; i < 8; ++i) EXPECT_EQ(copy[static_cast<std::size_t>(i)].value, i);
  EXPECT_EQ(copy[8].value, 1000);
}

}  // namespace
