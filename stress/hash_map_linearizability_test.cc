// stress/hash_map_linearizability_test.cc: per-key linearizability checking
// of rcu::HashMap (//containers:hash_map) histories, in the style of Wing &
// Gong and Porcupine (the search is in stress/linearizability.h).
//
// Unlike hash_map_stress_test, no thread owns a key here: four workers run
// random operations on the same small set of hot keys at once, so results
// are not predictable, and each call's result is recorded instead, with two
// readings of a global atomic clock: one before the call, one after it
// returns. Afterwards the checker searches each key's history for a
// sequential order that respects real time and explains every result. Values
// are unique per write (thread and sequence number), so a value names the
// write that produced it.
//
// For RCU_STRESS_SECONDS seconds (default 10; --seconds=N overrides it), in
// rounds:
//  - 4 workers each run kOpsPerRound operations, on one of kHotKeys keys 85%
//    of the time and one of kColdKeys otherwise: get, find(guard, key) and
//    find(key), contains, count; insert (const value_type&, value_type&&,
//    any convertible pair), insert(first, last), insert({...}), emplace
//    (pair and piecewise), try_emplace (const K& and K&&), insert_or_assign
//    (both), erase(key), erase(iterator) (from find(key), and from
//    find(guard, key) inside the guard), update, compute (every
//    ComputeResult); and, once per round at a random point, one multi-key
//    operation: iteration (Iterate(guard), the self-guarding begin()/end(),
//    or std::for_each over them), erase_if (the member or rcu::erase_if), or
//    clear;
//  - a filler inserts all kColdKeys cold keys and erases them again, every
//    round, so the map grows automatically to more than 16x its minimum
//    bucket count and shrinks back; its operations are checked too;
//  - a resizer storms reserve(), rehash() (rehash(0) lets the map shrink
//    again) and max_load_factor() changes while everything else runs.
// At the end of each round, with the writers stopped (the resizer still
// running), the filler reads every key with get(): those reads end the
// round's histories and give the next round its initial states. It also
// iterates the map then (every key must be visited exactly once, with the
// value get() saw) and checks size() (exact at rest).
//
// Multi-key operations are checked per key as well, soundly with respect to
// what the map promises (per key, not across keys):
//  - clear() is, for every key, an erase that takes effect at some point
//    within clear()'s interval (blind: it observes nothing);
//  - an iteration is, for every key it visited with value v, a read of v
//    within its interval, and for every key it did not visit, a read of
//    "absent" within its interval: the map promises that a key present
//    throughout an iteration is visited, so a key not visited was absent at
//    some point. Visiting the same entry (same unique value) twice is a
//    violation by itself;
//  - erase_if(pred) is, for every entry the predicate was called on (key k,
//    value v), an operation that observes v and erases it if pred returned
//    true, and for every key it was not called on, a read of "absent"; the
//    count it returns must equal the predicate's true answers.
// Per-key results that the API ties together are checked directly: the
// iterator insert() and friends return must point to the key and the value
// (ours if inserted), update() must call its function exactly when it
// returns true, compute() must call its function once and report what it
// did.
//
// Printed at the end: operations recorded by kind, operations and histories
// checked, the longest history and the largest search. Exit status 1 on any
// violation, with the offending key's history around the point where no
// linearization could go on.
//
// Negative control: //stress:hash_map_linearizability_stale_read is this
// test built with RCU_BUG_STALE_READ put back, where get() sometimes
// returns the value its thread read before its own last write of the key (a
// stale read, as from a cache that missed an invalidation). It must fail;
// //stress:hash_map_linearizability_negative_control_test checks that.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "containers/hash_map.h"
#include "rcu/internal/negative_control.h"
#include "rcu/read_guard.h"
#include "stress/linearizability.h"
#include "stress/stress_util.h"

