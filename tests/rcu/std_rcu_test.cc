// The C++26 <rcu> interface (rcu/std_rcu.h): every signature as the draft
// spells it, rcu_domain as a Cpp17Lockable under the standard lock types,
// retired objects that outlive the readers holding them, deleters, barriers,
// and retire() without allocation.
#include "rcu/std_rcu.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/grace_period.h"
#include "rcu/read_guard.h"
#include "tests/util/allocation_counter.h"
#include "tests/util/notification.h"
#include "tests/util/test_util.h"

// liburcu's flavor maps define rcu_barrier as a macro (for urcu_memb_barrier);
// the library's include of liburcu clears them, and must go on doing so.
#ifdef rcu_barrier
#error "rcu_barrier is still a macro after rcu/std_rcu.h"
#endif

namespace {

// ---------------------------------------------------------------------------
// Signatures, checked at compile time.

struct Plain {
  int value = 0;
};

struct Node : rcu::rcu_obj_base<Node> {
  int value = 0;
};

struct FnDeleter {
  void operator()(Node* n) const { delete n; }
};
struct Custom : rcu::rcu_obj_base<Custom, std::function<void(Custom*)>> {};

using rcu::rcu_domain;

// Non-member functions, with exactly the draft's types.
static_assert(std::is_same_v<decltype(&rcu::rcu_default_domain), rcu_domain& (*)() noexcept>);
static_assert(std::is_same_v<decltype(&rcu::rcu_synchronize), void (*)(rcu_domain&) noexcept>);
static_assert(std::is_same_v<decltype(&rcu::rcu_barrier), void (*)(rcu_domain&) noexcept>);
static_assert(std::is_same_v<decltype(&rcu::rcu_retire<Plain>),
                             void (*)(Plain*, std::default_delete<Plain>, rcu_domain&)>);
static_assert(std::is_same_v<decltype(&rcu::rcu_retire<Node, FnDeleter>),
                             void (*)(Node*, FnDeleter, rcu_domain&)>);
// rcu_retire may throw (bad_alloc); the rest may not.
static_assert(!noexcept(rcu::rcu_retire(std::declval<Plain*>())));
static_assert(noexcept(rcu::rcu_synchronize()));
static_assert(noexcept(rcu::rcu_barrier()));
static_assert(noexcept(rcu::rcu_default_domain()));

// rcu_domain: Cpp17Lockable, noexcept, and nothing users can make or copy.
static_assert(std::is_same_v<decltype(&rcu_domain::lock), void (rcu_domain::*)() noexcept>);
static_assert(std::is_same_v<decltype(&rcu_domain::try_lock), bool (rcu_domain::*)() noexcept>);
static_assert(std::is_same_v<decltype(&rcu_domain::unlock), void (rcu_domain::*)() noexcept>);
static_assert(!std::is_default_constructible_v<rcu_domain>);
static_assert(!std::is_copy_constructible_v<rcu_domain>);
static_assert(!std::is_move_constructible_v<rcu_domain>);
static_assert(!std::is_copy_assignable_v<rcu_domain>);
static_assert(!std::is_move_assignable_v<rcu_domain>);

// rcu_obj_base: default template argument, retire()'s exact type, and
// protected special members (usable by the derived class only).
static_assert(
    std::is_same_v<rcu::rcu_obj_base<Node>, rcu::rcu_obj_base<Node, std::default_delete<Node>>>);
static_assert(
    std::is_same_v<decltype(&Node::retire), void (rcu::rcu_obj_base<Node>::*)(
                                                std::default_delete<Node>, rcu_domain&) noexcept>);
static_assert(std::is_same_v<decltype(&Custom::retire),
                             void (rcu::rcu_obj_base<Custom, std::function<void(Custom*)>>::*)(
                                 std::function<void(Custom*)>, rcu_domain&) noexcept>);
static_assert(noexcept(std::declval<Node&>().retire()));
static_assert(noexcept(std::declval<Custom&>().retire(std::function<void(Custom*)>())));
using NodeBase = rcu::rcu_obj_base<Node>;
static_assert(!std::is_default_constructible_v<NodeBase>);
static_assert(!std::is_copy_constructible_v<NodeBase>);
static_assert(!std::is_move_constructible_v<NodeBase>);
static_assert(!std::is_copy_assignable_v<NodeBase>);
static_assert(!std::is_move_assignable_v<NodeBase>);
static_assert(!std::is_destructible_v<NodeBase>);
static_assert(std::is_nothrow_default_constructible_v<Node>);
static_assert(std::is_nothrow_copy_constructible_v<Node>);
static_assert(std::is_nothrow_move_constructible_v<Node>);
static_assert(std::is_nothrow_copy_assignable_v<Node>);
static_assert(std::is_nothrow_move_assignable_v<Node>);
static_assert(std::is_nothrow_destructible_v<Node>);
static_assert(!std::has_virtual_destructor_v<NodeBase>);
// An empty deleter costs nothing beyond the queue link.
static_assert(sizeof(NodeBase) == sizeof(rcu::RcuHead));
// A deviation from the draft (see rcu/std_rcu.h): copies never read the link.
static_assert(!std::is_trivially_copyable_v<Node>);

// Code written for C++26's <rcu> compiles with a namespace alias.
namespace stdx = rcu;

struct Widget : stdx::rcu_obj_base<Widget> {
  explicit Widget(int v) : value(v) {}
  int value;
};

[[maybe_unused]] void Cpp26Style(std::atomic<Widget*>& current, Plain* spare) {
  {
    std::scoped_lock<stdx::rcu_domain> rlock(stdx::rcu_default_domain());
    static_cast<void>(current.load()->value);
  }
  stdx::rcu_domain& dom = stdx::rcu_default_domain();
  current.exchange(new Widget(2))->retire();
  current.exchange(new Widget(3))->retire(std::default_delete<Widget>(), dom);
  stdx::rcu_retire(spare);
  stdx::rcu_retire(new Plain, std::default_delete<Plain>(), dom);
  stdx::rcu_synchronize();
  stdx::rcu_synchronize(dom);
  stdx::rcu_barrier();
  stdx::rcu_barrier(dom);
}

// ---------------------------------------------------------------------------
// Helpers.

// A thread inside a region of the default domain opened with
// std::scoped_lock, until released; like rcu_test::ParkedReader, which uses a
// ReadGuard.
class DomainReader {
 public:
  DomainReader()
      : thread_([this] {
          std::scoped_lock lock(rcu::rcu_default_domain());
          inside_.Notify();
          while (!release_.load()) std::this_thread::yield();
        }) {
    inside_.WaitForNotification();
  }
  ~DomainReader() { Join(); }
  void Join() {
    release_.store(true);
    if (thread_.joinable()) thread_.join();
  }

