// Unit tests of rcu::RcuList, rcu::RcuListWriter and
// rcu::ExternallyLockedRcuList (containers/rcu_list.h).
#include "containers/rcu_list.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/mutex.h"
#include "rcu/read_guard.h"
#include "rcu/stats.h"
#include "tests/util/test_util.h"

namespace {

template <typename List>
std::vector<typename List::value_type> Contents(const List& list) {
  rcu::ReadGuard guard;
  std::vector<typename List::value_type> out;
  for (const auto& x : list.Iterate(guard)) out.push_back(x);
  return out;
}

template <typename List>
typename List::const_iterator Find(const List& list, const rcu::ReadGuard& guard,
                                   const typename List::value_type& value) {
  auto range = list.Iterate(guard);
  return std::find(range.begin(), range.end(), value);
}

template <typename List>
std::size_t Count(const List& list) {
  rcu::ReadGuard guard;
  auto range = list.Iterate(guard);
  return static_cast<std::size_t>(std::distance(range.begin(), range.end()));
}

using Ints = std::vector<int>;

// Counts live instances and poisons itself when destroyed, so that a reader
// that reaches a destroyed value can tell.
constexpr std::uint64_t kLive = 0x4c495645'4c495354;  // "LIVELIST"
constexpr std::uint64_t kDead = 0xdeadbeef'deadbeef;
std::atomic<int> tracked_live{0};

struct Tracked {
  explicit Tracked(int v) : value(v) { tracked_live.fetch_add(1); }
  Tracked(const Tracked& other) : value(other.value) { tracked_live.fetch_add(1); }
  ~Tracked() {
    magic = kDead;
    value = -1;
    tracked_live.fetch_sub(1);
  }
  bool operator==(int v) const { return value == v; }

  int value;
  std::uint64_t magic = kLive;
};

// ---------------------------------------------------------------------------
// The examples of rcu_list.h's file comment, as written there.

struct Rule {
  std::string user;
  bool allow;
};

class RuleBook {
 public:
  bool Allowed(std::string_view user) {  // readers: any thread
    rcu::ReadGuard guard;
    for (const Rule& rule : rules.Iterate(guard)) {
      if (rule.user == user) return rule.allow;
    }
    return false;
  }

  void Deny(std::string_view user) {  // read, copy, update
    rcu::ReadGuard guard;
    auto all = rules.Iterate(guard);
    for (auto it = all.begin(); it != all.end(); ++it) {
      if (it->user != user) continue;
      Rule denied = *it;
      denied.allow = false;
      rules.replace(it, std::move(denied));  // false: `it` was removed
    }                                        // meanwhile (retry, or not)
  }

  bool InsertSorted(const Rule& rule) {
    return rules.Update([&](rcu::RcuList<Rule>::Writer& w) {  // keep sorted by user
      for (auto it = w.begin(); it != w.end(); ++it) {
        if (it->user > rule.user) return w.insert_before(it, rule);
      }
      w.push_back(rule);
      return true;
    });
  }

  rcu::RcuList<Rule> rules;  // owns its writers' mutex
};

class LockedRuleBook {
 public:
  void Add(Rule rule) {
    rcu::MutexLock lock(mu);
    rules.push_back(mu, std::move(rule));
    ++generation;
  }
  int Generation() {
    rcu::MutexLock lock(mu);
    return generation;
  }