namespace {

using stress::lin::kAbsent;
using stress::lin::Op;
using Map = rcu::HashMap<std::uint64_t, std::uint64_t>;

constexpr int kWorkers = 4;
constexpr int kHotKeys = 8;
constexpr int kColdKeys = 600;
constexpr int kKeys = kHotKeys + kColdKeys;
constexpr int kOpsPerRound = 1000;
// Checkers: the workers and the filler split the keys between them.
constexpr int kCheckers = kWorkers + 1;
constexpr int kFillerId = kWorkers;

// Keys by index: hot keys 1..8, cold keys 1001..1600.
std::uint64_t KeyOf(int index) {
  return index < kHotKeys ? static_cast<std::uint64_t>(index + 1)
                          : static_cast<std::uint64_t>(1000 + index - kHotKeys + 1);
}
int IndexOf(std::uint64_t key) {
  if (key >= 1 && key <= kHotKeys) return static_cast<int>(key - 1);
  if (key >= 1001 && key < 1001 + kColdKeys) return static_cast<int>(key - 1001) + kHotKeys;
  return -1;
}

// --- What was called ----------------------------------------------------------

enum Api : std::uint32_t {
  kGet,
  kFindGuarded,
  kFindOwning,
  kContains,
  kCount,
  kInsertConstRef,
  kInsertRvalue,
  kInsertConvertible,
  kInsertRange,
  kInsertList,
  kEmplacePair,
  kEmplacePiecewise,
  kTryEmplaceConstRef,
  kTryEmplaceRvalue,
  kInsertOrAssignConstRef,
  kInsertOrAssignRvalue,
  kErase,
  kEraseIteratorOwning,
  kEraseIteratorGuarded,
  kUpdate,
  kCompute,
  kIterateGuarded,
  kIterateOwning,
  kForEach,
  kEraseIf,
  kClear,
  kRestingRead,
  kNumApis
};
constexpr const char* kApiNames[kNumApis] = {
    "get",
    "find(guard, key)",
    "find(key)",
    "contains",
    "count",
    "insert(const value_type&)",
    "insert(value_type&&)",
    "insert(P&&)",
    "insert(first, last)",
    "insert({...})",
    "emplace(k, v)",
    "emplace(piecewise)",
    "try_emplace(const K&)",
    "try_emplace(K&&)",
    "insert_or_assign(const K&)",
    "insert_or_assign(K&&)",
    "erase(key)",
    "erase(find(key))",
    "erase(find(guard, key))",
    "update",
    "compute",
    "Iterate(guard)",
    "begin()/end()",
    "std::for_each(begin(), end())",
    "erase_if",
    "clear",
    "get at rest (end of round)",
};

enum Violation {
  kNotLinearizable,
  kUndecided,
  kWrongResult,
  kVisitedTwice,
  kAtRest,
  kNumViolations
};
constexpr const char* kViolationNames[kNumViolations] = {
    "not linearizable",
    "search too large to decide",
    "result inconsistent with itself",
    "iteration or erase_if visited an entry twice",
    "state at rest (iteration, size)",
};
stress::Violations<kNumViolations> violations(kViolationNames);

// --- Histories ----------------------------------------------------------------

std::atomic<std::uint64_t> the_clock{1};
std::uint64_t Now() { return the_clock.fetch_add(1, std::memory_order_seq_cst); }

// An operation on one key.
struct Event {
  std::int32_t key;  // index
  Op op;
};

// A multi-key operation, projected onto every key when checked.
struct MultiOp {
  Api api;
  std::uint32_t thread;
  std::uint64_t call, ret;
  // (key index, value, erased): what an iteration visited or what erase_if's
  // predicate was called on (and its answer), sorted by key.
  struct Visit {
    std::int32_t key;
    std::uint64_t value;
    bool erased;
  };
  std::vector<Visit> visits;
};

struct Log {
  std::vector<Event> events;
  std::vector<MultiOp> multi;
  std::uint64_t calls[kNumApis] = {};
  void Clear() {
    events.clear();
    multi.clear();
  }
};

Log logs[kCheckers];
// The state of every key at the start of the current round (read at rest).
std::uint64_t initial_state[kKeys];

Op Observe(std::uint64_t call, std::uint64_t ret, Api api, std::uint32_t thread, Op::Expect expect,
           std::uint64_t expected, Op::Effect effect = Op::Effect::kKeep,
           std::uint64_t value = kAbsent) {
  Op op;
  op.call = call;
  op.ret = ret;
  op.expect = expect;
  op.expected = expected;
  op.effect = effect;
  op.value = value;
  op.what = api;
  op.thread = thread;
  return op;
}

std::string Describe(const Op& op) {
  char buf[200];
  const char* expect = op.expect == Op::Expect::kEquals    ? "saw"
                       : op.expect == Op::Expect::kDiffers ? "saw not"
                                                           : "saw anything";
  const char* effect = op.effect == Op::Effect::kKeep          ? "kept it"
                       : op.effect == Op::Effect::kSet         ? "set"
                       : op.effect == Op::Effect::kSetIfAbsent ? "set if absent"
                                                               : "erased if it was";
  auto value = [](std::uint64_t v) {
    char out[40];
    if (v == kAbsent) return std::string("absent");
    std::snprintf(out, sizeof out, "t%" PRIu64 "#%" PRIu64, (v >> 40) - 1,
                  v & ((std::uint64_t{1} << 40) - 1));
    return std::string(out);
  };
  std::snprintf(buf, sizeof buf, "[%" PRIu64 ", %" PRIu64 "] thread %u %s: %s %s, %s%s%s", op.call,
                op.ret, op.thread, kApiNames[op.what], expect,
                op.expect == Op::Expect::kAny ? "" : value(op.expected).c_str(), effect,
                op.effect == Op::Effect::kKeep ? "" : " ",
                op.effect == Op::Effect::kKeep ? "" : value(op.value).c_str());
  return buf;
}

// --- The map under test, and the stale-read mutant --------------------------------

Map the_map;

#if RCU_BUG_PUT_BACK(STALE_READ)
// Per thread: the value each key had when this thread last read it, and the
// value it had read before its own last write of the key.
thread_local std::uint64_t last_read[kKeys];
thread_local std::uint64_t stale[kKeys];
std::optional<std::uint64_t> Get(std::uint64_t key, stress::Rng& rng) {
  const int i = IndexOf(key);
  if (stale[i] != kAbsent && rng.Below(4) == 0) return stale[i];  // the bug
  std::optional<std::uint64_t> v = the_map.get(key);
  last_read[i] = v.value_or(kAbsent);
  return v;
}
void WroteKey(std::uint64_t key) { stale[IndexOf(key)] = last_read[IndexOf(key)]; }
#else
std::optional<std::uint64_t> Get(std::uint64_t key, stress::Rng&) { return the_map.get(key); }
void WroteKey(std::uint64_t) {}
#endif

// --- Workers --------------------------------------------------------------------

class Worker {
 public:
  explicit Worker(std::uint32_t id) : id_(id), rng_(0x51ed + id), log_(logs[id]) {}

