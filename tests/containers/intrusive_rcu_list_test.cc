// Unit tests of rcu::IntrusiveRcuList and rcu::IntrusiveListHook
// (containers/intrusive_rcu_list.h).
#include "containers/intrusive_rcu_list.h"

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
#include "rcu/diagnostics.h"
#include "rcu/grace_period.h"
#include "rcu/mutex.h"
#include "rcu/read_guard.h"
#include "rcu/stats.h"
#include "tests/util/test_util.h"

namespace {

constexpr std::uint64_t kLive = 0x4c495645'4e4f4445;  // "LIVENODE"
constexpr std::uint64_t kDead = 0xdeadbeef'deadbeef;
std::atomic<int> objects_live{0};

// A user's object: the hook is not the first member, and the type is not
// standard-layout (a std::string and a virtual function), so that the
// hook-to-object arithmetic is exercised for real.
class Session {
 public:
  explicit Session(int id, std::string user = "")
      : id_(id), user_(std::move(user)), check_(Check(id)) {
    objects_live.fetch_add(1);
  }
  Session(const Session& other) : Session(other.id_, other.user_) {}
  virtual ~Session() {
    magic_ = kDead;
    check_ = 0;
    objects_live.fetch_sub(1);
  }

  static std::uint64_t Check(int id) { return static_cast<std::uint64_t>(id) * 0x9e3779b97f4a7c15; }
  virtual int id() const { return id_; }
  const std::string& user() const { return user_; }
  bool Valid() const { return magic_ == kLive && check_ == Check(id_); }

  std::atomic<int> hits{0};  // readers may update it in place
  rcu::IntrusiveListHook hook;
  rcu::IntrusiveListHook second_hook;  // for a second list

 private:
  int id_;
  std::string user_;
  std::uint64_t check_;
  std::uint64_t magic_ = kLive;
};

using SessionList = rcu::IntrusiveRcuList<Session, &Session::hook>;
using SecondList = rcu::IntrusiveRcuList<Session, &Session::second_hook>;

template <typename List>
std::vector<int> Ids(const List& list) {
  rcu::ReadGuard guard;
  std::vector<int> out;
  for (const Session& s : list.Iterate(guard)) out.push_back(s.id());
  return out;
}

using Ints = std::vector<int>;

// Owns the objects of a test and checks that none is destroyed while linked.
struct Pool {
  std::vector<std::unique_ptr<Session>> objects;
  Session& Make(int id) {
    objects.push_back(std::make_unique<Session>(id));
    return *objects.back();
  }
};

// The example of intrusive_rcu_list.h's file comment, as written there.
namespace example {

struct Session {
  std::string user;
  std::atomic<std::int64_t> last_seen{0};  // readers may update it
  rcu::IntrusiveListHook hook;             // the list's links
};

bool Idle(const Session& s) { return s.last_seen.load() == 0; }

rcu::Mutex mu;  // serializes writers
rcu::IntrusiveRcuList<Session, &Session::hook> sessions;

void Open(std::unique_ptr<Session> s) {
  rcu::MutexLock lock(mu);
  sessions.push_back(mu, *s.release());  // the list does not own it
}

bool Active(std::string_view user) {  // readers: any thread
  rcu::ReadGuard guard;
  for (const Session& s : sessions.Iterate(guard)) {
    if (s.user == user) return true;
  }
  return false;
}

void Close(Session& s) {
  Session* removed;
  {
    rcu::MutexLock lock(mu);
    removed = sessions.erase(mu, s);  // handed back to you
  }
  rcu::Retire(removed);  // deleted after a grace period
}

void CloseIdle() {          // bulk removal with a disposer,
  rcu::MutexLock lock(mu);  // called after a grace period
  sessions.remove_if(
      mu, [](const Session& s) { return Idle(s); }, std::default_delete<Session>());
}

}  // namespace example

TEST(IntrusiveRcuListTest, FileCommentExample) {
  auto a = std::make_unique<example::Session>();
  a->user = "alice";
  example::Session* alice = a.get();
  example::Open(std::move(a));
  auto b = std::make_unique<example::Session>();
  b->user = "bob";
  b->last_seen = 5;
  example::Session* bob = b.get();
  example::Open(std::move(b));
  EXPECT_TRUE(example::Active("alice"));
  example::CloseIdle();  // alice never was seen
  EXPECT_FALSE(example::Active("alice"));
  EXPECT_TRUE(example::Active("bob"));
  (void)alice;
  example::Close(*bob);
  EXPECT_FALSE(example::Active("bob"));
  rcu::Barrier();
}

TEST(IntrusiveRcuListTest, StartsEmpty) {
  SessionList list;
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.size(), 0u);
  rcu::ReadGuard guard;
  EXPECT_TRUE(list.Iterate(guard).empty());
}