  rcu::Mutex mu;
  rcu::ExternallyLockedRcuList<Rule> rules;
  int generation ABSL_GUARDED_BY(mu) = 0;
};

TEST(RcuListTest, FileCommentExamples) {
  RuleBook book;
  book.rules.push_back({"root", true});  // writers lock internally
  book.rules.push_back({"", true});
  book.rules.remove_if([](const Rule& r) { return r.user.empty(); });
  EXPECT_TRUE(book.InsertSorted({"alice", true}));
  EXPECT_TRUE(book.InsertSorted({"zed", false}));
  EXPECT_TRUE(book.Allowed("root"));
  book.Deny("root");
  EXPECT_FALSE(book.Allowed("root"));
  EXPECT_TRUE(book.Allowed("alice"));
  std::vector<std::string> users;
  {
    rcu::ReadGuard guard;
    for (const Rule& r : book.rules.Iterate(guard)) users.push_back(r.user);
  }
  EXPECT_EQ(users, (std::vector<std::string>{"alice", "root", "zed"}));

  LockedRuleBook locked;
  locked.Add({"bob", true});
  EXPECT_EQ(locked.Generation(), 1);
  EXPECT_EQ(locked.rules.size(), 1u);
}

// ---------------------------------------------------------------------------
// Every operation, single-threaded.

TEST(RcuListTest, StartsEmpty) {
  rcu::RcuList<int> list;
  EXPECT_EQ(list.size(), 0u);
  EXPECT_TRUE(list.empty());
  rcu::ReadGuard guard;
  auto range = list.Iterate(guard);
  EXPECT_TRUE(range.empty());
  EXPECT_EQ(range.begin(), range.end());
}

TEST(RcuListTest, PushFrontAndBack) {
  rcu::RcuList<int> list;
  list.push_back(2);
  list.push_back(3);
  list.push_front(1);
  const int zero = 0;
  list.push_front(zero);
  EXPECT_EQ(Contents(list), (Ints{0, 1, 2, 3}));
  EXPECT_EQ(list.size(), 4u);
  EXPECT_FALSE(list.empty());
}

TEST(RcuListTest, InitializerList) {
  rcu::RcuList<std::string> list{"a", "b", "c"};
  EXPECT_EQ(Contents(list), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(RcuListTest, EmplaceConstructsInPlace) {
  rcu::RcuList<std::string> list;
  list.emplace_back(3, 'x');
  list.emplace_front("front");
  EXPECT_EQ(Contents(list), (std::vector<std::string>{"front", "xxx"}));
}

TEST(RcuListTest, EmplaceAggregates) {
  struct Point {
    int x;
    int y;
  };
  rcu::RcuList<Point> list;
  list.emplace_back(1, 2);
  rcu::ReadGuard guard;
  const Point& p = *list.Iterate(guard).begin();
  EXPECT_EQ(p.x, 1);
  EXPECT_EQ(p.y, 2);
}

TEST(RcuListTest, IteratorsAreInputIterators) {
  rcu::RcuList<std::string> list{"a", "bb", "ccc"};
  rcu::ReadGuard guard;
  auto range = list.Iterate(guard);
  auto it = range.begin();
  EXPECT_EQ(it->size(), 1u);
  auto old = it++;
  EXPECT_EQ(*old, "a");
  EXPECT_EQ(*it, "bb");
  EXPECT_EQ(*++it, "ccc");
  EXPECT_EQ(++it, range.end());
  EXPECT_EQ(std::distance(range.begin(), range.end()), 3);
  EXPECT_TRUE(std::is_sorted(range.begin(), range.end()));
  static_assert(std::is_same_v<decltype(*range.begin()), const std::string&>);
  static_assert(
      std::is_same_v<std::iterator_traits<rcu::RcuList<int>::const_iterator>::iterator_category,
                     std::input_iterator_tag>);  // one pass: see rcu_list_links.h
}

TEST(RcuListTest, InsertAfterAndBefore) {
  rcu::RcuList<int> list{1, 3, 5};
  rcu::ReadGuard guard;
  EXPECT_TRUE(list.insert_after(Find(list, guard, 1), 2));
  EXPECT_TRUE(list.insert_before(Find(list, guard, 5), 4));
  EXPECT_TRUE(list.insert_before(list.Iterate(guard).begin(), 0));
  EXPECT_TRUE(list.insert_before(list.Iterate(guard).end(), 7));  // appends
  EXPECT_TRUE(list.emplace_after(Find(list, guard, 5), 6));
  EXPECT_TRUE(list.emplace_before(list.Iterate(guard).end(), 8));
  const int nine = 9;
  EXPECT_TRUE(list.insert_after(Find(list, guard, 8), nine));
  EXPECT_EQ(Contents(list), (Ints{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(list.size(), 10u);
}

TEST(RcuListTest, EraseReturnsWhetherItRemoved) {
  rcu::RcuList<int> list{1, 2, 3};
  rcu::ReadGuard guard;
  auto two = Find(list, guard, 2);
  EXPECT_TRUE(list.erase(two));
  EXPECT_EQ(Contents(list), (Ints{1, 3}));
  EXPECT_EQ(list.size(), 2u);
  // The element stays readable under the guard, and its successor reachable.
  EXPECT_EQ(*two, 2);
  auto after = two;
  EXPECT_EQ(*++after, 3);
  // Already removed: nothing happens.
  EXPECT_FALSE(list.erase(two));
  EXPECT_EQ(list.size(), 2u);
  EXPECT_TRUE(list.erase(list.Iterate(guard).begin()));
  EXPECT_TRUE(list.erase(list.Iterate(guard).begin()));
  EXPECT_TRUE(list.empty());
}

TEST(RcuListTest, PositionalOperationsOnARemovedElementChangeNothing) {
  rcu::RcuList<int> list{1, 2, 3};
  rcu::ReadGuard guard;
  auto two = Find(list, guard, 2);
  ASSERT_TRUE(list.erase(two));
  EXPECT_FALSE(list.insert_after(two, 10));
  EXPECT_FALSE(list.insert_before(two, 10));
  EXPECT_FALSE(list.emplace_after(two, 10));
  EXPECT_FALSE(list.emplace_before(two, 10));
  EXPECT_FALSE(list.replace(two, 10));
  EXPECT_FALSE(list.emplace_replace(two, 10));
  EXPECT_FALSE(list.erase(two));
  EXPECT_EQ(Contents(list), (Ints{1, 3}));
  EXPECT_EQ(list.size(), 2u);
}

TEST(RcuListTest, ReplaceIsACompareAndSwap) {
  rcu::RcuList<std::string> list{"a", "b", "c"};
  rcu::ReadGuard guard;
  auto b = Find(list, guard, "b");
  EXPECT_TRUE(list.replace(b, std::string("B")));
  EXPECT_EQ(Contents(list), (std::vector<std::string>{"a", "B", "c"}));
  EXPECT_EQ(list.size(), 3u);
  // The old element is still readable here, and leads on to the same place.
  EXPECT_EQ(*b, "b");
  auto next = b;
  EXPECT_EQ(*++next, "c");
  // A second update based on the stale read fails: the caller must re-read.
  EXPECT_FALSE(list.replace(b, std::string("lost update")));
  auto capital_b = Find(list, guard, "B");
  const std::string bee = "bee";
  EXPECT_TRUE(list.replace(capital_b, bee));
  EXPECT_TRUE(list.emplace_replace(Find(list, guard, "a"), 2, 'a'));
  EXPECT_EQ(Contents(list), (std::vector<std::string>{"aa", "bee", "c"}));
}

TEST(RcuListTest, RemoveIfAndRemove) {
  rcu::RcuList<int> list{1, 2, 3, 4, 5, 6, 2};
  EXPECT_EQ(list.remove_if([](int x) { return x % 2 == 1; }), 3u);
  EXPECT_EQ(Contents(list), (Ints{2, 4, 6, 2}));
  EXPECT_EQ(list.remove(2), 2u);
  EXPECT_EQ(Contents(list), (Ints{4, 6}));
  EXPECT_EQ(list.remove(7), 0u);
  EXPECT_EQ(list.remove_if([](int) { return false; }), 0u);
  EXPECT_EQ(list.size(), 2u);
  EXPECT_EQ(list.remove_if([](int) { return true; }), 2u);
  EXPECT_TRUE(list.empty());
}

TEST(RcuListTest, Clear) {
  rcu::RcuList<int> list{1, 2, 3};
  EXPECT_EQ(list.clear(), 3u);
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(Contents(list), Ints{});
  EXPECT_EQ(list.clear(), 0u);
  list.push_back(4);
  EXPECT_EQ(Contents(list), Ints{4});
}

TEST(RcuListTest, ClearLeavesReadersOnTheirElements) {
  rcu::RcuList<int> list{1, 2, 3};
  rcu::ReadGuard guard;
  auto range = list.Iterate(guard);
  auto it = range.begin();
  list.clear();
  // The traversal that began before clear() finishes over the old elements.
  std::vector<int> seen;
  for (; it != range.end(); ++it) seen.push_back(*it);
  EXPECT_EQ(seen, (Ints{1, 2, 3}));
  EXPECT_TRUE(list.Iterate(guard).empty());
}

TEST(RcuListTest, UpdateRunsUnderTheLockAndReturnsItsResult) {
  rcu::RcuList<int> list{1, 3, 5};
  // Sorted insertion: the search and the insert are atomic for writers.
  auto insert_sorted = [&list](int v) {
    return list.Update([v](rcu::RcuList<int>::Writer& w) {
      for (auto it = w.begin(); it != w.end(); ++it) {
        if (*it == v) return false;
        if (*it > v) return w.insert_before(it, v);
      }
      w.push_back(v);
      return true;
    });
  };
  EXPECT_TRUE(insert_sorted(4));
  EXPECT_TRUE(insert_sorted(0));
  EXPECT_TRUE(insert_sorted(9));
  EXPECT_FALSE(insert_sorted(3));
  EXPECT_EQ(Contents(list), (Ints{0, 1, 3, 4, 5, 9}));

  int& first = list.Update([](rcu::RcuList<int>::Writer& w) -> int& { return *w.begin(); });
  EXPECT_EQ(first, 0);
  list.Update([](rcu::RcuList<int>::Writer&) {});  // void
}

TEST(RcuListTest, WriterOffersEveryOperation) {
  rcu::RcuList<int> list;
  list.Update([](rcu::RcuList<int>::Writer& w) {
    EXPECT_TRUE(w.empty());
    w.push_back(2);
    const int three = 3;
    w.push_back(three);
    w.push_front(1);
    const int zero = 0;
    w.push_front(zero);
    int& ten = w.emplace_back(10);
    EXPECT_EQ(ten, 10);
    ten = 4;  // writers may change elements in place (readers see them, though)
    EXPECT_EQ(w.emplace_front(-1), -1);
    EXPECT_EQ(w.size(), 6u);
    EXPECT_EQ(std::vector<int>(w.begin(), w.end()), (Ints{-1, 0, 1, 2, 3, 4}));
    const auto& cw = w;
    EXPECT_EQ(*cw.begin(), -1);
    EXPECT_EQ(std::distance(w.cbegin(), w.cend()), 6);

    auto it = std::find(w.begin(), w.end(), 2);
    EXPECT_TRUE(w.insert_after(it, 20));
    EXPECT_TRUE(w.emplace_after(it, 21));
    EXPECT_TRUE(w.insert_before(it, 19));
    EXPECT_TRUE(w.emplace_before(w.end(), 99));
    EXPECT_EQ(std::vector<int>(w.begin(), w.end()), (Ints{-1, 0, 1, 19, 2, 21, 20, 3, 4, 99}));
    EXPECT_TRUE(w.replace(it, 22));
    EXPECT_FALSE(w.replace(it, 23));  // `it` is the old element now
    EXPECT_TRUE(w.erase(std::find(w.begin(), w.end(), 22)));
    EXPECT_TRUE(w.emplace_replace(w.begin(), -2));
    EXPECT_EQ(w.remove_if([](int x) { return x >= 19 && x <= 21; }), 3u);
    EXPECT_EQ(w.remove(99), 1u);
    EXPECT_EQ(std::vector<int>(w.begin(), w.end()), (Ints{-2, 0, 1, 3, 4}));
    EXPECT_EQ(w.clear(), 5u);
    EXPECT_TRUE(w.empty());
    w.push_back(7);
  });
  EXPECT_EQ(Contents(list), Ints{7});
}

TEST(RcuListTest, EraseInsideAWriterLoop) {
  rcu::RcuList<int> list{1, 2, 3, 4, 5, 6};
  list.Update([](rcu::RcuList<int>::Writer& w) {
    for (auto it = w.begin(); it != w.end();) {
      auto cur = it++;
      if (*cur % 3 == 0) {
        EXPECT_TRUE(w.erase(cur));
      }
    }
  });
  EXPECT_EQ(Contents(list), (Ints{1, 2, 4, 5}));
}

TEST(RcuListTest, SizeFollowsEveryOperation) {
  rcu::RcuList<int> list;
  list.push_back(1);
  list.push_front(0);
  list.emplace_back(2);
  EXPECT_EQ(list.size(), 3u);
  {
    rcu::ReadGuard guard;
    list.insert_after(list.Iterate(guard).begin(), 5);
    EXPECT_EQ(list.size(), 4u);
    list.replace(list.Iterate(guard).begin(), 7);
    EXPECT_EQ(list.size(), 4u);
    list.erase(list.Iterate(guard).begin());
    EXPECT_EQ(list.size(), 3u);
  }
  list.remove(5);
  EXPECT_EQ(list.size(), 2u);
  list.clear();
  EXPECT_EQ(list.size(), 0u);
}

// ---------------------------------------------------------------------------
// Reclamation.

TEST(RcuListTest, RemovedElementsAreDestroyedAfterAGracePeriod) {
  rcu::Barrier();
  const int base = tracked_live.load();
  {
    rcu::RcuList<Tracked> list;
    for (int i = 0; i < 10; ++i) list.emplace_back(i);
    EXPECT_EQ(tracked_live.load(), base + 10);
    {
      rcu::ReadGuard guard;
      EXPECT_TRUE(list.erase(list.Iterate(guard).begin()));
      EXPECT_TRUE(list.emplace_replace(list.Iterate(guard).begin(), -100));
    }
    EXPECT_EQ(list.remove_if([](const Tracked& t) { return t.value >= 5; }), 5u);
    rcu::Barrier();
    // 10 made, 1 erased, 1 replaced (+1 new), 5 removed.
    EXPECT_EQ(tracked_live.load(), base + 4);
    list.clear();
    rcu::Barrier();
    EXPECT_EQ(tracked_live.load(), base);
    for (int i = 0; i < 3; ++i) list.emplace_back(i);
  }
  // The destructor retires what is left.
  rcu::Barrier();
  EXPECT_EQ(tracked_live.load(), base);
}

TEST(RcuListTest, AReaderKeepsAnErasedElementAlive) {
  rcu::Barrier();
  rcu::RcuList<Tracked> list;
  list.emplace_back(42);
  const int before = tracked_live.load();
  const Tracked* t = nullptr;
  bool intact_after_erase = false;
  rcu_test::ParkedReader reader(
      [&](const rcu::ReadGuard& guard) { t = &*list.Iterate(guard).begin(); },
      [&](const rcu::ReadGuard&) { intact_after_erase = t->magic == kLive && t->value == 42; });
  list.clear();
  // The reader's guard holds up the grace period, so nothing may be freed
  // yet, however long we wait (a window in which a bug would free it).
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(tracked_live.load(), before);
  reader.Join();
  EXPECT_TRUE(intact_after_erase);
  rcu::Barrier();
  EXPECT_EQ(tracked_live.load(), before - 1);
}

// Each removed element counts toward the backlog limit (one callback each,
// no allocation), so a storm of clear()s is bounded by elements.
TEST(RcuListTest, ClearRetiresEachElement) {
  rcu::RcuList<int> list;
  for (int i = 0; i < 1000; ++i) list.push_back(i);
  rcu::Barrier();
  const std::uint64_t queued = rcu::GetStats().callbacks_queued;
  list.clear();
  EXPECT_EQ(rcu::GetStats().callbacks_queued, queued + 1000);
  list.push_back(1);
  list.push_back(2);
  list.remove_if([](int) { return true; });
  EXPECT_EQ(rcu::GetStats().callbacks_queued, queued + 1002);
}

// ---------------------------------------------------------------------------
// Move-only values.

TEST(RcuListTest, MoveOnlyValues) {
  using Ptr = std::unique_ptr<int>;
  rcu::RcuList<Ptr> list;
  list.push_back(std::make_unique<int>(2));
  list.push_front(std::make_unique<int>(1));
  list.emplace_back(new int(4));
  {
    rcu::ReadGuard guard;
    auto first = list.Iterate(guard).begin();
    EXPECT_TRUE(list.insert_after(std::next(first), std::make_unique<int>(3)));
    EXPECT_TRUE(list.insert_before(first, std::make_unique<int>(0)));
    EXPECT_TRUE(list.replace(first, std::make_unique<int>(10)));
    std::vector<int> seen;
    for (const Ptr& p : list.Iterate(guard)) seen.push_back(*p);
    EXPECT_EQ(seen, (Ints{0, 10, 2, 3, 4}));
  }
  EXPECT_EQ(list.remove_if([](const Ptr& p) { return *p == 3 || *p == 4; }), 2u);
  EXPECT_EQ(list.remove(nullptr), 0u);
  list.Update([](rcu::RcuList<Ptr>::Writer& w) {
    Ptr& p = w.emplace_back(std::make_unique<int>(5));
    EXPECT_EQ(*p, 5);
    EXPECT_TRUE(w.replace(w.begin(), std::make_unique<int>(-1)));
  });
  std::vector<int> seen;
  {
    rcu::ReadGuard guard;
    for (const Ptr& p : list.Iterate(guard)) seen.push_back(*p);
  }
  EXPECT_EQ(seen, (Ints{-1, 10, 2, 5}));

  rcu::Mutex mu;
  rcu::ExternallyLockedRcuList<Ptr> locked;
  rcu::MutexLock lock(mu);
  locked.push_back(mu, std::make_unique<int>(1));
  Ptr& p = locked.emplace_front(mu, std::make_unique<int>(0));
  EXPECT_EQ(*p, 0);
  EXPECT_TRUE(locked.replace(mu, locked.Protected(mu).begin(), std::make_unique<int>(7)));
  EXPECT_EQ(**locked.Protected(mu).begin(), 7);
}

// ---------------------------------------------------------------------------
// Exceptions: a throwing constructor leaves the list unchanged and unlocked.

struct ConstructorError : std::runtime_error {
  ConstructorError() : std::runtime_error("constructor failed") {}
};

// Throws from its next copy, move or converting construction once armed.
struct Fragile {
  static inline bool armed = false;
  static void MaybeThrow() {
    if (armed) {
      armed = false;
      throw ConstructorError();
    }
  }
  explicit Fragile(int v) : value(v) { MaybeThrow(); }
  Fragile(const Fragile& other) : value(other.value) { MaybeThrow(); }
  Fragile(Fragile&& other) : value(other.value) { MaybeThrow(); }
  bool operator==(int v) const { return value == v; }
  int value;
};

std::vector<int> Values(const rcu::RcuList<Fragile>& list) {
  rcu::ReadGuard guard;
  std::vector<int> out;
  for (const Fragile& f : list.Iterate(guard)) out.push_back(f.value);
  return out;
}

TEST(RcuListTest, ThrowingConstructorsLeaveTheListUnchangedAndUnlocked) {
  rcu::RcuList<Fragile> list;
  list.emplace_back(1);
  list.emplace_back(2);
  const Ints original{1, 2};
  const Fragile value(9);
  Fragile movable(9);
  auto attempt = [&](auto&& op) {
    Fragile::armed = true;
    EXPECT_THROW(op(), ConstructorError);
    Fragile::armed = false;
    EXPECT_EQ(Values(list), original);
    EXPECT_EQ(list.size(), 2u);
  };
  attempt([&] { list.push_back(value); });
  attempt([&] { list.push_front(std::move(movable)); });
  attempt([&] { list.emplace_back(9); });
  attempt([&] { list.emplace_front(9); });
  {
    rcu::ReadGuard guard;
    auto first = list.Iterate(guard).begin();
    attempt([&] { list.insert_after(first, value); });
    attempt([&] { list.insert_before(first, value); });
    attempt([&] { list.emplace_after(first, 9); });
    attempt([&] { list.emplace_before(list.Iterate(guard).end(), 9); });
    attempt([&] { list.replace(first, value); });
    attempt([&] { list.emplace_replace(first, 9); });
  }
  attempt([&] { list.Update([&](rcu::RcuList<Fragile>::Writer& w) { w.emplace_back(9); }); });
  // Unlocked: this thread and another can write again.
  list.emplace_back(3);
  std::thread([&] { list.emplace_back(4); }).join();
  EXPECT_EQ(Values(list), (Ints{1, 2, 3, 4}));
}

TEST(RcuListTest, ThrowingPredicateOrUpdateReleasesTheLock) {
  rcu::Barrier();
  const int base = tracked_live.load();
  {
    rcu::RcuList<Tracked> list;
    for (int i = 0; i < 6; ++i) list.emplace_back(i);
    // The predicate removes 0 and 1, then throws at 2: the two stay removed.
    EXPECT_THROW(list.remove_if([](const Tracked& t) {
      if (t.value == 2) throw std::runtime_error("predicate");
      return t.value < 2;
    }),
                 std::runtime_error);
    EXPECT_EQ(list.size(), 4u);
    EXPECT_THROW(list.Update([](rcu::RcuList<Tracked>::Writer& w) {
      w.erase(w.begin());
      throw std::runtime_error("update");
    }),
                 std::runtime_error);
    EXPECT_EQ(list.size(), 3u);
    std::thread([&] { list.emplace_back(10); }).join();
    EXPECT_EQ(list.size(), 4u);
    rcu::Barrier();
    EXPECT_EQ(tracked_live.load(), base + 4);  // the removed ones were retired
  }
  rcu::Barrier();
  EXPECT_EQ(tracked_live.load(), base);
}

// ---------------------------------------------------------------------------
// ExternallyLockedRcuList: the caller's lock as evidence.

TEST(ExternallyLockedRcuListTest, EveryOperationWithAnRcuMutex) {
  rcu::Mutex mu;
  rcu::ExternallyLockedRcuList<int> list;
  EXPECT_TRUE(list.empty());
  {
    // The guard keeps removed elements alive, so that positions to them can
    // be passed below; the lock alone would not (each writer method retires
    // what it removed before returning).
    rcu::ReadGuard guard;
    rcu::MutexLock lock(mu);
    list.push_back(mu, 2);
    const int three = 3;
    list.push_back(mu, three);
    list.push_front(mu, 1);
    const int zero = 0;
    list.push_front(mu, zero);
    EXPECT_EQ(list.emplace_back(mu, 5), 5);
    EXPECT_EQ(list.emplace_front(mu, -1), -1);
    auto all = list.Protected(mu);
    EXPECT_EQ(std::vector<int>(all.begin(), all.end()), (Ints{-1, 0, 1, 2, 3, 5}));
    auto three_pos = std::find(all.begin(), all.end(), 3);
    EXPECT_TRUE(list.insert_after(mu, three_pos, 4));
    const int four_and_a_half = 45;
    EXPECT_TRUE(list.insert_after(mu, std::next(three_pos), four_and_a_half));
    EXPECT_TRUE(list.emplace_after(mu, all.begin(), -9));
    EXPECT_TRUE(list.insert_before(mu, all.end(), 6));
    EXPECT_TRUE(list.insert_before(mu, all.begin(), -3));
    const int minus_two = -2;
    EXPECT_TRUE(list.insert_before(mu, std::next(all.begin()), minus_two));
    EXPECT_TRUE(list.emplace_before(mu, all.end(), 7));
    EXPECT_EQ(std::vector<int>(all.begin(), all.end()),
              (Ints{-3, -2, -1, -9, 0, 1, 2, 3, 4, 45, 5, 6, 7}));
    EXPECT_EQ(list.size(), 13u);
    EXPECT_TRUE(list.erase(mu, std::find(all.begin(), all.end(), -9)));
    EXPECT_TRUE(list.replace(mu, std::find(all.begin(), all.end(), 45), 44));
    const int forty_three = 43;
    EXPECT_TRUE(list.replace(mu, std::find(all.begin(), all.end(), 44), forty_three));
    auto old = std::find(all.begin(), all.end(), 43);
    EXPECT_TRUE(list.emplace_replace(mu, old, 42));
    EXPECT_FALSE(list.erase(mu, old));
    EXPECT_FALSE(list.replace(mu, old, 0));
    EXPECT_FALSE(list.insert_after(mu, old, 0));
    EXPECT_FALSE(list.insert_before(mu, old, 0));
    EXPECT_EQ(list.remove(mu, 42), 1u);
    EXPECT_EQ(list.remove_if(mu, [](int x) { return x < 0; }), 3u);
    // Writers may change elements in place through Protected().
    for (int& x : list.Protected(mu)) x *= 10;
    EXPECT_EQ(Contents(list), (Ints{0, 10, 20, 30, 40, 50, 60, 70}));
    EXPECT_EQ(list.clear(mu), 8u);
    EXPECT_TRUE(list.empty());
  }
}

// std::mutex through std::lock_guard: any lock type works. (libstdc++'s
// std::mutex carries no thread-safety annotations, so clang's analysis cannot
// see this lock; rcu::Mutex or absl::Mutex can be checked.)
void UseStdMutex(std::mutex& mu,
                 rcu::ExternallyLockedRcuList<std::string>& list) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  std::lock_guard<std::mutex> lock(mu);
  list.push_back(mu, "b");
  list.push_front(mu, "a");
  list.emplace_back(mu, 1, 'c');
  list.remove(mu, std::string("b"));
}

TEST(ExternallyLockedRcuListTest, AnyLockType) {
  std::mutex mu;
  rcu::ExternallyLockedRcuList<std::string> list;
  UseStdMutex(mu, list);
  EXPECT_EQ(Contents(list), (std::vector<std::string>{"a", "c"}));
}

TEST(ExternallyLockedRcuListTest, PositionsFromAReadGuard) {
  rcu::Mutex mu;
  rcu::ExternallyLockedRcuList<int> list;
  {
    rcu::MutexLock lock(mu);
    for (int i = 0; i < 4; ++i) list.push_back(mu, i);
  }
  rcu::ReadGuard guard;
  auto two = Find(list, guard, 2);
  rcu::MutexLock lock(mu);
  EXPECT_TRUE(list.erase(mu, two));
  EXPECT_FALSE(list.erase(mu, two));
  EXPECT_EQ(Contents(list), (Ints{0, 1, 3}));
}

TEST(ExternallyLockedRcuListTest, ThrowingConstructorLeavesTheListUnchanged) {
  rcu::Mutex mu;
  rcu::ExternallyLockedRcuList<Fragile> list;
  rcu::MutexLock lock(mu);
  list.emplace_back(mu, 1);
  const Fragile value(2);
  Fragile::armed = true;
  EXPECT_THROW(list.push_back(mu, value), ConstructorError);
  Fragile::armed = true;
  EXPECT_THROW(list.replace(mu, list.Protected(mu).begin(), value), ConstructorError);
  Fragile::armed = false;
  EXPECT_EQ(list.size(), 1u);
  EXPECT_EQ(list.Protected(mu).begin()->value, 1);
}

TEST(ExternallyLockedRcuListTest, DestructorRetiresElements) {
  rcu::Barrier();
  const int base = tracked_live.load();
  {
    rcu::Mutex mu;
    rcu::ExternallyLockedRcuList<Tracked> list;
    rcu::MutexLock lock(mu);
    for (int i = 0; i < 5; ++i) list.emplace_back(mu, i);
    list.erase(mu, list.Protected(mu).begin());
  }
  rcu::Barrier();
  EXPECT_EQ(tracked_live.load(), base);
}

TEST(RcuListTest, Footprint) {
  // What rcu_list.h's file comment says: two links plus an rcu::RcuHead per
  // element; a mutex, the head and a counter per RcuList.
  EXPECT_EQ(sizeof(rcu::internal::RcuListNode<std::uint64_t>),
            2 * sizeof(void*) + sizeof(rcu::RcuHead) + sizeof(std::uint64_t));
  EXPECT_EQ(sizeof(rcu::ExternallyLockedRcuList<int>), 3 * sizeof(void*));
  EXPECT_EQ(sizeof(rcu::RcuList<int>), sizeof(rcu::Mutex) + 3 * sizeof(void*));
  std::printf(
      "per element: sizeof(T) + %zu bytes; RcuList: %zu bytes; "
      "ExternallyLockedRcuList: %zu bytes\n",
      sizeof(rcu::internal::RcuListNode<std::uint64_t>) - sizeof(std::uint64_t),
      sizeof(rcu::RcuList<int>), sizeof(rcu::ExternallyLockedRcuList<int>));
}

// ---------------------------------------------------------------------------
// Iteration under concurrent modification.

// An element whose fields are all derived from (key, version), so that a
// reader can tell a half-built or a destroyed one.
struct Item {
  static std::uint64_t Check(int key, std::uint64_t version) {
    return (static_cast<std::uint64_t>(key) * 0x9e3779b97f4a7c15) ^ (version * 0xbf58476d1ce4e5b9);
  }
  Item(int k, std::uint64_t v) : key(k), version(v), check(Check(k, v)) { items_live.fetch_add(1); }
  Item(const Item&) = delete;
  ~Item() {
    magic = kDead;
    check = 0;
    key = -1;
    items_live.fetch_sub(1);
  }
  bool Valid() const { return magic == kLive && check == Check(key, version); }

  static inline std::atomic<int> items_live{0};
  int key;
  std::uint64_t version;
  std::uint64_t check;
  std::uint64_t magic = kLive;
};

// Writers start once the readers run, so that they overlap.
void WaitForReaders(const std::atomic<int>& started, int n) {
  while (started.load() < n) std::this_thread::yield();
}

// Stable keys are multiples of kGap and never removed; writers churn the keys
// in between, keeping the list sorted. Readers must see a sorted list of
// valid items that contains every stable key exactly once.
constexpr int kGap = 16;
constexpr int kStable = 24;

struct ReaderStats {
  std::atomic<int> started{0};
  std::atomic<long> traversals{0};
  std::atomic<long> invalid{0};
  std::atomic<long> unsorted{0};
  std::atomic<long> stable_missing{0};
};

template <typename List>
void ReadUntil(const List& list, const std::atomic<bool>& stop, ReaderStats& stats) {
  stats.started.fetch_add(1);
  long traversals = 0;
  while (!stop.load(std::memory_order_relaxed) || traversals < 10) {
    rcu::ReadGuard guard;
    int last = -1;
    int stable_seen = 0;
    for (const Item& item : list.Iterate(guard)) {
      if (!item.Valid()) {
        stats.invalid.fetch_add(1);
        break;
      }
      if (item.key <= last) stats.unsorted.fetch_add(1);
      last = item.key;
      if (item.key % kGap == 0) ++stable_seen;
    }
    if (stable_seen != kStable) stats.stable_missing.fetch_add(1);
    ++traversals;
  }
  stats.traversals.fetch_add(traversals);
}

TEST(RcuListConcurrencyTest, ReadersSeeValidSortedElementsAndEveryStableOneOnce) {
  rcu::Barrier();
  const int base = Item::items_live.load();
  {
    rcu::RcuList<Item> list;
    for (int i = 0; i < kStable; ++i) list.emplace_back(i * kGap, 0);

    std::atomic<bool> stop{false};
    ReaderStats stats;
    std::vector<std::thread> readers;
    for (int r = 0; r < 2; ++r) {
      readers.emplace_back([&] { ReadUntil(list, stop, stats); });
    }

    std::atomic<long> inserts{0}, erases{0}, erase_lost{0}, replaces{0}, replace_lost{0},
        bulk_removed{0};
    auto writer = [&](unsigned seed) {
      std::mt19937 rng(seed);
      for (int op = 0; op < 3000; ++op) {
        const int key = static_cast<int>(rng() % (kStable * kGap));
        switch (rng() % 8) {
          case 0:
          case 1:
          case 2:  // insert in order (unless the key is taken or stable)
            if (key % kGap == 0) break;
            if (list.Update([&](rcu::RcuList<Item>::Writer& w) {
                  for (auto it = w.begin(); it != w.end(); ++it) {
                    if (it->key == key) return false;
                    if (it->key > key) return w.emplace_before(it, key, 0);
                  }
                  w.emplace_back(key, 0);
                  return true;
                })) {
              inserts.fetch_add(1);
            }
            break;
          case 3:
          case 4: {  // erase a transient found under a guard
            rcu::ReadGuard guard;
            auto range = list.Iterate(guard);
            auto it = std::find_if(range.begin(), range.end(), [&](const Item& i) {
              return i.key >= key && i.key % kGap != 0;
            });
            if (it == range.end()) break;
            (list.erase(it) ? erases : erase_lost).fetch_add(1);
            break;
          }
          case 5:
          case 6: {  // read, copy, update a transient
            rcu::ReadGuard guard;
            auto range = list.Iterate(guard);
            auto it = std::find_if(range.begin(), range.end(), [&](const Item& i) {
              return i.key >= key && i.key % kGap != 0;
            });
            if (it == range.end()) break;
            (list.emplace_replace(it, it->key, it->version + 1) ? replaces : replace_lost)
                .fetch_add(1);
            break;
          }
          case 7: {  // bulk removal of one residue class of transients
            const int residue = 1 + key % (kGap - 1);
            bulk_removed.fetch_add(static_cast<long>(
                list.remove_if([&](const Item& i) { return i.key % kGap == residue; })));
            break;
          }
        }
      }
    };
    WaitForReaders(stats.started, 2);
    std::thread w1(writer, 1), w2(writer, 2);
    w1.join();
    w2.join();
    stop.store(true);
    for (auto& t : readers) t.join();

    EXPECT_EQ(stats.invalid.load(), 0);
    EXPECT_EQ(stats.unsorted.load(), 0);
    EXPECT_EQ(stats.stable_missing.load(), 0);
    EXPECT_GT(stats.traversals.load(), 0);
    EXPECT_GT(inserts.load(), 0);
    EXPECT_GT(erases.load() + bulk_removed.load(), 0);
    EXPECT_GT(replaces.load(), 0);
    // Accounting: what is left is what went in minus what came out.
    const long expected = kStable + inserts.load() - erases.load() - bulk_removed.load();
    EXPECT_EQ(static_cast<long>(list.size()), expected);
    EXPECT_EQ(static_cast<long>(Count(list)), expected);
    std::printf(
        "readers: %ld traversals; writers: %ld inserts, %ld erases (%ld lost races), "
        "%ld replaces (%ld lost races), %ld bulk-removed\n",
        stats.traversals.load(), inserts.load(), erases.load(), erase_lost.load(), replaces.load(),
        replace_lost.load(), bulk_removed.load());
  }
  rcu::Barrier();
  EXPECT_EQ(Item::items_live.load(), base);
}

TEST(RcuListConcurrencyTest, ClearAndRefillWhileReadersRun) {
  rcu::Barrier();
  const int base = Item::items_live.load();
  {
    rcu::RcuList<Item> list;
    std::atomic<bool> stop{false};
    std::atomic<long> bad{0}, traversals{0};
    std::atomic<int> started{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 2; ++r) {
      readers.emplace_back([&] {
        started.fetch_add(1);
        for (long local = 0; !stop.load(std::memory_order_relaxed) || local < 10; ++local) {
          rcu::ReadGuard guard;
          int last = -1;
          for (const Item& item : list.Iterate(guard)) {
            if (!item.Valid() || item.key <= last) bad.fetch_add(1);
            last = item.key;
          }
          traversals.fetch_add(1);
        }
      });
    }
    WaitForReaders(started, 2);
    for (int round = 0; round < 300; ++round) {
      list.Update([&](rcu::RcuList<Item>::Writer& w) {
        for (int i = 0; i < 50; ++i) w.emplace_back(i, round);
      });
      EXPECT_EQ(list.clear(), 50u);
    }
    stop.store(true);
    for (auto& t : readers) t.join();
    EXPECT_EQ(bad.load(), 0);
    EXPECT_GT(traversals.load(), 0);
  }
  rcu::Barrier();
  EXPECT_EQ(Item::items_live.load(), base);
}

TEST(ExternallyLockedRcuListTest, ReadersDuringChurnUnderTheCallersLock) {
  rcu::Barrier();
  const int base = Item::items_live.load();
  {
    rcu::Mutex mu;
    rcu::ExternallyLockedRcuList<Item> list;
    {
      rcu::MutexLock lock(mu);
      for (int i = 0; i < kStable; ++i) list.emplace_back(mu, i * kGap, 0);
    }
    std::atomic<bool> stop{false};
    ReaderStats stats;
    std::thread reader([&] { ReadUntil(list, stop, stats); });
    WaitForReaders(stats.started, 1);
    std::mt19937 rng(7);
    long inserted = 0, removed = 0;
    for (int op = 0; op < 4000; ++op) {
      rcu::MutexLock lock(mu);
      auto all = list.Protected(mu);
      // A random stable element, then act on the slot after it.
      auto it = all.begin();
      for (unsigned n = rng() % kStable; n > 0; --n) {
        do ++it;
        while (it->key % kGap != 0);
      }
      auto next = std::next(it);
      const bool has_transient = next != all.end() && next->key % kGap != 0;
      switch (rng() % 3) {
        case 0:
          if (!has_transient) {
            list.emplace_after(mu, it, it->key + 1 + static_cast<int>(rng() % (kGap - 1)), 0);
            ++inserted;
          }
          break;
        case 1:
          if (has_transient) {
            EXPECT_TRUE(list.erase(mu, next));
            ++removed;
          }
          break;
        case 2:
          if (has_transient) {
            EXPECT_TRUE(list.emplace_replace(mu, next, next->key, 1));
          }
          break;
      }
    }
    stop.store(true);
    reader.join();
    EXPECT_EQ(stats.invalid.load(), 0);
    EXPECT_EQ(stats.unsorted.load(), 0);
    EXPECT_EQ(stats.stable_missing.load(), 0);
    EXPECT_EQ(static_cast<long>(list.size()), kStable + inserted - removed);
  }
  rcu::Barrier();
  EXPECT_EQ(Item::items_live.load(), base);
}

// ---------------------------------------------------------------------------
// Misuse caught in debug builds.

#ifndef NDEBUG
TEST(RcuListDeathTest, WriterMethodInsideUpdateIsCaught) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  rcu::RcuList<int> list;
  EXPECT_DEATH(list.Update([&](rcu::RcuList<int>::Writer&) { list.push_back(1); }),
               "writer method called while this thread holds the list's lock");
}

TEST(RcuListDeathTest, PositionWithoutItsGuardIsCaught) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  rcu::RcuList<int> list{1};
  rcu::RcuList<int>::const_iterator pos;
  {
    rcu::ReadGuard guard;
    pos = list.Iterate(guard).begin();
  }
  EXPECT_DEATH(list.erase(pos), "outside the read-side critical section it was found in");
}

TEST(RcuListDeathTest, IterateWithAnotherThreadsGuardIsCaught) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  rcu::RcuList<int> list{1};
  EXPECT_DEATH(
      {
        rcu::ReadGuard guard;
        std::thread([&] { list.Iterate(guard); }).join();
      },
      "Iterate\\(\\) outside a read-side critical section");
}

TEST(ExternallyLockedRcuListDeathTest, WriterWithoutTheLockIsCaught) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  rcu::Mutex mu;
  rcu::ExternallyLockedRcuList<int> list;
  auto unlocked = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { list.push_back(mu, 1); };
  EXPECT_DEATH(unlocked(), "without holding the writers' lock");
}
#endif  // NDEBUG

}  // namespace