  // A value never written before, anywhere.
  std::uint64_t Fresh() { return (std::uint64_t{id_} + 1) << 40 | ++sequence_; }

  std::uint64_t PickKey() {
    if (rng_.Below(100) < 85) return KeyOf(rng_.Below(kHotKeys));
    return KeyOf(kHotKeys + rng_.Below(kColdKeys));
  }

  void Record(Api api, std::uint64_t key, const Op& op) {
    log_.events.push_back({IndexOf(key), op});
    ++log_.calls[api];
  }
  void Inconsistent(Api api, std::uint64_t key, const char* what) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "thread %u, %s on key %" PRIu64 ": %s", id_, kApiNames[api], key,
                  what);
    violations.Report(kWrongResult, buf);
  }

  // A read that saw `seen` (kAbsent: not found).
  void Read(Api api, std::uint64_t key, std::uint64_t call, std::uint64_t seen) {
    Record(api, key, Observe(call, Now(), api, id_, Op::Expect::kEquals, seen));
  }
  void Presence(Api api, std::uint64_t key, std::uint64_t call, bool present) {
    Record(api, key,
           Observe(call, Now(), api, id_, present ? Op::Expect::kDiffers : Op::Expect::kEquals,
                   kAbsent));
  }

  // The result of an insert that does not assign: (iterator, inserted).
  template <typename Result>
  void Inserted(Api api, std::uint64_t key, std::uint64_t value, std::uint64_t call,
                Result&& result) {
    const bool inserted = result.second;
    const std::uint64_t at_key = result.first->first;
    const std::uint64_t seen = result.first->second;
    result = {};  // leaves the iterator's read-side section
    const std::uint64_t ret = Now();
    if (at_key != key) Inconsistent(api, key, "the iterator points to another key");
    if (inserted) {
      if (seen != value) Inconsistent(api, key, "inserted, but the iterator has another value");
      Record(api, key,
             Observe(call, ret, api, id_, Op::Expect::kEquals, kAbsent, Op::Effect::kSet, value));
    } else {
      if (seen == value) Inconsistent(api, key, "not inserted, but the iterator has our value");
      Record(api, key, Observe(call, ret, api, id_, Op::Expect::kEquals, seen));
    }
  }

  template <typename Result>
  void Assigned(Api api, std::uint64_t key, std::uint64_t value, std::uint64_t call,
                Result&& result) {
    const bool inserted = result.second;
    const std::uint64_t at_key = result.first->first;
    const std::uint64_t seen = result.first->second;
    result = {};
    const std::uint64_t ret = Now();
    if (at_key != key || seen != value) {
      Inconsistent(api, key, "the iterator does not point to the value assigned");
    }
    Record(api, key,
           Observe(call, ret, api, id_, inserted ? Op::Expect::kEquals : Op::Expect::kDiffers,
                   kAbsent, Op::Effect::kSet, value));
    WroteKey(key);
  }

  // erase(it) of the entry holding `target`: erases it if it is still the
  // key's entry. Its result, where the overload returns a count, must say so.
  template <typename R>
  void ErasedEntry(Api api, std::uint64_t key, std::uint64_t target, std::uint64_t call,
                   const R& result) {
    const std::uint64_t ret = Now();
    if constexpr (std::is_integral_v<R>) {
      Record(api, key,
             Observe(call, ret, api, id_, result == 1 ? Op::Expect::kEquals : Op::Expect::kDiffers,
                     target, Op::Effect::kEraseIfEquals, target));
    } else {  // returns an iterator: the outcome is not reported
      Record(api, key,
             Observe(call, ret, api, id_, Op::Expect::kAny, kAbsent, Op::Effect::kEraseIfEquals,
                     target));
    }
  }

  void SingleKeyOp(stress::Rng& rng) {
    const std::uint64_t key = PickKey();
    const std::uint32_t dice = static_cast<std::uint32_t>(rng.Below(100));
    const std::uint64_t call = Now();
    if (dice < 12) {
      Read(kGet, key, call, Get(key, rng).value_or(kAbsent));
    } else if (dice < 18) {
      rcu::ReadGuard guard;
      auto it = the_map.find(guard, key);
      if (it != the_map.end() && it->first != key) Inconsistent(kFindGuarded, key, "wrong key");
      Read(kFindGuarded, key, call, it == the_map.end() ? kAbsent : it->second);
    } else if (dice < 22) {
      std::uint64_t seen = kAbsent;
      {
        auto it = the_map.find(key);
        if (it != the_map.end()) seen = it->second;
      }
      Read(kFindOwning, key, call, seen);
    } else if (dice < 26) {
      Presence(kContains, key, call, the_map.contains(key));
    } else if (dice < 28) {
      const std::size_t n = the_map.count(key);
      if (n > 1) Inconsistent(kCount, key, "count > 1");
      Presence(kCount, key, call, n == 1);
    } else if (dice < 31) {
      const Map::value_type kv(key, Fresh());
      Inserted(kInsertConstRef, key, kv.second, call, the_map.insert(kv));
    } else if (dice < 33) {
      const std::uint64_t v = Fresh();
      Inserted(kInsertRvalue, key, v, call, the_map.insert(Map::value_type(key, v)));
    } else if (dice < 35) {
      const std::uint64_t v = Fresh();
      Inserted(kInsertConvertible, key, v, call, the_map.insert(std::make_pair(key, v)));
    } else if (dice < 37) {
      // Two keys at once; the result per key is not reported.
      const std::uint64_t other = PickKey();
      std::vector<std::pair<std::uint64_t, std::uint64_t>> batch = {{key, Fresh()}};
      if (other != key) batch.emplace_back(other, Fresh());
      const bool list = rng.Below(2) == 0;
      if (list && batch.size() == 2) {
        the_map.insert({Map::value_type(batch[0]), Map::value_type(batch[1])});
      } else {
        the_map.insert(batch.begin(), batch.end());
      }
      const std::uint64_t ret = Now();
      const Api api = list && batch.size() == 2 ? kInsertList : kInsertRange;
      for (const auto& [k, v] : batch) {
        Record(
            api, k,
            Observe(call, ret, api, id_, Op::Expect::kAny, kAbsent, Op::Effect::kSetIfAbsent, v));
      }
    } else if (dice < 40) {
      const std::uint64_t v = Fresh();
      Inserted(kEmplacePair, key, v, call, the_map.emplace(key, v));
    } else if (dice < 42) {
      const std::uint64_t v = Fresh();
      Inserted(kEmplacePiecewise, key, v, call,
               the_map.emplace(std::piecewise_construct, std::forward_as_tuple(key),
                               std::forward_as_tuple(v)));
    } else if (dice < 45) {
      const std::uint64_t v = Fresh();
      Inserted(kTryEmplaceConstRef, key, v, call, the_map.try_emplace(key, v));
    } else if (dice < 48) {
      const std::uint64_t v = Fresh();
      std::uint64_t k = key;
      Inserted(kTryEmplaceRvalue, key, v, call, the_map.try_emplace(std::move(k), v));
    } else if (dice < 53) {
      const std::uint64_t v = Fresh();
      Assigned(kInsertOrAssignConstRef, key, v, call, the_map.insert_or_assign(key, v));
    } else if (dice < 56) {
      const std::uint64_t v = Fresh();
      std::uint64_t k = key;
      Assigned(kInsertOrAssignRvalue, key, v, call, the_map.insert_or_assign(std::move(k), v));
    } else if (dice < 64) {
      const std::size_t n = the_map.erase(key);
      if (n > 1) Inconsistent(kErase, key, "erased more than one entry");
      Record(kErase, key,
             Observe(call, Now(), kErase, id_, n == 1 ? Op::Expect::kDiffers : Op::Expect::kEquals,
                     kAbsent, Op::Effect::kSet, kAbsent));
      if (n == 1) WroteKey(key);
    } else if (dice < 68) {
      // find(key), then erase(that iterator): two operations.
      std::uint64_t seen = kAbsent;
      auto it = the_map.find(key);
      if (it != the_map.end()) seen = it->second;
      Read(kFindOwning, key, call, seen);
      if (seen != kAbsent) {
        const std::uint64_t erase_call = Now();
        ErasedEntry(kEraseIteratorOwning, key, seen, erase_call, the_map.erase(it));
      }
    } else if (dice < 71) {
      // The same inside a read-side section (a writer inside a reader).
      rcu::ReadGuard guard;
      auto it = the_map.find(guard, key);
      const std::uint64_t seen = it == the_map.end() ? kAbsent : it->second;
      Read(kFindGuarded, key, call, seen);
      if (seen != kAbsent) {
        const std::uint64_t erase_call = Now();
        ErasedEntry(kEraseIteratorGuarded, key, seen, erase_call, the_map.erase(it));
      }
    } else if (dice < 80) {
      const std::uint64_t v = Fresh();
      int calls = 0;
      std::uint64_t old = kAbsent;
      const bool updated = the_map.update(key, [&](const std::uint64_t& current) {
        ++calls;
        old = current;
        return v;
      });
      const std::uint64_t ret = Now();
      if (updated != (calls == 1) || calls > 1) {
        Inconsistent(kUpdate, key, "the function ran other than exactly when it returned true");
      }
      Record(kUpdate, key,
             updated
                 ? Observe(call, ret, kUpdate, id_, Op::Expect::kEquals, old, Op::Effect::kSet, v)
                 : Observe(call, ret, kUpdate, id_, Op::Expect::kEquals, kAbsent));
    } else {
      const std::uint64_t v = Fresh();
      const bool erase = rng.Below(3) == 0;
      int calls = 0;
      std::uint64_t old = kAbsent;
      const rcu::ComputeResult result =
          the_map.compute(key, [&](const std::uint64_t* current) -> std::optional<std::uint64_t> {
            ++calls;
            old = current == nullptr ? kAbsent : *current;
            if (erase) return std::nullopt;
            return v;
          });
      const std::uint64_t ret = Now();
      const rcu::ComputeResult expected =
          old == kAbsent ? (erase ? rcu::ComputeResult::kUnchanged : rcu::ComputeResult::kInserted)
                         : (erase ? rcu::ComputeResult::kErased : rcu::ComputeResult::kUpdated);
      if (calls != 1) Inconsistent(kCompute, key, "the function ran other than once");
      if (result != expected) Inconsistent(kCompute, key, "wrong ComputeResult");
      Record(kCompute, key,
             Observe(call, ret, kCompute, id_, Op::Expect::kEquals, old, Op::Effect::kSet,
                     erase ? kAbsent : v));
    }
  }

  // Iterates with one of the three spellings and records what it saw.
  void Iterate(Api api) {
    MultiOp m{api, id_, Now(), 0, {}};
    auto visit = [&](const Map::value_type& kv) {
      const int index = IndexOf(kv.first);
      if (index < 0) {
        violations.Report(kWrongResult, "iteration returned a key never written");
        return;
      }
      m.visits.push_back({index, kv.second, false});
    };
    if (api == kIterateGuarded) {
      rcu::ReadGuard guard;
      for (const auto& kv : the_map.Iterate(guard)) visit(kv);
    } else if (api == kIterateOwning) {
      for (const auto& kv : the_map) visit(kv);
    } else {
      std::for_each(the_map.begin(), the_map.end(), visit);
    }
    m.ret = Now();
    Finish(std::move(m));
  }

  void EraseIf() {
    MultiOp m{kEraseIf, id_, Now(), 0, {}};
    const std::uint64_t salt = rng_.Next();
    std::size_t answered_true = 0;
    auto pred = [&](const Map::value_type& kv) {
      const bool erase = ((kv.second ^ salt) * 0x9e3779b97f4a7c15 >> 62) == 0;  // a quarter
      const int index = IndexOf(kv.first);
      if (index >= 0) m.visits.push_back({index, kv.second, erase});
      answered_true += erase;
      return erase;
    };
    // The member, or the absl-style free function.
    const std::size_t erased = salt & 1 ? the_map.erase_if(pred) : rcu::erase_if(the_map, pred);
    m.ret = Now();
    if (erased != answered_true) {
      violations.Report(kWrongResult, "erase_if's count is not the predicate's true answers");
    }
    Finish(std::move(m));
  }

  void Clear() {
    MultiOp m{kClear, id_, Now(), 0, {}};
    the_map.clear();
    m.ret = Now();
    Finish(std::move(m));
  }

  void Finish(MultiOp m) {
    std::sort(m.visits.begin(), m.visits.end(),
              [](const MultiOp::Visit& a, const MultiOp::Visit& b) {
                return a.key != b.key ? a.key < b.key : a.value < b.value;
              });
    for (std::size_t i = 1; i < m.visits.size(); ++i) {
      if (m.visits[i].key == m.visits[i - 1].key && m.visits[i].value == m.visits[i - 1].value) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "%s visited key %" PRIu64 " with the same value twice",
                      kApiNames[m.api], KeyOf(m.visits[i].key));
        violations.Report(kVisitedTwice, buf);
      }
    }
    ++log_.calls[m.api];
    log_.multi.push_back(std::move(m));
  }

  void Round() {
    const int multi_at = static_cast<int>(rng_.Below(kOpsPerRound));
    for (int i = 0; i < kOpsPerRound; ++i) {
      if (i == multi_at) {
        const std::uint32_t kind = static_cast<std::uint32_t>(rng_.Below(20));
        if (kind < 4) {
          Iterate(kIterateGuarded);
        } else if (kind < 8) {
          Iterate(kIterateOwning);
        } else if (kind < 11) {
          Iterate(kForEach);
        } else if (kind < 18) {
          EraseIf();
        } else {
          Clear();
        }
      }
      SingleKeyOp(rng_);
    }
  }

  // The filler's round: every cold key in, then out again.
  void Fill(std::uint64_t& bucket_changes, std::size_t& most_buckets) {
    std::size_t buckets = the_map.bucket_count();
    auto sample = [&] {
      const std::size_t now = the_map.bucket_count();
      if (now != buckets) ++bucket_changes;
      buckets = now;
      most_buckets = std::max(most_buckets, now);
    };
    for (int i = kHotKeys; i < kKeys; ++i) {
      const std::uint64_t key = KeyOf(i);
      const std::uint64_t v = Fresh();
      const std::uint64_t call = Now();  // before the call, not as an argument
      Inserted(kTryEmplaceConstRef, key, v, call, the_map.try_emplace(key, v));
      sample();
    }
    for (int i = kHotKeys; i < kKeys; ++i) {
      const std::uint64_t key = KeyOf(i);
      const std::uint64_t call = Now();
      const std::size_t n = the_map.erase(key);
      Record(kErase, key,
             Observe(call, Now(), kErase, id_, n == 1 ? Op::Expect::kDiffers : Op::Expect::kEquals,
                     kAbsent, Op::Effect::kSet, kAbsent));
      sample();
    }
  }

  // At rest: reads every key (the end of this round, the start of the
  // next), and checks a full iteration and size() against the reads.
  void ReadAtRest() {
    std::vector<std::uint64_t> seen(kKeys, kAbsent);
    std::size_t present = 0;
    for (int i = 0; i < kKeys; ++i) {
      const std::uint64_t call = Now();
      seen[i] = the_map.get(KeyOf(i)).value_or(kAbsent);
      Read(kRestingRead, KeyOf(i), call, seen[i]);
      present += seen[i] != kAbsent;
    }
    std::vector<int> visits(kKeys, 0);
    std::size_t visited = 0;
    for (const auto& [key, value] : the_map) {
      const int i = IndexOf(key);
      ++visited;
      if (i < 0 || value != seen[i] || ++visits[i] > 1) {
        char buf[160];
        std::snprintf(buf, sizeof buf,
                      "iteration at rest: key %" PRIu64 " value %" PRIu64 " (get() said %" PRIu64
                      ", visit %d)",
                      key, value, i < 0 ? 0 : seen[i], i < 0 ? 0 : visits[i]);
        violations.Report(kAtRest, buf);
      }
    }
    if (visited != present || the_map.size() != present) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "%zu keys present by get(), %zu iterated, size() %zu", present,
                    visited, the_map.size());
      violations.Report(kAtRest, buf);
    }
    std::copy(seen.begin(), seen.end(), next_initial_.begin());
  }
  static std::vector<std::uint64_t>& NextInitial() { return next_initial_; }

 private:
  static std::vector<std::uint64_t> next_initial_;
  const std::uint32_t id_;
  stress::Rng rng_;
  Log& log_;
  std::uint64_t sequence_ = 0;
};
std::vector<std::uint64_t> Worker::next_initial_(kKeys, kAbsent);