TEST(IntrusiveRcuListTest, PushIterateAndEraseHandsTheObjectBack) {
  rcu::Mutex mu;
  SessionList list;
  Pool pool;
  Session& a = pool.Make(1);
  Session& b = pool.Make(2);
  Session& c = pool.Make(3);
  {
    rcu::MutexLock lock(mu);
    EXPECT_FALSE(a.hook.is_linked());
    list.push_back(mu, b);
    list.push_front(mu, a);
    list.push_back(mu, c);
    EXPECT_TRUE(a.hook.is_linked());
    EXPECT_EQ(list.size(), 3u);
  }
  EXPECT_EQ(Ids(list), (Ints{1, 2, 3}));
  {
    rcu::MutexLock lock(mu);
    EXPECT_EQ(list.erase(mu, b), &b);
    EXPECT_FALSE(b.hook.is_linked());
    EXPECT_EQ(list.erase(mu, b), nullptr);  // not linked any more
    EXPECT_EQ(list.erase(mu, list.iterator_to(b)), nullptr);
    EXPECT_EQ(list.erase(mu, list.Protected(mu).begin()), &a);
    EXPECT_EQ(list.size(), 1u);
  }
  EXPECT_EQ(Ids(list), (Ints{3}));
  rcu::MutexLock lock(mu);
  list.erase(mu, c);
  rcu::Synchronize();  // before the objects are destroyed (here: by the pool)
}