 private:
  rcu_test::Notification inside_;
  std::atomic<bool> release_{false};
  std::thread thread_;  // last: starts after the fields above exist
};

// Yields for a while, checking `intact` each time, unless `done` becomes true
// first (which ends the wait early when the code under test is broken).
template <typename Intact>
bool StaysIntact(const std::atomic<bool>& done, Intact intact) {
  for (int i = 0; i < 20000 && !done.load(); ++i) {
    if (!intact()) return false;
    std::this_thread::yield();
  }
  return intact();
}

// Counts deleter calls, with the mutex so that ThreadSanitizer sees the
// deleters' writes before the test reads them.
struct DeleteLog {
  void Add(int v) {
    std::lock_guard<std::mutex> lock(mu);
    values.push_back(v);
  }
  std::vector<int> Sorted() {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<int> copy = values;
    std::sort(copy.begin(), copy.end());
    return copy;
  }
  std::mutex mu;
  std::vector<int> values;
};

// ---------------------------------------------------------------------------
// rcu_domain as a Cpp17Lockable.

TEST(RcuDomainTest, TheDefaultDomainIsOneStaticObject) {
  rcu_domain* here = &rcu::rcu_default_domain();
  rcu_domain* there = nullptr;
  std::thread([&] { there = &rcu::rcu_default_domain(); }).join();
  EXPECT_EQ(here, &rcu::rcu_default_domain());
  EXPECT_EQ(here, there);
}

TEST(RcuDomainTest, StandardLockTypesOpenAndCloseASection) {
  rcu_domain& dom = rcu::rcu_default_domain();
  ASSERT_FALSE(rcu::InReadSection());
  {
    std::scoped_lock lock(dom);
    EXPECT_TRUE(rcu::InReadSection());
  }
  EXPECT_FALSE(rcu::InReadSection());
  {
    std::lock_guard<rcu_domain> lock(dom);
    EXPECT_TRUE(rcu::InReadSection());
  }
  EXPECT_FALSE(rcu::InReadSection());
  {
    std::unique_lock<rcu_domain> lock(dom);
    EXPECT_TRUE(rcu::InReadSection());
    lock.unlock();
    EXPECT_FALSE(rcu::InReadSection());
    lock.lock();
    EXPECT_TRUE(rcu::InReadSection());
  }
  EXPECT_FALSE(rcu::InReadSection());
  {
    std::unique_lock<rcu_domain> lock(dom, std::try_to_lock);
    EXPECT_TRUE(lock.owns_lock());
    EXPECT_TRUE(rcu::InReadSection());
  }
  EXPECT_FALSE(rcu::InReadSection());
  {
    std::unique_lock<rcu_domain> lock(dom, std::defer_lock);
    EXPECT_FALSE(rcu::InReadSection());
    EXPECT_TRUE(lock.try_lock());
    EXPECT_TRUE(rcu::InReadSection());
  }
  EXPECT_FALSE(rcu::InReadSection());
  rcu::rcu_synchronize();  // fatal if a section were still open
}

TEST(RcuDomainTest, TryLockAlwaysSucceedsAndOpensASection) {
  rcu_domain& dom = rcu::rcu_default_domain();
  ASSERT_TRUE(dom.try_lock());
  EXPECT_TRUE(rcu::InReadSection());
  ASSERT_TRUE(dom.try_lock());  // nested
  dom.unlock();
  EXPECT_TRUE(rcu::InReadSection());
  dom.unlock();
  EXPECT_FALSE(rcu::InReadSection());
}

TEST(RcuDomainTest, LocksWithAMutexThroughStdLock) {
  // std::scoped_lock of two lockables runs std::lock's algorithm, which
  // try_locks one while holding the other, and may back off and retry.
  std::mutex mu;
  {
    std::scoped_lock both(mu, rcu::rcu_default_domain());
    EXPECT_TRUE(rcu::InReadSection());
  }
  EXPECT_FALSE(rcu::InReadSection());
  {
    std::scoped_lock both(rcu::rcu_default_domain(), mu);
    EXPECT_TRUE(rcu::InReadSection());
  }
  EXPECT_FALSE(rcu::InReadSection());
}

TEST(RcuDomainTest, RegionsNestAndOnlyTheOutermostUnlockCloses) {
  rcu_domain& dom = rcu::rcu_default_domain();
  {
    std::scoped_lock outer(dom);
    for (int i = 0; i < 100; ++i) {
      std::lock_guard<rcu_domain> middle(dom);
      dom.lock();
      {
        rcu::ReadGuard guard;  // the native style nests with it too
        EXPECT_TRUE(rcu::InReadSection());
      }
      dom.unlock();
      EXPECT_TRUE(rcu::InReadSection());
    }
    EXPECT_TRUE(rcu::InReadSection());
  }
  EXPECT_FALSE(rcu::InReadSection());
  rcu::rcu_synchronize();
}

TEST(RcuDomainTest, ARegionHoldsBackSynchronize) {
  auto reader = std::make_unique<DomainReader>();
  std::atomic<bool> returned{false};
  std::thread writer([&] {
    rcu::rcu_synchronize();
    returned.store(true);
  });
  EXPECT_TRUE(StaysIntact(returned, [&] { return !returned.load(); }))
      << "rcu_synchronize() returned while a region was open";
  reader.reset();  // leaves its region
  const bool completed = rcu_test::Eventually([&] { return returned.load(); });
  EXPECT_TRUE(completed) << "rcu_synchronize() did not return after the region closed";
  if (!completed) std::_Exit(1);  // the writer would never return
  writer.join();
}

TEST(RcuDomainTest, NativeAndStandardStylesShareGracePeriods) {
  // A native ReadGuard holds back rcu_synchronize()...
  {
    rcu_test::ParkedReader reader;
    std::atomic<bool> returned{false};
    std::thread writer([&] {
      rcu::rcu_synchronize();
      returned.store(true);
    });
    EXPECT_TRUE(StaysIntact(returned, [&] { return !returned.load(); }));
    reader.Join();
    writer.join();
  }
  // ...and a standard region holds back rcu::Synchronize().
  {
    DomainReader reader;
    std::atomic<bool> returned{false};
    std::thread writer([&] {
      rcu::Synchronize();
      returned.store(true);
    });
    EXPECT_TRUE(StaysIntact(returned, [&] { return !returned.load(); }));
    reader.Join();
    writer.join();
  }
}

// ---------------------------------------------------------------------------
// rcu_obj_base: retired while readers hold it.

std::atomic<int> probes_destroyed{0};

struct Probe : rcu::rcu_obj_base<Probe> {
  ~Probe() {
    alive = false;
    probes_destroyed.fetch_add(1);
  }
  std::atomic<bool> alive{true};
  int payload = 42;
};

TEST(RcuObjBaseTest, RetiredObjectOutlivesTheReadersThatHoldIt) {
  probes_destroyed.store(0);
  rcu_domain& dom = rcu::rcu_default_domain();
  std::atomic<Probe*> current{new Probe};
  constexpr int kReaders = 2;
  std::atomic<int> entered{0};
  std::atomic<bool> retired{false};
  std::atomic<bool> barrier_done{false};
  std::atomic<int> intact_readers{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&] {
      std::scoped_lock outer(dom);
      dom.lock();  // nested: the reader holds two regions across the retire
      Probe* probe = current.load(std::memory_order_acquire);
      entered.fetch_add(1);
      while (!retired.load()) std::this_thread::yield();
      dom.unlock();  // the outer region still protects `probe`
      const bool intact = StaysIntact(barrier_done, [&] {
        return probes_destroyed.load() == 0 && probe->alive.load() && probe->payload == 42;
      });
      if (intact) intact_readers.fetch_add(1);
    });
  }
  while (entered.load() < kReaders) std::this_thread::yield();
  current.exchange(nullptr, std::memory_order_acq_rel)->retire();
  retired.store(true);
  // A barrier that cannot finish until both readers have left: it ends their
  // wait early if a region failed to hold the object.
  std::thread barrier([&] {
    rcu::rcu_barrier();
    barrier_done.store(true);
  });
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(intact_readers.load(), kReaders) << "the object died under a reader";
  const bool completed = rcu_test::Eventually([&] { return barrier_done.load(); });
  EXPECT_TRUE(completed) << "rcu_barrier() still waits after the readers left";
  if (!completed) std::_Exit(1);  // the barrier thread would never return
  barrier.join();
  rcu::rcu_barrier();
  EXPECT_EQ(probes_destroyed.load(), 1);
}