// --- Checking ---------------------------------------------------------------------

struct CheckTotals {
  std::uint64_t ops = 0;        // per-key operations checked
  std::uint64_t histories = 0;  // per-key histories checked
  std::uint64_t longest = 0;    // operations in the longest history
  std::uint64_t most_states = 0;
  std::uint64_t states = 0;
  std::uint64_t overlapping = 0;  // operations that overlapped another on their key
};

// How many of `ops` overlap an operation called before them (operations of
// one thread never overlap, so these are concurrent with another thread's).
std::uint64_t Overlapping(std::vector<Op> ops) {
  std::sort(ops.begin(), ops.end(), [](const Op& a, const Op& b) { return a.call < b.call; });
  std::uint64_t overlapping = 0, latest_return = 0;
  for (const Op& op : ops) {
    overlapping += op.call < latest_return;
    latest_return = std::max(latest_return, op.ret);
  }
  return overlapping;
}

void PrintHistory(int key, int round, std::uint64_t initial, const std::vector<Op>& ops,
                  const stress::lin::Result& r) {
  // The operations around the one the search could not get past: those
  // that overlap it, and the nearest ones before and after in call order.
  const Op& stuck = ops[r.stuck];
  std::vector<const Op*> sorted;
  for (const Op& op : ops) sorted.push_back(&op);
  std::sort(sorted.begin(), sorted.end(),
            [](const Op* a, const Op* b) { return a->call < b->call; });
  const std::size_t at =
      static_cast<std::size_t>(std::find(sorted.begin(), sorted.end(), &stuck) - sorted.begin());
  std::string text;
  char head[300];
  std::snprintf(head, sizeof head,
                "key %" PRIu64
                ", round %d: %zu operations from %s; no linearization gets "
                "past %zu of them, stuck at:\n    %s\n  operations around it, by call:\n",
                KeyOf(key), round, ops.size(), initial == kAbsent ? "absent" : "a value", r.deepest,
                Describe(stuck).c_str());
  text += head;
  std::size_t shown = 0;
  for (std::size_t i = 0; i < sorted.size() && shown < 60; ++i) {
    const Op& op = *sorted[i];
    const bool overlaps = op.call <= stuck.ret && op.ret >= stuck.call;
    if (!overlaps && (i + 20 < at || i > at + 10)) continue;
    ++shown;
    text += (&op == &stuck ? "  * " : "    ") + Describe(op) + "\n";
  }
  violations.Report(kNotLinearizable, text);
}