TEST(IntrusiveRcuListTest, InsertAfterBeforeAndIteratorTo) {
  rcu::Mutex mu;
  SessionList list;
  Pool pool;
  for (int i = 0; i < 6; ++i) pool.Make(i);
  auto& o = pool.objects;
  rcu::MutexLock lock(mu);
  list.push_back(mu, *o[1]);
  list.push_back(mu, *o[4]);
  EXPECT_TRUE(list.insert_after(mu, list.iterator_to(*o[1]), *o[2]));
  EXPECT_TRUE(list.insert_before(mu, list.iterator_to(*o[4]), *o[3]));
  EXPECT_TRUE(list.insert_before(mu, list.Protected(mu).end(), *o[5]));  // appends
  EXPECT_TRUE(list.insert_before(mu, list.Protected(mu).begin(), *o[0]));
  EXPECT_EQ(Ids(list), (Ints{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(list.size(), 6u);
  // iterator_to() of a const object gives a const_iterator to it.
  const Session& three = *o[3];
  SessionList::const_iterator it = SessionList::iterator_to(three);
  EXPECT_EQ(&*it, &three);
  EXPECT_EQ((++it)->id(), 4);
  // Positions whose object left the list.
  ASSERT_EQ(list.erase(mu, *o[2]), o[2].get());
  Session& spare = pool.Make(9);
  EXPECT_FALSE(list.insert_after(mu, list.iterator_to(*o[2]), spare));
  EXPECT_FALSE(list.insert_before(mu, list.iterator_to(*o[2]), spare));
  EXPECT_EQ(list.replace(mu, list.iterator_to(*o[2]), spare), nullptr);
  EXPECT_FALSE(spare.hook.is_linked());
  EXPECT_EQ(Ids(list), (Ints{0, 1, 3, 4, 5}));
  list.clear(mu, [](Session*) {});
  rcu::Barrier();  // the disposer has run: the hooks are unlinked
}

TEST(IntrusiveRcuListTest, ReplaceHandsTheOldObjectBack) {
  rcu::Mutex mu;
  SessionList list;
  Pool pool;
  Session& a = pool.Make(1);
  Session& b = pool.Make(2);
  Session& b2 = pool.Make(20);
  {
    rcu::MutexLock lock(mu);
    list.push_back(mu, a);
    list.push_back(mu, b);
    rcu::ReadGuard guard;
    auto old_pos = SessionList::iterator_to(b);
    EXPECT_EQ(list.replace(mu, old_pos, b2), &b);
    EXPECT_TRUE(b2.hook.is_linked());
    EXPECT_FALSE(b.hook.is_linked());
    EXPECT_EQ(list.size(), 2u);
    EXPECT_EQ(Ids(list), (Ints{1, 20}));
    // A reader standing on the old object still reaches the old successor.
    auto after = old_pos;
    EXPECT_EQ(++after, list.Iterate(guard).end());
    list.clear(mu, [](Session*) {});
  }
  rcu::Barrier();  // the pool outlives the disposals
}

TEST(IntrusiveRcuListTest, ReadersMayUpdateAtomicFieldsInPlace) {
  rcu::Mutex mu;
  SessionList list;
  Pool pool;
  {
    rcu::MutexLock lock(mu);
    list.push_back(mu, pool.Make(1));
  }
  {
    rcu::ReadGuard guard;
    for (const Session& s : list.Iterate(guard)) const_cast<Session&>(s).hits.fetch_add(1);
  }
  rcu::MutexLock lock(mu);
  for (Session& s : list.Protected(mu)) EXPECT_EQ(s.hits.load(), 1);
  list.clear(mu, [](Session*) {});
  rcu::Barrier();  // the pool outlives the disposals
}

TEST(IntrusiveRcuListTest, RemoveIfDisposesAfterAGracePeriod) {
  rcu::Barrier();
  const int base = objects_live.load();
  rcu::Mutex mu;
  SessionList list;
  {
    rcu::MutexLock lock(mu);
    for (int i = 0; i < 10; ++i) list.push_back(mu, *new Session(i));
  }
  std::atomic<int> disposed{0};
  // A reader holds up the grace period: the disposer must not run until it
  // leaves, however long we wait.
  std::vector<const Session*> seen;
  bool intact = false;
  rcu_test::ParkedReader reader(
      [&](const rcu::ReadGuard& guard) {
        for (const Session& s : list.Iterate(guard)) seen.push_back(&s);
      },
      [&](const rcu::ReadGuard&) {
        intact = std::all_of(seen.begin(), seen.end(), [](const Session* s) { return s->Valid(); });
      });
  {
    rcu::MutexLock lock(mu);
    EXPECT_EQ(list.remove_if(
                  mu, [](const Session& s) { return s.id() % 2 == 0; },
                  [&disposed](Session* s) {
                    EXPECT_FALSE(s->hook.is_linked());
                    disposed.fetch_add(1);
                    delete s;
                  }),
              5u);
    EXPECT_EQ(list.size(), 5u);
  }
  EXPECT_EQ(Ids(list), (Ints{1, 3, 5, 7, 9}));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(disposed.load(), 0);
  reader.Join();
  EXPECT_TRUE(intact);
  rcu::Barrier();
  EXPECT_EQ(disposed.load(), 5);
  {
    rcu::MutexLock lock(mu);
    EXPECT_EQ(list.remove_if(
                  mu, [](const Session&) { return false; }, std::default_delete<Session>()),
              0u);
    EXPECT_EQ(list.clear(mu, std::default_delete<Session>()), 5u);
    EXPECT_EQ(list.clear(mu, std::default_delete<Session>()), 0u);
  }
  rcu::Barrier();
  EXPECT_EQ(objects_live.load(), base);
}

TEST(IntrusiveRcuListTest, BulkRemovalQueuesOneCallback) {
  rcu::Mutex mu;
  SessionList list;
  rcu::MutexLock lock(mu);
  for (int i = 0; i < 100; ++i) list.push_back(mu, *new Session(i));
  rcu::Barrier();
  const std::uint64_t queued = rcu::GetStats().callbacks_queued;
  list.remove_if(
      mu, [](const Session& s) { return s.id() < 50; }, std::default_delete<Session>());
  list.clear(mu, std::default_delete<Session>());
  list.clear(mu, std::default_delete<Session>());  // nothing removed, nothing queued
  EXPECT_EQ(rcu::GetStats().callbacks_queued, queued + 2);
  rcu::Barrier();
}

TEST(IntrusiveRcuListTest, DisposersMayRecycleObjects) {
  rcu::Mutex mu;
  SessionList list;
  Pool pool;
  std::vector<Session*> free_list;  // guarded by mu
  {
    rcu::MutexLock lock(mu);
    for (int i = 0; i < 4; ++i) list.push_back(mu, pool.Make(i));
    list.clear(mu, [&](Session* s) {
      rcu::MutexLock relock(mu);
      free_list.push_back(s);
    });
  }
  rcu::Barrier();
  rcu::MutexLock lock(mu);
  ASSERT_EQ(free_list.size(), 4u);
  // A grace period has passed: relinking is safe.
  for (Session* s : free_list) list.push_front(mu, *s);
  Ints ids = Ids(list);  // disposal order is unspecified
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (Ints{0, 1, 2, 3}));
  list.clear(mu, [](Session*) {});
  rcu::Barrier();  // the pool outlives the disposals
}

TEST(IntrusiveRcuListTest, RelinkAfterSynchronize) {
  rcu::Mutex mu;
  SessionList list;
  Pool pool;
  Session& a = pool.Make(1);
  Session& b = pool.Make(2);
  rcu::MutexLock lock(mu);
  list.push_back(mu, a);
  list.push_back(mu, b);
  list.erase(mu, a);
  rcu::Synchronize();  // no reader can still be standing on `a`
  list.push_back(mu, a);
  EXPECT_EQ(Ids(list), (Ints{2, 1}));
  list.clear(mu, [](Session*) {});
  rcu::Barrier();  // the pool outlives the disposals
}

TEST(IntrusiveRcuListTest, AnObjectInTwoLists) {
  rcu::Mutex mu;
  SessionList first;
  SecondList second;
  Pool pool;
  rcu::MutexLock lock(mu);
  for (int i = 0; i < 4; ++i) {
    first.push_back(mu, pool.Make(i));
    second.push_front(mu, *pool.objects.back());
  }
  EXPECT_EQ(Ids(first), (Ints{0, 1, 2, 3}));
  EXPECT_EQ(Ids(second), (Ints{3, 2, 1, 0}));
  second.erase(mu, *pool.objects[1]);
  EXPECT_TRUE(pool.objects[1]->hook.is_linked());
  EXPECT_FALSE(pool.objects[1]->second_hook.is_linked());
  EXPECT_EQ(Ids(first), (Ints{0, 1, 2, 3}));
  EXPECT_EQ(Ids(second), (Ints{3, 2, 0}));
  first.clear(mu, [](Session*) {});
  second.clear(mu, [](Session*) {});
  rcu::Barrier();
}

TEST(IntrusiveRcuListTest, CopiesDoNotCopyLinks) {
  rcu::Mutex mu;
  SessionList list;
  Pool pool;
  Session& a = pool.Make(1);
  rcu::MutexLock lock(mu);
  list.push_back(mu, a);
  Session copy(a);
  EXPECT_FALSE(copy.hook.is_linked());
  Session other(5);
  other.hook = a.hook;  // assignment leaves a hook as it is
  EXPECT_FALSE(other.hook.is_linked());
  EXPECT_TRUE(a.hook.is_linked());
  list.push_back(mu, copy);
  EXPECT_EQ(Ids(list), (Ints{1, 1}));
  list.clear(mu, [](Session*) {});
  rcu::Barrier();  // `copy` must outlive its disposal
}

// Disposers must not throw; if one does, the others still run and the core
// reports the exception (rcu/diagnostics.h).
TEST(IntrusiveRcuListTest, AThrowingDisposerDoesNotStopTheOthers) {
  rcu::Mutex mu;
  SessionList list;
  Pool pool;
  std::atomic<int> disposed{0};
  std::atomic<int> reported{0};
  auto previous = rcu::SetDiagnosticHandler([&reported](const rcu::Diagnostic& d) {
    if (d.kind == rcu::Diagnostic::Kind::kCallbackThrew) reported.fetch_add(1);
  });
  {
    rcu::MutexLock lock(mu);
    for (int i = 0; i < 5; ++i) list.push_back(mu, pool.Make(i));
    list.clear(mu, [&disposed](Session* s) {
      disposed.fetch_add(1);
      if (s->id() == 2) throw std::runtime_error("disposer");
    });
  }
  rcu::Barrier();
  rcu::SetDiagnosticHandler(previous);
  EXPECT_EQ(disposed.load(), 5);
  EXPECT_EQ(reported.load(), 1);
}

TEST(IntrusiveRcuListTest, ThrowingPredicateStillDisposesWhatItRemoved) {
  rcu::Mutex mu;
  SessionList list;
  Pool pool;
  std::atomic<int> disposed{0};
  {
    rcu::MutexLock lock(mu);
    for (int i = 0; i < 5; ++i) list.push_back(mu, pool.Make(i));
    EXPECT_THROW(list.remove_if(
                     mu,
                     [](const Session& s) {
                       if (s.id() == 3) throw std::runtime_error("predicate");
                       return s.id() < 2;
                     },
                     [&disposed](Session*) { disposed.fetch_add(1); }),
                 std::runtime_error);
    EXPECT_EQ(list.size(), 3u);
  }
  EXPECT_EQ(Ids(list), (Ints{2, 3, 4}));
  rcu::Barrier();
  EXPECT_EQ(disposed.load(), 2);
  rcu::MutexLock lock(mu);
  list.clear(mu, [](Session*) {});
  rcu::Barrier();
}

// std::mutex works too (clang's analysis cannot see libstdc++'s std::mutex).
void StdMutexWriter(std::mutex& mu, SessionList& list, Session& s) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  std::lock_guard<std::mutex> lock(mu);
  list.push_back(mu, s);
  EXPECT_EQ(list.erase(mu, s), &s);
}

TEST(IntrusiveRcuListTest, AnyLockType) {
  std::mutex mu;
  SessionList list;
  Pool pool;
  StdMutexWriter(mu, list, pool.Make(1));
  EXPECT_TRUE(list.empty());
  rcu::Synchronize();
}

TEST(IntrusiveRcuListTest, Footprint) {
  if (sizeof(void*) == 8) {
    EXPECT_EQ(sizeof(rcu::IntrusiveListHook), 16u);
    EXPECT_EQ(sizeof(SessionList), 24u);
  }
}

// ---------------------------------------------------------------------------
// Iteration under concurrent modification: a writer churns objects from a
// heap, retiring what it removes; readers must see only valid objects, in
// order, with every stable object exactly once.

TEST(IntrusiveRcuListConcurrencyTest, ReadersNeverSeeFreedObjects) {
  rcu::Barrier();
  const int base = objects_live.load();
  constexpr int kGap = 8;
  constexpr int kStable = 16;
  rcu::Mutex mu;
  SessionList list;
  {
    rcu::MutexLock lock(mu);
    for (int i = 0; i < kStable; ++i) list.push_back(mu, *new Session(i * kGap));
  }
  std::atomic<bool> stop{false};
  std::atomic<long> invalid{0}, unsorted{0}, stable_missing{0}, traversals{0};
  std::atomic<int> started{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      started.fetch_add(1);
      long local = 0;
      while (!stop.load(std::memory_order_relaxed) || local < 10) {
        rcu::ReadGuard guard;
        int last = -1, stable_seen = 0;
        for (const Session& s : list.Iterate(guard)) {
          if (!s.Valid()) {
            invalid.fetch_add(1);
            break;
          }
          if (s.id() <= last) unsorted.fetch_add(1);
          last = s.id();
          if (s.id() % kGap == 0) ++stable_seen;
        }
        if (stable_seen != kStable) stable_missing.fetch_add(1);
        ++local;
      }
      traversals.fetch_add(local);
    });
  }
  while (started.load() < 2) std::this_thread::yield();  // overlap with the readers
  std::mt19937 rng(3);
  long inserted = 0, erased = 0, replaced = 0, bulk = 0;
  for (int op = 0; op < 4000; ++op) {
    rcu::MutexLock lock(mu);
    auto all = list.Protected(mu);
    auto it = all.begin();
    for (unsigned n = rng() % kStable; n > 0; --n) {
      do ++it;
      while (it->id() % kGap != 0);
    }
    auto next = std::next(it);
    const bool has_transient = next != all.end() && next->id() % kGap != 0;
    switch (rng() % 4) {
      case 0:
        if (!has_transient) {
          EXPECT_TRUE(list.insert_after(
              mu, it, *new Session(it->id() + 1 + static_cast<int>(rng() % (kGap - 1)))));
          ++inserted;
        }
        break;
      case 1:
        if (has_transient) {
          rcu::Retire(list.erase(mu, next));
          ++erased;
        }
        break;
      case 2:
        if (has_transient) {
          rcu::Retire(list.replace(mu, next, *new Session(next->id())));
          ++replaced;
        }
        break;
      case 3:
        if (op % 50 == 0) {
          bulk += static_cast<long>(list.remove_if(
              mu, [](const Session& s) { return s.id() % kGap != 0; },
              std::default_delete<Session>()));
        }
        break;
    }
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(invalid.load(), 0);
  EXPECT_EQ(unsorted.load(), 0);
  EXPECT_EQ(stable_missing.load(), 0);
  EXPECT_GT(traversals.load(), 0);
  EXPECT_EQ(static_cast<long>(list.size()), kStable + inserted - erased - bulk);
  std::printf(
      "readers: %ld traversals; writer: %ld inserts, %ld erases, %ld replaces, "
      "%ld bulk-removed\n",
      traversals.load(), inserted, erased, replaced, bulk);
  {
    rcu::MutexLock lock(mu);
    list.clear(mu, std::default_delete<Session>());
  }
  rcu::Barrier();
  EXPECT_EQ(objects_live.load(), base);
}