// A deleter with state of its own, which it uses after deleting the object
// that stored it.
struct TaggedDeleter {
  DeleteLog* log = nullptr;
  int tag = 0;
  template <typename T>
  void operator()(T* object) {
    const int value = object->value;
    delete object;
    log->Add(tag * 1000 + value);  // after the object (and its copy of us) died
  }
};

struct Tagged : rcu::rcu_obj_base<Tagged, TaggedDeleter> {
  explicit Tagged(int v) : value(v) {}
  int value;
};

TEST(RcuObjBaseTest, RetireStoresTheDeleterAndCallsItAfterReaders) {
  DeleteLog log;
  {
    DomainReader reader;
    for (int i = 0; i < 10; ++i) (new Tagged(i))->retire(TaggedDeleter{&log, i % 3});
    std::atomic<bool> never{false};
    EXPECT_TRUE(StaysIntact(never, [&] { return log.Sorted().empty(); }))
        << "a deleter ran while a region was open";
  }
  rcu::rcu_barrier();
  std::vector<int> expected;
  for (int i = 0; i < 10; ++i) expected.push_back((i % 3) * 1000 + i);
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(log.Sorted(), expected);
}

TEST(RcuObjBaseTest, ACopyOfAQueuedObjectRetiresIndependently) {
  // The copy starts unlinked (the link is not copied), so both get reclaimed.
  DeleteLog log;
  {
    DomainReader reader;  // keeps `first` queued while it is copied
    auto* first = new Tagged(1);
    first->retire(TaggedDeleter{&log, 1});
    auto* second = new Tagged(*first);  // copy of a retired object: readers may do this
    second->value = 2;
    second->retire(TaggedDeleter{&log, 2});
  }
  rcu::rcu_barrier();
  EXPECT_EQ(log.Sorted(), (std::vector<int>{1001, 2002}));
}