// Checks the histories of keys `part`, `part + kCheckers`, ... of one round.
void CheckPart(int part, int round, CheckTotals& totals) {
  std::vector<std::vector<Op>> histories(kKeys);
  for (const Log& log : logs) {
    for (const Event& e : log.events) {
      if (e.key % kCheckers == part) histories[e.key].push_back(e.op);
    }
  }
  for (const Log& log : logs) {
    for (const MultiOp& m : log.multi) {
      std::size_t v = 0;
      for (int key = part; key < kKeys; key += kCheckers) {
        while (v < m.visits.size() && m.visits[v].key < key) ++v;
        bool any = false;
        for (; v < m.visits.size() && m.visits[v].key == key; ++v) {
          any = true;
          const MultiOp::Visit& visit = m.visits[v];
          histories[key].push_back(
              Observe(m.call, m.ret, m.api, m.thread, Op::Expect::kEquals, visit.value,
                      visit.erased ? Op::Effect::kSet : Op::Effect::kKeep, kAbsent));
        }
        if (m.api == kClear) {
          histories[key].push_back(Observe(m.call, m.ret, m.api, m.thread, Op::Expect::kAny,
                                           kAbsent, Op::Effect::kSet, kAbsent));
        } else if (!any) {
          histories[key].push_back(
              Observe(m.call, m.ret, m.api, m.thread, Op::Expect::kEquals, kAbsent));
        }
      }
    }
  }
  for (int key = part; key < kKeys; key += kCheckers) {
    const std::vector<Op>& ops = histories[key];
    if (ops.empty()) continue;
    const stress::lin::Result r = stress::lin::Check(ops, initial_state[key]);
    ++totals.histories;
    totals.ops += ops.size();
    totals.longest = std::max<std::uint64_t>(totals.longest, ops.size());
    totals.most_states = std::max(totals.most_states, r.states);
    totals.states += r.states;
    totals.overlapping += Overlapping(ops);
    if (r.undecided) {
      char buf[120];
      std::snprintf(buf, sizeof buf, "key %" PRIu64 ", round %d: %zu operations", KeyOf(key), round,
                    ops.size());
      violations.Report(kUndecided, buf);
    } else if (!r.linearizable) {
      PrintHistory(key, round, initial_state[key], ops, r);
    }
  }
}

