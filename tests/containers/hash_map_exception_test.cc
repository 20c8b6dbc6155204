// The exception sweep of rcu::HashMap: every write API, outside and inside
// a read-side section, with each fault injected at every point it can
// occur, one point per run:
//  - the n-th allocation of the calling thread fails (operator new throws,
//    the nothrow forms return null), alone or with every later one;
//  - the n-th call of the hash, of the key equality, of the key's copy
//    constructor or of the value's copy constructor throws.
// After each run the map must be unchanged if the call threw (for calls on
// one key, clear(), assignment and reserve/rehash) or changed as the model
// says if it returned; calls on many keys (range insert, merge, erase of a
// range) may stop part way, keeping what they did. Every value must be
// intact, no stripe locked (each stripe is locked again afterwards), no
// read-side section left open, and, once the map is destroyed and
// rcu::Barrier() has run, nothing allocated may remain.
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstddef>
#include <cstdio>
#include <functional>
#include <map>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "containers/hash_map.h"
#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/diagnostics.h"
#include "rcu/grace_period.h"
#include "rcu/read_guard.h"
#include "tests/util/allocation_counter.h"

namespace {

// --- Fault injection for user code ------------------------------------------------

enum class Fault {
  kNone,
  kAllocation,
  kAllocationAndLater,
  kHash,
  kEquality,
  kKeyCopy,
  kValueCopy
};

const char* FaultName(Fault f) {
  switch (f) {
    case Fault::kNone:
      return "none";
    case Fault::kAllocation:
      return "allocation";
    case Fault::kAllocationAndLater:
      return "allocation and every later one";
    case Fault::kHash:
      return "hash";
    case Fault::kEquality:
      return "key equality";
    case Fault::kKeyCopy:
      return "key copy";
    case Fault::kValueCopy:
      return "value copy";
  }
  return "?";
}

struct UserFault : std::runtime_error {
  UserFault() : std::runtime_error("injected fault") {}
};

// Armed for one kind of user call: the countdown-th such call throws.
// Only the test's own thread arms it.
thread_local Fault armed = Fault::kNone;
thread_local long countdown = 0;
thread_local bool fired = false;

void MaybeThrow(Fault kind) {
  if (armed != kind) return;
  if (--countdown == 0) {
    fired = true;
    throw UserFault();
  }
}

struct Key {
  explicit Key(int k) : k(k) {}
  Key(const Key& other) : k(other.k) { MaybeThrow(Fault::kKeyCopy); }
  Key& operator=(const Key&) = delete;
  int k;
};

struct KeyHash {
  std::size_t operator()(const Key& key) const {
    MaybeThrow(Fault::kHash);
    // An identity hash (the map mixes it) of half the key: keys collide in
    // pairs, so that lookups also compare keys that are not equal.
    return std::hash<int>()(key.k / 2);
  }
};

struct KeyEq {
  bool operator()(const Key& a, const Key& b) const {
    MaybeThrow(Fault::kEquality);
    return a.k == b.k;
  }
};

struct Value {
  static inline std::atomic<long> live{0};
  explicit Value(int v) : v(v) { live.fetch_add(1); }
  Value(const Value& other) : v(other.v) {
    MaybeThrow(Fault::kValueCopy);
    live.fetch_add(1);
  }
  ~Value() {
    magic = 0;
    live.fetch_sub(1);
  }
  Value& operator=(const Value&) = delete;
  int v;
  unsigned magic = 0x600DF00D;
};

using Map = rcu::HashMap<Key, Value, KeyHash, KeyEq>;
using Model = std::map<int, int>;
using Entry = Map::value_type;

Entry E(int k, int v) { return Entry(Key(k), Value(v)); }

// The map's contents as a model; checks every value is intact.
Model Contents(const Map& map) {
  Model model;
  rcu::ReadGuard guard;
  for (const Entry& entry : map.Iterate(guard)) {
    EXPECT_EQ(entry.second.magic, 0x600DF00Du) << "a freed value, key " << entry.first.k;
    EXPECT_TRUE(model.emplace(entry.first.k, entry.second.v).second) << "key twice";
  }
  EXPECT_EQ(model.size(), map.size());
  return model;
}

// --- The write APIs ---------------------------------------------------------------

enum class Guarantee { kStrong, kBasic };

struct WriteOp {
  const char* name;
  Guarantee guarantee;
  std::function<void(Map&)> run;
  std::function<void(Model&)> model;  // what the call does when it returns
};

// The map each run starts from: keys 0..9, value = key; plus `source`,
// which merge() takes from and assignment copies.
Model Initial() {
  Model m;
  for (int k = 0; k < 10; ++k) m[k] = k;
  return m;
}

std::vector<WriteOp> WriteOps() {
  auto set = [](int k, int v) { return [k, v](Model& m) { m[k] = v; }; };
  auto add = [](int k, int v) { return [k, v](Model& m) { m.emplace(k, v); }; };
  auto drop = [](int k) { return [k](Model& m) { m.erase(k); }; };
  auto same = [](Model&) {};
  return {
      {"insert(new)", Guarantee::kStrong, [](Map& m) { m.insert(E(20, 20)); }, add(20, 20)},
      {"insert(present)", Guarantee::kStrong, [](Map& m) { m.insert(E(3, 33)); }, same},
      {"insert(const&)", Guarantee::kStrong,
       [](Map& m) {
         const Entry e = E(21, 21);
         m.insert(e);
       },
       add(21, 21)},
      {"insert(hint, new)", Guarantee::kStrong, [](Map& m) { m.insert(m.end(), E(22, 22)); },
       add(22, 22)},
      {"insert(range)", Guarantee::kBasic,
       [](Map& m) {
         const std::vector<Entry> v = {E(30, 30), E(31, 31), E(3, 99)};
         m.insert(v.begin(), v.end());
       },
       [](Model& m) { m.emplace(30, 30), m.emplace(31, 31); }},
      {"insert(init list)", Guarantee::kBasic,
       [](Map& m) {
         m.insert({E(32, 32), E(33, 33)});
       },
       [](Model& m) { m.emplace(32, 32), m.emplace(33, 33); }},
      {"emplace(new)", Guarantee::kStrong, [](Map& m) { m.emplace(Key(23), Value(23)); },
       add(23, 23)},
      {"emplace(present)", Guarantee::kStrong, [](Map& m) { m.emplace(Key(4), Value(44)); }, same},
      {"emplace_hint", Guarantee::kStrong,
       [](Map& m) { m.emplace_hint(m.end(), Key(24), Value(24)); }, add(24, 24)},
      {"try_emplace(new)", Guarantee::kStrong, [](Map& m) { m.try_emplace(Key(25), 25); },
       add(25, 25)},
      {"try_emplace(present)", Guarantee::kStrong, [](Map& m) { m.try_emplace(Key(5), 55); }, same},
      {"try_emplace(const key&)", Guarantee::kStrong,
       [](Map& m) {
         const Key k(26);
         m.try_emplace(k, 26);
       },
       add(26, 26)},
      {"try_emplace(hint)", Guarantee::kStrong, [](Map& m) { m.try_emplace(m.end(), Key(27), 27); },
       add(27, 27)},
      {"insert_or_assign(new)", Guarantee::kStrong,
       [](Map& m) { m.insert_or_assign(Key(28), Value(28)); }, set(28, 28)},
      {"insert_or_assign(present)", Guarantee::kStrong,
       [](Map& m) { m.insert_or_assign(Key(6), Value(66)); }, set(6, 66)},
      {"insert_or_assign(const key&)", Guarantee::kStrong,
       [](Map& m) {
         const Key k(7);
         const Value v(77);
         m.insert_or_assign(k, v);
       },
       set(7, 77)},
      {"insert_or_assign(hint)", Guarantee::kStrong,
       [](Map& m) { m.insert_or_assign(m.end(), Key(8), Value(88)); }, set(8, 88)},
      {"update(present)", Guarantee::kStrong,
       [](Map& m) { m.update(Key(2), [](const Value& v) { return Value(v.v + 100); }); },
       set(2, 102)},
      {"update(absent)", Guarantee::kStrong,
       [](Map& m) { m.update(Key(40), [](const Value& v) { return Value(v.v); }); }, same},
      {"compute(insert)", Guarantee::kStrong,
       [](Map& m) {
         m.compute(Key(41), [](const Value*) { return std::optional<Value>(Value(41)); });
       },
       set(41, 41)},
      {"compute(update)", Guarantee::kStrong,
       [](Map& m) {
         m.compute(Key(1), [](const Value* v) { return std::optional<Value>(Value(v->v + 10)); });
       },
       set(1, 11)},
      {"compute(erase)", Guarantee::kStrong,
       [](Map& m) { m.compute(Key(9), [](const Value*) { return std::optional<Value>(); }); },
       drop(9)},
      {"erase(key)", Guarantee::kStrong, [](Map& m) { m.erase(Key(3)); }, drop(3)},
      {"erase(absent key)", Guarantee::kStrong, [](Map& m) { m.erase(Key(50)); }, same},
      {"erase(find(key))", Guarantee::kStrong, [](Map& m) { m.erase(m.find(Key(4))); }, drop(4)},
      {"erase(first, last)", Guarantee::kBasic, [](Map& m) { m.erase(m.begin(), m.end()); },
       [](Model& m) { m.clear(); }},
      {"erase_if", Guarantee::kBasic,
       [](Map& m) { m.erase_if([](const Entry& e) { return e.first.k % 2 == 0; }); },
       [](Model& m) {
         for (auto it = m.begin(); it != m.end();)
           it = it->first % 2 == 0 ? m.erase(it) : std::next(it);
       }},
      {"clear", Guarantee::kStrong, [](Map& m) { m.clear(); }, [](Model& m) { m.clear(); }},
      {"reserve", Guarantee::kStrong, [](Map& m) { m.reserve(5000); }, same},
      {"rehash", Guarantee::kStrong, [](Map& m) { m.rehash(4096); }, same},
      {"merge", Guarantee::kBasic,
       [](Map& m) {
         Map source;
         source.try_emplace(Key(60), 60);
         source.try_emplace(Key(61), 61);
         source.try_emplace(Key(0), 1000);
         m.merge(source);
       },
       [](Model& m) { m.emplace(60, 60), m.emplace(61, 61); }},
      {"copy assignment", Guarantee::kStrong,
       [](Map& m) {
         Map other;
         other.try_emplace(Key(70), 70);
         other.try_emplace(Key(71), 71);
         m = other;
       },
       [](Model& m) {
         m = Model{{70, 70}, {71, 71}};
       }},
      {"init-list assignment", Guarantee::kStrong, [](Map& m) { m = {E(72, 72)}; },
       [](Model& m) {
         m = Model{{72, 72}};
       }},
      {"copy construction (this map is the source)", Guarantee::kStrong,
       [](Map& m) {
         Map copy(m);
         EXPECT_EQ(copy.size(), m.size());
       },
       same},
      {"growth past the load factor", Guarantee::kBasic,
       [](Map& m) {
         for (int k = 100; k < 200; ++k) m.try_emplace(Key(k), k);
       },
       [](Model& m) {
         for (int k = 100; k < 200; ++k) m.emplace(k, k);
       }},
  };
}

// Checks the map is usable: every stripe can be locked again (erase_if
// locks each one, rehash all at once), and reads and writes work.
void ExpectUnlockedAndUsable(Map& map) {
  EXPECT_EQ(map.erase_if([](const Entry&) { return false; }), 0u);
  map.rehash(map.bucket_count() * 2);
  EXPECT_TRUE(map.try_emplace(Key(1000), 1000).second);
  EXPECT_EQ(map.erase(Key(1000)), 1u);
}

// One run: a fresh map, the fault armed at point n, the call, the checks.
// Returns true if the fault fired (so a later n may reach another point).
bool RunOnce(const WriteOp& op, Fault fault, long n, bool in_section) {
  const std::string where = std::string(op.name) + ", fault: " + FaultName(fault) + " #" +
                            std::to_string(n) + (in_section ? ", inside a section" : "");
  SCOPED_TRACE(where);
  const long allocations_before = rcu_test::LiveAllocations();
  bool fault_fired = false;
  {
    Map map;
    for (int k = 0; k < 10; ++k) map.try_emplace(Key(k), k);
    const Model before = Contents(map);
    Model after = before;
    op.model(after);
    bool threw = false;
    {
      std::optional<rcu::ReadGuard> guard;
      if (in_section) guard.emplace();
      if (fault == Fault::kAllocation || fault == Fault::kAllocationAndLater) {
        rcu_test::FailNthAllocation(n, fault == Fault::kAllocationAndLater);
      } else {
        armed = fault;
        countdown = n;
        fired = false;
      }
      try {
        op.run(map);
      } catch (const std::bad_alloc&) {
        threw = true;
      } catch (const UserFault&) {
        threw = true;
      }
      fault_fired = rcu_test::InjectedFailureHappened() || fired;
      rcu_test::FailNthAllocation(0);
      armed = Fault::kNone;
      EXPECT_EQ(rcu::InReadSection(), in_section) << "a read-side section left open";
    }
    if (threw) {
      EXPECT_TRUE(fault_fired) << "threw without an injected fault";
    }
    const Model now = Contents(map);
    if (!threw) {
      EXPECT_EQ(now, after) << "returned, but the map is not as it should be";
    } else if (op.guarantee == Guarantee::kStrong) {
      EXPECT_EQ(now, before) << "threw after changing the map";
    } else {
      // Part of the change: everything kept is as before or as after.
      for (const auto& [k, v] : now) {
        const bool as_before = before.count(k) && before.at(k) == v;
        const bool as_after = after.count(k) && after.at(k) == v;
        EXPECT_TRUE(as_before || as_after) << "key " << k << " has value " << v;
      }
      for (const auto& [k, v] : before) {
        if (after.count(k)) {
          EXPECT_TRUE(now.count(k)) << "key " << k << " lost";
        }
      }
    }
    ExpectUnlockedAndUsable(map);
  }
  rcu::Barrier();
  EXPECT_EQ(Value::live.load(), 0) << "values leaked";
  EXPECT_EQ(rcu_test::LiveAllocations(), allocations_before) << "allocations leaked";
  return fault_fired;
}

// Runs every write API with the fault at each point n = 1, 2, ... until a
// run in which it no longer fires; prints how many points each reached.
void Sweep(Fault fault, bool in_section) {
  long points = 0;
  int ops_reached = 0;
  for (const WriteOp& op : WriteOps()) {
    long n = 1;
    while (RunOnce(op, fault, n, in_section)) {
      ++n;
      ASSERT_LT(n, 5000) << op.name << ": the fault keeps firing";
      if (::testing::Test::HasFailure()) return;
    }
    points += n - 1;
    if (n > 1) ++ops_reached;
  }
  std::printf("fault %-32s %-16s %3zu write APIs, %2d reach it, %4ld fault points checked\n",
              FaultName(fault), in_section ? "inside a section" : "outside", WriteOps().size(),
              ops_reached, points);
  // The sweep must reach something: every kind of fault can fire in
  // several calls.
  EXPECT_GE(ops_reached, 3) << FaultName(fault);
}

// The core's one-time setup (thread registration, the callback thread, the
// backlog's wait state) is not the map's: done before anything is counted.
void WarmUpCore() {
  { rcu::ReadGuard registers; }
  rcu::Retire(new int(0));
  rcu::Barrier();
}

class HashMapExceptionSweep : public ::testing::TestWithParam<std::tuple<Fault, bool>> {
 protected:
  static void SetUpTestSuite() { WarmUpCore(); }
};

TEST_P(HashMapExceptionSweep, EveryWriteApiEveryFaultPoint) {
  const auto [fault, in_section] = GetParam();
  Sweep(fault, in_section);
}

INSTANTIATE_TEST_SUITE_P(AllFaults, HashMapExceptionSweep,
                         ::testing::Combine(::testing::Values(Fault::kAllocation,
                                                              Fault::kAllocationAndLater,
                                                              Fault::kHash, Fault::kEquality,
                                                              Fault::kKeyCopy, Fault::kValueCopy),
                                            ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<Fault, bool>>& info) {
                           std::string name = FaultName(std::get<0>(info.param));
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name + (std::get<1>(info.param) ? "_InsideSection" : "_Outside");
                         });

// A fault that fires in the middle of a thread's only call, with the thread
// then exiting: the map is unchanged and unlocked, and nothing leaks.
TEST(HashMapExceptionTest, ThreadExitingAfterAFaultLeavesNothingBehind) {
  WarmUpCore();
  const long allocations_before = rcu_test::LiveAllocations();
  {
    Map map;
    for (int k = 0; k < 10; ++k) map.try_emplace(Key(k), k);
    std::thread thread([&] {
      armed = Fault::kValueCopy;
      countdown = 1;
      const Value v(5);
      EXPECT_THROW(map.insert_or_assign(Key(3), v), UserFault);
      armed = Fault::kNone;
      auto it = map.find(Key(4));  // dies with the thread's stack, before it exits
      EXPECT_NE(it, map.end());
    });
    thread.join();
    EXPECT_EQ(Contents(map), Initial());
    ExpectUnlockedAndUsable(map);
  }
  rcu::Barrier();
  EXPECT_EQ(Value::live.load(), 0);
  EXPECT_EQ(rcu_test::LiveAllocations(), allocations_before);
}

// Threads that exit in the middle of a call, through pthread_exit() from
// user code the map runs (a forced unwind, which nothing may swallow): the
// map is left unchanged, unlocked and leak-free, and the thread's read-side
// sections are ended.
void ExitThreadFrom(Map& map, const std::function<void(Map&)>& call) {
  std::thread thread([&] {
    call(map);
    ADD_FAILURE() << "the call returned; it should have exited the thread";
  });
  thread.join();
}

TEST(HashMapExceptionTest, ThreadsExitingMidCallLeaveTheMapUnchangedAndUnlocked) {
  WarmUpCore();
  const long allocations_before = rcu_test::LiveAllocations();
  {
    Map map;
    for (int k = 0; k < 10; ++k) map.try_emplace(Key(k), k);
    struct ExitingValue {
      operator Value() const {  // NOLINT: converts during construction of the entry
        pthread_exit(nullptr);
      }
    };
    ExitThreadFrom(map, [](Map& m) {
      m.compute(Key(3), [](const Value*) -> std::optional<Value> { pthread_exit(nullptr); });
    });
    ExitThreadFrom(map, [](Map& m) {
      m.erase_if([](const Entry& e) {
        if (e.first.k == 5) pthread_exit(nullptr);
        return false;
      });
    });
    ExitThreadFrom(map, [](Map& m) {
      rcu::ReadGuard guard;  // and inside a section of the thread's own
      auto it = m.find(Key(1));
      m.update(Key(1), [](const Value&) -> Value { pthread_exit(nullptr); });
    });
    ExitThreadFrom(map, [](Map& m) { m.try_emplace(Key(40), ExitingValue()); });
    ExitThreadFrom(map, [](Map& m) { m.insert_or_assign(Key(2), ExitingValue()); });
    EXPECT_EQ(Contents(map), Initial());
    ExpectUnlockedAndUsable(map);
  }
  rcu::Barrier();
  EXPECT_EQ(Value::live.load(), 0);
  EXPECT_EQ(rcu_test::LiveAllocations(), allocations_before);
}

// A thread that exits holding an iterator in a thread_local (so that the
// iterator dies in the thread's exit sequence) ends its section then: the
// core reports no thread exiting inside a read-side section, and grace
// periods go on.
TEST(HashMapExceptionTest, IteratorsDyingAtThreadExitEndTheirSections) {
  WarmUpCore();
  std::atomic<int> exits_in_section{0};
  rcu::SetDiagnosticHandler([&](const rcu::Diagnostic& d) {
    if (d.kind == rcu::Diagnostic::Kind::kThreadExitInReadSection) exits_in_section.fetch_add(1);
  });
  Map map;
  for (int k = 0; k < 10; ++k) map.try_emplace(Key(k), k);
  std::thread thread([&] {
    static thread_local std::optional<Map::const_iterator> held;
    held.emplace(map.find(Key(4)));
    map.insert_or_assign(Key(5), Value(55));  // retires inside the section: a debt
    ASSERT_TRUE(rcu::InReadSection());
  });
  thread.join();
  rcu::Synchronize();  // would hang if the section outlived the thread unnoticed
  rcu::SetDiagnosticHandler(nullptr);
  EXPECT_EQ(exits_in_section.load(), 0);
  EXPECT_EQ(map.at(Key(5)).v, 55);
}

}  // namespace