TEST(RcuObjBaseTest, RetireAllocatesNothing) {
  DeleteLog log;
  rcu::rcu_barrier();
  { std::scoped_lock lock(rcu::rcu_default_domain()); }  // this thread is registered
  probes_destroyed.store(0);
  const long start = rcu_test::ThreadAllocations();
  auto* plain = new Probe;
  auto* tagged = new Tagged(5);
  auto* inside = new Tagged(6);
  const long before = rcu_test::ThreadAllocations();
  ASSERT_EQ(before - start, 3);  // the counter sees this thread's news
  plain->retire();
  tagged->retire(TaggedDeleter{&log, 1});
  {
    std::scoped_lock lock(rcu::rcu_default_domain());
    inside->retire(TaggedDeleter{&log, 2});
  }
  EXPECT_EQ(rcu_test::ThreadAllocations(), before);
  rcu::rcu_barrier();
  EXPECT_EQ(probes_destroyed.load(), 1);
  EXPECT_EQ(log.Sorted(), (std::vector<int>{1005, 2006}));
}

// ---------------------------------------------------------------------------
// rcu_retire with deleters.

TEST(RcuRetireTest, CustomStatefulDeleterRunsAfterReaders) {
  DeleteLog log;
  {
    DomainReader reader;
    for (int i = 0; i < 20; ++i) {
      rcu::rcu_retire(new Tagged(i), TaggedDeleter{&log, 7});
    }
    std::atomic<bool> never{false};
    EXPECT_TRUE(StaysIntact(never, [&] { return log.Sorted().empty(); }))
        << "rcu_retire's deleter ran while a region was open";
  }
  rcu::rcu_barrier();
  std::vector<int> expected;
  for (int i = 0; i < 20; ++i) expected.push_back(7000 + i);
  EXPECT_EQ(log.Sorted(), expected);
}