// --- Rounds -----------------------------------------------------------------------

// A reusable barrier for a fixed number of threads (C++17 has none).
class RoundBarrier {
 public:
  explicit RoundBarrier(int n) : n_(n) {}
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    const std::uint64_t generation = generation_;
    if (++arrived_ == n_) {
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [&] { return generation_ != generation; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  const int n_;
  int arrived_ = 0;
  std::uint64_t generation_ = 0;
};

double Seconds(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--seconds=", 10) == 0) return std::atof(argv[i] + 10);
  }
  return stress::StressSeconds();
}

int Main(int argc, char** argv) {
  const double seconds = Seconds(argc, argv);
  std::printf(
      "hash map linearizability: %d workers, %d hot and %d cold keys, %d ops per "
      "worker per round, for %.0f s\n",
      kWorkers, kHotKeys, kColdKeys, kOpsPerRound, seconds);
  std::fill(std::begin(initial_state), std::end(initial_state), kAbsent);

  // Workers and the filler run rounds; the resizer runs while they work.
  RoundBarrier barrier(kCheckers + 1);
  std::atomic<bool> resizing{false};
  std::atomic<bool> done{false};
  CheckTotals totals[kCheckers];
  std::uint64_t bucket_changes = 0;
  std::size_t most_buckets = 0;
  std::atomic<std::uint64_t> resizes{0};
  int rounds = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);