// ---------------------------------------------------------------------------
// Misuse caught in debug builds.

#ifndef NDEBUG
TEST(IntrusiveRcuListDeathTest, LinkingALinkedObjectIsCaught) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        rcu::Mutex mu;
        SessionList list;
        Session s(1);
        rcu::MutexLock lock(mu);
        list.push_back(mu, s);
        list.push_back(mu, s);
      },
      "already in a list");
}

TEST(IntrusiveRcuListDeathTest, DestroyingALinkedHookIsCaught) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        rcu::Mutex mu;
        static SessionList list;
        rcu::MutexLock lock(mu);
        Session s(1);
        list.push_back(mu, s);
      },
      "destroyed while its object is still in a list");
}

TEST(IntrusiveRcuListDeathTest, DestroyingANonEmptyListIsCaught) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        rcu::Mutex mu;
        static Session s(1);
        SessionList list;
        rcu::MutexLock lock(mu);
        list.push_back(mu, s);
      },
      "destroyed with objects still linked");
}

TEST(IntrusiveRcuListDeathTest, WriterWithoutTheLockIsCaught) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  rcu::Mutex mu;
  SessionList list;
  Session s(1);
  auto unlocked = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { list.push_back(mu, s); };
  EXPECT_DEATH(unlocked(), "without holding the writers' lock");
}
#endif  // NDEBUG

}  // namespace