std::atomic<int> empty_deleter_calls{0};

struct EmptyDeleter {
  void operator()(Plain* p) const {
    delete p;
    empty_deleter_calls.fetch_add(1);
  }
};

TEST(RcuRetireTest, EmptyDeleterTypeAndDefaultDelete) {
  empty_deleter_calls.store(0);
  for (int i = 0; i < 100; ++i) rcu::rcu_retire(new Plain, EmptyDeleter());
  rcu::rcu_retire(new Plain);  // std::default_delete
  rcu::rcu_retire(static_cast<Plain*>(nullptr));
  rcu::rcu_barrier();
  EXPECT_EQ(empty_deleter_calls.load(), 100);
}

TEST(RcuRetireTest, NullIsPassedToTheDeleterLikeAnyPointer) {
  // The draft schedules d(p) for every p, null included.
  std::atomic<int> null_calls{0};
  rcu::rcu_retire(static_cast<Plain*>(nullptr), [&](Plain* p) {
    if (p == nullptr) null_calls.fetch_add(1);
  });
  rcu::rcu_barrier();
  EXPECT_EQ(null_calls.load(), 1);
}

// ---------------------------------------------------------------------------
// rcu_barrier before what the deleters use goes away.

struct LocalCounter {
  std::atomic<int> count{0};
};

struct CountingDeleter {
  LocalCounter* counter = nullptr;
  template <typename T>
  void operator()(T* object) {
    delete object;
    counter->count.fetch_add(1);
  }
};

struct Counted : rcu::rcu_obj_base<Counted, CountingDeleter> {};

TEST(RcuBarrierTest, WaitsForEveryDeleterScheduledBeforeIt) {
  for (int round = 0; round < 20; ++round) {
    LocalCounter local;  // the deleters use it; it dies at the end of the round
    for (int i = 0; i < 50; ++i) rcu::rcu_retire(new Plain, CountingDeleter{&local});
    for (int i = 0; i < 50; ++i) (new Counted)->retire(CountingDeleter{&local});
    // Another thread, still running, schedules some too before the barrier.
    empty_deleter_calls.store(0);
    rcu_test::Notification scheduled, done;
    std::thread other([&] {
      for (int i = 0; i < 10; ++i) rcu::rcu_retire(new Plain, CountingDeleter{&local});
      for (int i = 0; i < 10; ++i) rcu::rcu_retire(new Plain, EmptyDeleter());
      scheduled.Notify();
      done.WaitForNotification();
    });
    scheduled.WaitForNotification();
    rcu::rcu_barrier();
    EXPECT_EQ(local.count.load(), 110) << "round " << round;
    EXPECT_EQ(empty_deleter_calls.load(), 10) << "round " << round;
    done.Notify();
    other.join();
  }
}

// ---------------------------------------------------------------------------
// Misuse is diagnosed, as for the native calls.

TEST(StdRcuDeathTest, SynchronizeInsideARegionIsFatal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        std::scoped_lock lock(rcu::rcu_default_domain());
        rcu::rcu_synchronize();
      },
      "rcu::Synchronize\\(\\) called inside a read-side critical section");
}

TEST(StdRcuDeathTest, BarrierInsideARegionIsFatal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        std::scoped_lock lock(rcu::rcu_default_domain());
        rcu::rcu_barrier();
      },
      "rcu::Barrier\\(\\) called inside a read-side critical section");
}

}  // namespace