  auto round_loop = [&](int id) {
    Worker worker(static_cast<std::uint32_t>(id));
    stress::SetThreadName(id == kFillerId ? "filler" : "worker");
    for (int round = 0;; ++round) {
      barrier.Wait();  // 1: the round starts
      if (done.load()) return;
      if (id == kFillerId) {
        worker.Fill(bucket_changes, most_buckets);
      } else {
        worker.Round();
      }
      barrier.Wait();  // 2: every writer has stopped
      if (id == kFillerId) {
        worker.ReadAtRest();
        resizing.store(false);
      }
      barrier.Wait();  // 3: at rest; check
      CheckPart(id, round, totals[id]);
      barrier.Wait();  // 4: checked
      if (id == kFillerId) {
        std::copy(Worker::NextInitial().begin(), Worker::NextInitial().end(),
                  std::begin(initial_state));
        for (Log& log : logs) log.Clear();
      }
    }
  };
  std::vector<std::thread> threads;
  for (int id = 0; id < kCheckers; ++id) threads.emplace_back(round_loop, id);
  std::thread resizer([&] {
    stress::SetThreadName("resizer");
    stress::Rng rng(0x7e512e);
    const float factors[] = {0.5f, 1.0f, 1.0f, 2.0f};
    while (!done.load()) {
      while (resizing.load()) {
        const std::uint32_t dice = static_cast<std::uint32_t>(rng.Below(10));
        if (dice < 4) {
          the_map.reserve(rng.Below(2048));
        } else if (dice < 7) {
          the_map.rehash(rng.Below(2048));
        } else if (dice < 9) {
          the_map.rehash(0);
        } else {
          the_map.max_load_factor(factors[rng.Below(4)]);
        }
        resizes.fetch_add(1, std::memory_order_relaxed);
      }
      std::this_thread::yield();  // between rounds: the checkers have the CPUs
    }
  });
  // The main thread paces the rounds: 1 and 4 are its barriers too.
  while (true) {
    const bool last = std::chrono::steady_clock::now() >= deadline;
    if (last) done.store(true);
    if (!last) resizing.store(true);
    barrier.Wait();  // 1
    if (last) break;
    barrier.Wait();  // 2
    barrier.Wait();  // 3
    barrier.Wait();  // 4
    ++rounds;
  }
  for (std::thread& t : threads) t.join();
  resizer.join();
  the_map.max_load_factor(1.0f);

  CheckTotals all;
  for (const CheckTotals& t : totals) {
    all.ops += t.ops;
    all.histories += t.histories;
    all.longest = std::max(all.longest, t.longest);
    all.most_states = std::max(all.most_states, t.most_states);
    all.states += t.states;
    all.overlapping += t.overlapping;
  }
  std::uint64_t calls[kNumApis] = {};
  std::uint64_t total_calls = 0;
  for (const Log& log : logs) {
    for (int a = 0; a < static_cast<int>(kNumApis); ++a) {
      calls[a] += log.calls[a];
      total_calls += log.calls[a];
    }
  }
  std::printf("%d rounds, %" PRIu64 " calls recorded:\n", rounds, total_calls);
  for (int a = 0; a < static_cast<int>(kNumApis); ++a) {
    std::printf("  %12" PRIu64 "  %s\n", calls[a], kApiNames[a]);
  }
  std::printf("checked %" PRIu64 " per-key operations in %" PRIu64
              " per-key histories (longest %" PRIu64 " operations; search explored %" PRIu64
              " configurations, at most %" PRIu64 " for one history)\n",
              all.ops, all.histories, all.longest, all.states, all.most_states);
  std::printf("%" PRIu64
              " of those operations overlapped an earlier one on the same key "
              "(from another thread)\n",
              all.overlapping);
  std::printf("resizer: %" PRIu64
              " reserve/rehash/max_load_factor calls; filler saw the "
              "bucket count change %" PRIu64 " times, up to %zu buckets\n",
              resizes.load(), bucket_changes, most_buckets);
  if (rounds == 0) {
    violations.Report(kAtRest, "no round completed");
  }
  if (all.overlapping == 0) {
    violations.Report(kAtRest,
                      "no two operations on a key ever overlapped: nothing concurrent "
                      "was checked");
  }
  if (bucket_changes == 0) {
    violations.Report(kAtRest, "the bucket count never changed: no resize was exercised");
  }
  return violations.Verdict();
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
