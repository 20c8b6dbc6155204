// stress/hash_map_stress_test.cc: concurrent oracle stress test of
// rcu::HashMap (//containers:hash_map), after libcuckoo's stress_checked and
// liburcu's test_urcu_hash.
//
// For RCU_STRESS_SECONDS seconds (default 10) these threads run together on
// one map (and a small side map, see the pausing reader):
//  - workers (at least 4, whatever the core count) own one key at a time: a
//    per-key flag is try-acquired, so no other thread writes the key while
//    its owner runs, and the owner's oracle (present? which version?) knows
//    the exact result of every operation. Each acquisition runs one to three
//    of insert, emplace, try_emplace, insert_or_assign, erase(key),
//    erase(iterator), update, compute (every ComputeResult), get, contains,
//    count, find(guard, key) and find(key), and checks each return value and
//    each value returned. One acquisition in eight runs inside a read-side
//    section (sometimes nested), holding a reference to the old value across
//    the writes and checking afterwards that it is still intact. Keys come
//    from a churn range (any operation) and a hot range (always present,
//    only replaced);
//  - each worker also owns a slice of a bulk range, which all workers fill
//    and then empty in lockstep phases, so the map grows past 8x its base
//    size and shrinks back again and again;
//  - readers look up stable keys (inserted before the run, never written
//    again: always found, with their initial value), hot keys (always found,
//    never an older version after a newer one), churn and bulk keys (if
//    found, well formed), and iterate the whole map under a guard (and with
//    self-guarding iterators): every stable and hot key must be seen exactly
//    once per pass, and every value must be intact;
//  - a pausing reader iterates and stops in the middle of its passes until
//    the table has been resized twice (or 2-10 ms), on the main map and on a
//    side map of 4096 stable keys with long chains (max load factor 8) that a
//    side resizer thread rehashes back-to-back. A resize reuses the links of
//    the array before last, so a correct map cannot finish two resizes while
//    the reader stands on a node; a map that did would send the pass along
//    rewritten links, and it would miss or repeat keys;
//  - a maintenance thread advances the bulk phases and calls erase_if (on a
//    batch of churn keys it acquired; every stable key must reach the
//    predicate exactly once), reserve(), rehash() and bursts of back-to-back
//    rehash();
//  - the main thread samples bucket_count(), size() (never below the keys
//    that are always present) and the RCU callback backlog, and reports a
//    hang if no thread makes progress for kHangSeconds.
//
// Values encode key and version with a check word and a live magic, which
// the destructor poisons; the node allocator poisons freed nodes. A torn,
// stale, freed or misplaced value therefore fails a check.
//
// At the end: every key in every range is checked against the oracle (by
// lookup and by a full iteration), size() must equal the oracle's count and
// initial + successful inserts - successful erases; after both maps are
// destroyed and rcu::Barrier() has run, no value and no node may be live.
// Any rcu::Diagnostic is a violation too. A run must also see the bucket
// count grow and shrink. Exit status 1 on any violation; a hang (no thread
// makes progress for kHangSeconds) prints what each thread was doing and
// exits 1.
//
// Negative control: there is no broken build target here, because breaking
// the map needs an edited copy of containers/hash_map.h. Copies that free
// entries without a grace period, drop a node in a resize, reuse links
// without a grace period, lose the iteration cursor, leak erased entries
// or drop a chain's tail on replace have each been shown to fail this test
// within 3 s (by hand, in earlier sessions). The last one tried: a Resize()
// that skips its wait for the grace period after the previous resize fails
// within 5 s with "two resizes finished while a reader stood in a pass".
#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/hash/hash.h"
#include "containers/hash_map.h"
#include "rcu/rcu.h"
#include "stress/stress_util.h"

namespace {

using stress::Rng;
using stress::SetThreadName;

// No thread made progress for this long: report a hang and exit.
constexpr int kHangSeconds = 30;

// Key ranges. Stable keys are inserted before the run and never written
// again; hot keys are always present and only replaced; churn keys come and
// go; bulk keys are filled and emptied in phases.
constexpr std::uint64_t kStable = 4096;
constexpr std::uint64_t kHot = 1024;
constexpr std::uint64_t kChurn = 50000;
// Shared by the workers. With ~30k base entries, 192k more take the table
// from 64k buckets to 256k; emptied again, it shrinks back (a table shrinks
// when it is less than an eighth full).
constexpr std::uint64_t kBulkTotal = 192000;
constexpr std::uint64_t kStableBase = 0;
constexpr std::uint64_t kHotBase = std::uint64_t{1} << 32;
constexpr std::uint64_t kChurnBase = std::uint64_t{2} << 32;
constexpr std::uint64_t kBulkBase = std::uint64_t{3} << 32;
// Bulk keys a worker inserts or erases per step.
constexpr std::uint64_t kBulkChunk = 32;
// Entries between the pausing reader's pauses, at most (16k on average).
constexpr std::uint64_t kPauseSpacing = 32768;
// The side map: only stable keys, long chains, rehashed back-to-back.
constexpr std::uint64_t kSideKeys = 4096;
constexpr float kSideMaxLoadFactor = 8;
constexpr std::uint64_t kSidePauseSpacing = 512;
// Churn keys the maintenance thread tries to acquire for one erase_if.
constexpr int kEraseIfBatch = 256;

constexpr std::uint64_t kLiveMagic = 0x4c49564556414c31;  // "LIVEVAL1"
constexpr std::uint64_t kDeadMagic = 0xdeadbeefdeadbeef;

enum class KeyClass { kStable, kHot, kChurn, kBulk, kUnknown };

KeyClass Classify(std::uint64_t key) {
  if (key < kStableBase + kStable) return KeyClass::kStable;
  if (key >= kHotBase && key < kHotBase + kHot) return KeyClass::kHot;
  if (key >= kChurnBase && key < kChurnBase + kChurn) return KeyClass::kChurn;
  if (key >= kBulkBase && key < kBulkBase + kBulkTotal) return KeyClass::kBulk;
  return KeyClass::kUnknown;
}

// Keeps the compiler from dropping stores to memory that is freed next.
inline void KeepStores(const void* p) { asm volatile("" : : "r"(p) : "memory"); }

// ---------------------------------------------------------------------------
// Violations.

enum Violation {
  kWrongResult,      // an owner's operation returned other than the oracle says
  kBadValue,         // a value torn, poisoned, stale or under the wrong key
  kStableMissing,    // a stable or hot key not found by a lookup
  kHotBackwards,     // a reader saw an older hot value after a newer one
  kIterationCount,   // a pass saw a stable or hot key other than exactly once
  kEraseIfVisits,    // erase_if's predicate saw a key other than exactly once
  kOldValueChanged,  // a value held under a guard changed or died
  kSizeWrong,        // size() outside its bounds, or != the oracle at the end
  kLeak,             // values or nodes live after the map and Barrier()
  kNoResize,         // the run never saw the table grow and shrink
  kTwoResizes,       // two resizes finished while a reader stood in a pass
  kDiagnostic,       // an rcu::Diagnostic was reported
  kHang,             // no progress
  kNumViolations,
};

constexpr const char* kViolationNames[kNumViolations] = {
    "operation result differs from the oracle",
    "value torn, poisoned, stale or under the wrong key",
    "stable or hot key not found",
    "reader saw an older hot value after a newer one",
    "iteration saw a stable or hot key other than exactly once",
    "erase_if predicate saw a key other than exactly once",
    "value held under a guard changed or was freed",
    "size() wrong",
    "values or nodes leaked",
    "bucket count never grew and shrank",
    "two resizes finished while a reader stood in a pass",
    "rcu diagnostic reported",
    "no progress (hang)",
};

stress::Violations<kNumViolations> violations(kViolationNames);

std::string KeyName(std::uint64_t key) {
  const char* range = "unknown";
  std::uint64_t offset = key;
  switch (Classify(key)) {
    case KeyClass::kStable:
      range = "stable";
      break;
    case KeyClass::kHot:
      range = "hot";
      offset = key - kHotBase;
      break;
    case KeyClass::kChurn:
      range = "churn";
      offset = key - kChurnBase;
      break;
    case KeyClass::kBulk:
      range = "bulk";
      offset = key - kBulkBase;
      break;
    case KeyClass::kUnknown:
      break;
  }
  return std::string(range) + " key " + std::to_string(offset);
}

// ---------------------------------------------------------------------------
// The mapped type: counts every live instance, encodes key and version, and
// poisons itself when destroyed.

std::atomic<std::int64_t> values_constructed{0};
std::atomic<std::int64_t> values_destroyed{0};
// Values constructed by this thread (try_emplace on a present key must
// construct none).
thread_local std::uint64_t values_constructed_here = 0;

std::uint64_t CheckWord(std::uint64_t key, std::uint64_t version) {
  return (key * 0x9e3779b97f4a7c15) ^ (version * 0xbf58476d1ce4e5b9) ^ 0x94d049bb133111eb;
}

class Val {
 public:
  Val(std::uint64_t key, std::uint64_t version)
      : key_(key), version_(version), check_(CheckWord(key, version)), magic_(kLiveMagic) {
    Constructed();
  }
  Val(const Val& other)
      : key_(other.key_), version_(other.version_), check_(other.check_), magic_(other.magic_) {
    Constructed();
  }
  Val(Val&& other) noexcept
      : key_(other.key_), version_(other.version_), check_(other.check_), magic_(other.magic_) {
    Constructed();
  }
  Val& operator=(const Val&) = delete;
  Val& operator=(Val&&) = delete;
  ~Val() {
    magic_ = kDeadMagic;
    check_ = 0;
    version_ = ~std::uint64_t{0};
    KeepStores(this);
    values_destroyed.fetch_add(1, std::memory_order_relaxed);
  }

  std::uint64_t key() const { return key_; }
  std::uint64_t version() const { return version_; }
  bool WellFormed() const { return magic_ == kLiveMagic && check_ == CheckWord(key_, version_); }
  bool Is(std::uint64_t key, std::uint64_t version) const {
    return WellFormed() && key_ == key && version_ == version;
  }
  std::string Describe() const {
    char buf[160];
    std::snprintf(buf, sizeof(buf), "{key %s, version %" PRIu64 ", %s}", KeyName(key_).c_str(),
                  version_,
                  magic_ == kDeadMagic                  ? "DESTROYED"
                  : magic_ != kLiveMagic                ? "BAD MAGIC"
                  : check_ != CheckWord(key_, version_) ? "BAD CHECK WORD"
                                                        : "intact");
    return buf;
  }

 private:
  static void Constructed() {
    values_constructed.fetch_add(1, std::memory_order_relaxed);
    ++values_constructed_here;
  }

  std::uint64_t key_;
  std::uint64_t version_;
  std::uint64_t check_;
  std::uint64_t magic_;
};

// Node allocator: counts nodes and poisons them when freed.
std::atomic<std::int64_t> nodes_allocated{0};
std::atomic<std::int64_t> nodes_freed{0};

template <typename T>
struct CountingAllocator {
  using value_type = T;
  CountingAllocator() = default;
  template <typename U>
  CountingAllocator(const CountingAllocator<U>&) noexcept {}  // NOLINT: rebinding
  T* allocate(std::size_t n) {
    nodes_allocated.fetch_add(static_cast<std::int64_t>(n), std::memory_order_relaxed);
    return static_cast<T*>(::operator new(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    std::memset(static_cast<void*>(p), 0x6b, n * sizeof(T));
    KeepStores(p);
    nodes_freed.fetch_add(static_cast<std::int64_t>(n), std::memory_order_relaxed);
    ::operator delete(static_cast<void*>(p));
  }
  friend bool operator==(const CountingAllocator&, const CountingAllocator&) { return true; }
  friend bool operator!=(const CountingAllocator&, const CountingAllocator&) { return false; }
};

using Key = std::uint64_t;
using Map = rcu::HashMap<Key, Val, absl::Hash<Key>, std::equal_to<Key>,
                         CountingAllocator<std::pair<const Key, Val>>>;
using Entry = std::pair<const Key, Val>;

// ---------------------------------------------------------------------------
// The oracle: for each hot and churn key, an ownership flag and what the
// owner knows. Only the owner reads or writes a key's state; the flag's
// acquire/release hands it over.

struct KeyState {
  bool present = false;
  std::uint64_t version = 0;       // of the value in the map, if present
  std::uint64_t next_version = 0;  // every new value gets a fresh version
};

class Oracle {
 public:
  static constexpr std::size_t kSize = kHot + kChurn;
  Oracle() : flags_(new std::atomic<bool>[kSize]), states_(new KeyState[kSize]) {
    for (std::size_t i = 0; i < kSize; ++i) flags_[i].store(false, std::memory_order_relaxed);
  }
  static std::size_t Index(Key key) {
    return Classify(key) == KeyClass::kHot ? key - kHotBase : kHot + (key - kChurnBase);
  }
  static Key KeyAt(std::size_t index) {
    return index < kHot ? kHotBase + index : kChurnBase + (index - kHot);
  }
  bool TryAcquire(std::size_t i) { return !flags_[i].exchange(true, std::memory_order_acquire); }
  void Release(std::size_t i) { flags_[i].store(false, std::memory_order_release); }
  KeyState& State(std::size_t i) { return states_[i]; }

 private:
  std::unique_ptr<std::atomic<bool>[]> flags_;
  std::unique_ptr<KeyState[]> states_;
};

// ---------------------------------------------------------------------------
// Shared state.

std::atomic<bool> stop{false};
Map* the_map = nullptr;
Map* side_map = nullptr;
Oracle* oracle = nullptr;
int num_workers = 0;
std::uint64_t bulk_per_worker = 0;

// Bulk phases: even epochs fill, odd ones empty. A worker adds one to
// bulk_done when its slice is full (or empty) in the epoch it saw; the
// maintenance thread moves to epoch e+1 once bulk_done reaches
// num_workers * (e+1).
std::atomic<std::uint64_t> bulk_epoch{0};
std::atomic<std::uint64_t> bulk_done{0};

// Successful inserts and erases, for the accounting at the end.
std::atomic<std::uint64_t> total_inserts{0};
std::atomic<std::uint64_t> total_erases{0};

// What a thread is doing, for the hang report.
struct Activity {
  std::atomic<const char*> what{"starting"};
  std::atomic<bool> in_section{false};
  std::atomic<std::uint64_t> progress{0};
  std::atomic<bool> done{false};
  char name[32] = {};
};

// ---------------------------------------------------------------------------
// Workers.

enum Op {
  kInsert,
  kEmplace,
  kTryEmplace,
  kInsertOrAssign,
  kErase,
  kEraseIterator,
  kUpdate,
  kCompute,
  kGet,
  kContains,
  kCount,
  kFindGuard,
  kFindOwning,
  kNumOps,
};

constexpr const char* kOpNames[kNumOps] = {
    "insert",    "emplace", "try_emplace", "insert_or_assign", "erase(key)", "erase(iterator)",
    "update",    "compute", "get",         "contains",         "count",      "find(guard, key)",
    "find(key)",
};

// Hot keys stay present: only these operations are used on them.
constexpr Op kHotOps[] = {kInsert, kEmplace,  kTryEmplace, kInsertOrAssign, kUpdate,    kCompute,
                          kGet,    kContains, kCount,      kFindGuard,      kFindOwning};

struct WorkerStats {
  std::array<std::uint64_t, kNumOps> calls{};
  // Per operation: how many changed the map (inserted, assigned, erased,
  // updated; for lookups, found).
  std::array<std::uint64_t, kNumOps> effective{};
  std::array<std::uint64_t, 4> compute_results{};  // by rcu::ComputeResult
  std::uint64_t acquisitions = 0;
  std::uint64_t contended = 0;
  std::uint64_t in_section = 0;
  std::uint64_t nested = 0;
  std::uint64_t held_old_values = 0;
  std::uint64_t bulk_inserts = 0;
  std::uint64_t bulk_erases = 0;
  std::uint64_t bulk_lookups = 0;

  void Merge(const WorkerStats& o) {
    for (int i = 0; i < kNumOps; ++i) {
      calls[i] += o.calls[i];
      effective[i] += o.effective[i];
    }
    for (int i = 0; i < 4; ++i) compute_results[i] += o.compute_results[i];
    acquisitions += o.acquisitions;
    contended += o.contended;
    in_section += o.in_section;
    nested += o.nested;
    held_old_values += o.held_old_values;
    bulk_inserts += o.bulk_inserts;
    bulk_erases += o.bulk_erases;
    bulk_lookups += o.bulk_lookups;
  }
};

const char* ComputeName(rcu::ComputeResult r) {
  switch (r) {
    case rcu::ComputeResult::kUnchanged:
      return "kUnchanged";
    case rcu::ComputeResult::kInserted:
      return "kInserted";
    case rcu::ComputeResult::kUpdated:
      return "kUpdated";
    case rcu::ComputeResult::kErased:
      return "kErased";
  }
  return "?";
}

class Worker {
 public:
  Worker(int id, Activity* activity)
      : id_(id),
        activity_(activity),
        rng_(1000 + static_cast<std::uint64_t>(id)),
        bulk_base_(kBulkBase + static_cast<std::uint64_t>(id) * bulk_per_worker) {}

  void Run() {
    std::snprintf(activity_->name, sizeof(activity_->name), "map-worker%d", id_);
    SetThreadName(activity_->name);
    std::uint64_t iteration = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      activity_->progress.fetch_add(1, std::memory_order_relaxed);
      if (++iteration % 2 == 0) BulkStep();
      const bool hot = rng_.Below(100) < 15;
      const Key key = hot ? kHotBase + rng_.Below(kHot) : kChurnBase + rng_.Below(kChurn);
      const std::size_t index = Oracle::Index(key);
      if (!oracle->TryAcquire(index)) {
        ++stats_.contended;
        continue;
      }
      ++stats_.acquisitions;
      KeyState& state = oracle->State(index);
      const int ops = 1 + static_cast<int>(rng_.Below(3));
      if (rng_.Below(8) == 0) {
        // Writers inside a read-side section: allowed by the map.
        ++stats_.in_section;
        rcu::ReadGuard guard;
        activity_->in_section.store(true, std::memory_order_relaxed);
        std::optional<rcu::ReadGuard> nested;
        if (rng_.Below(4) == 0) {
          nested.emplace();
          ++stats_.nested;
        }
        // Hold the current value across the writes: it must stay intact
        // while the guard lives, even if it is replaced or erased.
        const Val* held = nullptr;
        std::uint64_t held_version = 0;
        if (state.present) {
          auto it = the_map->find(guard, key);
          if (it != the_map->end()) {
            held = &it->second;
            held_version = state.version;
          }
        }
        for (int i = 0; i < ops; ++i) DoOp(key, state, hot, &guard);
        if (held != nullptr) {
          ++stats_.held_old_values;
          if (!held->Is(key, held_version)) {
            violations.Report(kOldValueChanged, KeyName(key) + ": held version " +
                                                    std::to_string(held_version) + ", now " +
                                                    held->Describe());
          }
        }
        nested.reset();
        activity_->in_section.store(false, std::memory_order_relaxed);
      } else {
        for (int i = 0; i < ops; ++i) DoOp(key, state, hot, nullptr);
      }
      oracle->Release(index);
    }
    activity_->what.store("finished", std::memory_order_relaxed);
  }

  // Bulk slice state, for the final check.
  Key bulk_base() const { return bulk_base_; }
  std::uint64_t bulk_filled() const { return bulk_filled_; }
  const WorkerStats& stats() const { return stats_; }

 private:
  void Fail(Op op, Key key, const KeyState& state, const std::string& what) {
    violations.Report(kWrongResult,
                      std::string(kOpNames[op]) + " on " + KeyName(key) + " (oracle: " +
                          (state.present ? "present, version " + std::to_string(state.version)
                                         : std::string("absent")) +
                          "): " + what);
  }

  // Checks an (iterator, inserted) result of an insert-like operation that
  // offered version `offered`.
  void CheckInsertResult(Op op, Key key, KeyState& state, const std::pair<Map::iterator, bool>& r,
                         std::uint64_t offered) {
    ++stats_.calls[op];
    if (r.second == state.present) {
      Fail(op, key, state, r.second ? "inserted over a present key" : "did not insert");
    }
    const std::uint64_t expected = state.present ? state.version : offered;
    if (r.first == the_map->end()) {
      Fail(op, key, state, "returned end()");
    } else if (r.first->first != key || !r.first->second.Is(key, expected)) {
      Fail(op, key, state,
           "returned " + KeyName(r.first->first) + " " + r.first->second.Describe() +
               ", expected version " + std::to_string(expected));
    }
    if (r.second) {
      ++stats_.effective[op];
      state.present = true;
      state.version = offered;
      total_inserts.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void CheckLookup(Op op, Key key, const KeyState& state, const Val* found) {
    ++stats_.calls[op];
    if (found != nullptr) ++stats_.effective[op];
    if ((found != nullptr) != state.present) {
      Fail(op, key, state, found ? "found " + found->Describe() : "not found");
    } else if (found != nullptr && !found->Is(key, state.version)) {
      Fail(op, key, state, "found " + found->Describe());
    }
  }

  void DoOp(Key key, KeyState& state, bool hot, const rcu::ReadGuard* outer) {
    Map& map = *the_map;
    const Op op =
        hot ? kHotOps[rng_.Below(std::size(kHotOps))] : static_cast<Op>(rng_.Below(kNumOps));
    activity_->what.store(kOpNames[op], std::memory_order_relaxed);
    const std::uint64_t offered = ++state.next_version;
    switch (op) {
      case kInsert: {
        auto r = map.insert({key, Val(key, offered)});
        CheckInsertResult(op, key, state, r, offered);
        break;
      }
      case kEmplace: {
        auto r = map.emplace(key, Val(key, offered));
        CheckInsertResult(op, key, state, r, offered);
        break;
      }
      case kTryEmplace: {
        const bool was_present = state.present;
        const std::uint64_t before = values_constructed_here;
        auto r = map.try_emplace(key, key, offered);
        const std::uint64_t constructed = values_constructed_here - before;
        if (constructed != (was_present ? 0u : 1u)) {
          Fail(op, key, state, "constructed " + std::to_string(constructed) + " values");
        }
        CheckInsertResult(op, key, state, r, offered);
        break;
      }
      case kInsertOrAssign: {
        auto r = map.insert_or_assign(key, Val(key, offered));
        ++stats_.calls[op];
        ++stats_.effective[op];
        if (r.second == state.present) {
          Fail(op, key, state,
               r.second ? "inserted over a present key" : "assigned to an absent key");
        }
        if (r.first == map.end() || r.first->first != key || !r.first->second.Is(key, offered)) {
          Fail(op, key, state, "returned iterator not at the new value");
        }
        if (r.second) total_inserts.fetch_add(1, std::memory_order_relaxed);
        state.present = true;
        state.version = offered;
        break;
      }
      case kErase: {
        const std::size_t n = map.erase(key);
        ++stats_.calls[op];
        if (n != (state.present ? 1u : 0u)) Fail(op, key, state, "returned " + std::to_string(n));
        if (n == 1) {
          ++stats_.effective[op];
          total_erases.fetch_add(1, std::memory_order_relaxed);
        }
        state.present = false;
        break;
      }
      case kEraseIterator: {
        std::size_t n;
        {
          auto it = map.find(key);  // holds its own guard: erase runs inside it
          const bool was_in_section = activity_->in_section.exchange(true);
          CheckLookup(kFindOwning, key, state, it == map.end() ? nullptr : &it->second);
          // erase(it) returns the next iterator. The key is this worker's,
          // so an entry found is still current and must be removed (checked
          // by the oracle's next lookup of the key).
          n = it == map.end() ? 0 : 1;
          map.erase(it);
          if (map.contains(key)) Fail(op, key, state, "still present after erase(iterator)");
          activity_->in_section.store(was_in_section);
        }
        ++stats_.calls[op];
        if (n != (state.present ? 1u : 0u)) Fail(op, key, state, "returned " + std::to_string(n));
        if (n == 1) {
          ++stats_.effective[op];
          total_erases.fetch_add(1, std::memory_order_relaxed);
        }
        state.present = false;
        break;
      }
      case kUpdate: {
        int calls = 0;
        std::string bad;
        const bool updated = map.update(key, [&](const Val& old) {
          ++calls;
          if (!old.Is(key, state.version)) bad = "fn got " + old.Describe();
          return Val(key, offered);
        });
        ++stats_.calls[op];
        if (!bad.empty()) Fail(op, key, state, bad);
        if (updated != state.present) Fail(op, key, state, updated ? "updated" : "did not update");
        if (calls != (state.present ? 1 : 0)) {
          Fail(op, key, state, "fn called " + std::to_string(calls) + " times");
        }
        if (updated) {
          ++stats_.effective[op];
          state.version = offered;
        }
        break;
      }
      case kCompute: {
        const bool erase = !hot && rng_.Below(3) == 0;
        int calls = 0;
        std::string bad;
        const rcu::ComputeResult result =
            map.compute(key, [&](const Val* current) -> std::optional<Val> {
              ++calls;
              if (state.present && (current == nullptr || !current->Is(key, state.version))) {
                bad = "fn got " + (current ? current->Describe() : std::string("nullptr"));
              } else if (!state.present && current != nullptr) {
                bad = "fn got " + current->Describe() + " for an absent key";
              }
              if (erase) return std::nullopt;
              return Val(key, offered);
            });
        ++stats_.calls[op];
        ++stats_.compute_results[static_cast<int>(result)];
        const rcu::ComputeResult expected =
            state.present
                ? (erase ? rcu::ComputeResult::kErased : rcu::ComputeResult::kUpdated)
                : (erase ? rcu::ComputeResult::kUnchanged : rcu::ComputeResult::kInserted);
        if (!bad.empty()) Fail(op, key, state, bad);
        if (calls != 1) Fail(op, key, state, "fn called " + std::to_string(calls) + " times");
        if (result != expected) {
          Fail(op, key, state,
               std::string("returned ") + ComputeName(result) + ", expected " +
                   ComputeName(expected));
        }
        if (expected != rcu::ComputeResult::kUnchanged) ++stats_.effective[op];
        if (expected == rcu::ComputeResult::kInserted) {
          total_inserts.fetch_add(1, std::memory_order_relaxed);
        }
        if (expected == rcu::ComputeResult::kErased) {
          total_erases.fetch_add(1, std::memory_order_relaxed);
        }
        if (!erase) state.version = offered;
        state.present = !erase;
        break;
      }
      case kGet: {
        const std::optional<Val> v = map.get(key);
        CheckLookup(op, key, state, v ? &*v : nullptr);
        break;
      }
      case kContains:
      case kCount: {
        const bool found = op == kContains ? map.contains(key) : map.count(key) == 1;
        ++stats_.calls[op];
        if (found) ++stats_.effective[op];
        if (found != state.present) Fail(op, key, state, found ? "found" : "not found");
        break;
      }
      case kFindGuard: {
        auto check = [&](const rcu::ReadGuard& guard) {
          auto it = map.find(guard, key);
          if (it != map.end() && it->first != key) {
            Fail(op, key, state, "found " + KeyName(it->first));
          }
          CheckLookup(op, key, state, it == map.end() ? nullptr : &it->second);
        };
        if (outer != nullptr) {
          check(*outer);
        } else {
          rcu::ReadGuard guard;
          check(guard);
        }
        break;
      }
      case kFindOwning: {
        auto it = map.find(key);
        CheckLookup(op, key, state, it == map.end() ? nullptr : &it->second);
        break;
      }
      case kNumOps:
        break;
    }
    activity_->what.store("between operations", std::memory_order_relaxed);
  }

  // One step of the bulk phase: fill or empty a chunk of this worker's slice.
  void BulkStep() {
    Map& map = *the_map;
    const std::uint64_t epoch = bulk_epoch.load(std::memory_order_acquire);
    const bool fill = epoch % 2 == 0;
    if ((fill && bulk_filled_ == bulk_per_worker) || (!fill && bulk_filled_ == 0)) {
      if (reported_epoch_ != epoch) {
        reported_epoch_ = epoch;
        bulk_done.fetch_add(1, std::memory_order_acq_rel);
      }
      return;
    }
    activity_->what.store(fill ? "bulk insert" : "bulk erase", std::memory_order_relaxed);
    for (std::uint64_t i = 0; i < kBulkChunk; ++i) {
      if (fill) {
        if (bulk_filled_ == bulk_per_worker) break;
        const Key key = bulk_base_ + bulk_filled_;
        bool inserted;
        switch (bulk_filled_ % 3) {
          case 0:
            inserted = map.try_emplace(key, key, 1).second;
            break;
          case 1:
            inserted = map.emplace(key, Val(key, 1)).second;
            break;
          default:
            inserted = map.insert({key, Val(key, 1)}).second;
            break;
        }
        if (!inserted) violations.Report(kWrongResult, "bulk insert of absent " + KeyName(key));
        ++bulk_filled_;
        ++stats_.bulk_inserts;
        total_inserts.fetch_add(1, std::memory_order_relaxed);
      } else {
        if (bulk_filled_ == 0) break;
        const Key key = bulk_base_ + bulk_filled_ - 1;
        const std::size_t n = map.erase(key);
        if (n != 1) {
          violations.Report(kWrongResult, "bulk erase of present " + KeyName(key) + " returned " +
                                              std::to_string(n));
        }
        --bulk_filled_;
        ++stats_.bulk_erases;
        total_erases.fetch_add(1, std::memory_order_relaxed);
      }
    }
    // Spot-check the slice: one key inside, one outside.
    if (bulk_filled_ > 0) {
      const Key key = bulk_base_ + rng_.Below(bulk_filled_);
      const std::optional<Val> v = map.get(key);
      ++stats_.bulk_lookups;
      if (!v || !v->Is(key, 1)) {
        violations.Report(kWrongResult, "bulk " + KeyName(key) + " present, get returned " +
                                            (v ? v->Describe() : std::string("nothing")));
      }
    }
    if (bulk_filled_ < bulk_per_worker) {
      const Key key = bulk_base_ + bulk_filled_ + rng_.Below(bulk_per_worker - bulk_filled_);
      ++stats_.bulk_lookups;
      if (map.contains(key)) {
        violations.Report(kWrongResult, "bulk " + KeyName(key) + " absent, contains() is true");
      }
    }
  }

  const int id_;
  Activity* const activity_;
  Rng rng_;
  WorkerStats stats_;
  const Key bulk_base_;
  std::uint64_t bulk_filled_ = 0;
  std::uint64_t reported_epoch_ = ~std::uint64_t{0};
};

// ---------------------------------------------------------------------------
// Readers.

struct ReaderStats {
  std::uint64_t stable_lookups = 0;
  std::uint64_t hot_lookups = 0;
  std::uint64_t churn_lookups = 0;
  std::uint64_t churn_found = 0;
  std::uint64_t iterations = 0;
  std::uint64_t owning_iterations = 0;
  std::uint64_t entries_visited = 0;
  std::uint64_t min_entries = ~std::uint64_t{0};
  std::uint64_t max_entries = 0;
  std::uint64_t pauses = 0;
  std::uint64_t pauses_with_resize = 0;
  std::uint64_t pauses_with_two_resizes = 0;
  std::uint64_t side_passes = 0;
  std::uint64_t side_pauses = 0;
  std::uint64_t side_pauses_with_resize = 0;
  std::uint64_t side_pauses_with_two_resizes = 0;
  std::uint64_t side_lookups = 0;

  void Merge(const ReaderStats& o) {
    side_passes += o.side_passes;
    side_pauses += o.side_pauses;
    side_pauses_with_resize += o.side_pauses_with_resize;
    side_pauses_with_two_resizes += o.side_pauses_with_two_resizes;
    side_lookups += o.side_lookups;
    pauses += o.pauses;
    pauses_with_resize += o.pauses_with_resize;
    pauses_with_two_resizes += o.pauses_with_two_resizes;
    stable_lookups += o.stable_lookups;
    hot_lookups += o.hot_lookups;
    churn_lookups += o.churn_lookups;
    churn_found += o.churn_found;
    iterations += o.iterations;
    owning_iterations += o.owning_iterations;
    entries_visited += o.entries_visited;
    min_entries = std::min(min_entries, o.min_entries);
    max_entries = std::max(max_entries, o.max_entries);
  }
};

class Reader {
 public:
  // A pausing reader only iterates, and stops in the middle of each pass
  // (see PauseForResizes).
  Reader(int id, bool pausing, Activity* activity)
      : id_(id),
        pausing_(pausing),
        activity_(activity),
        rng_(2000 + static_cast<std::uint64_t>(id)),
        last_hot_(kHot, 0),
        seen_(kStable + kHot),
        side_seen_(kSideKeys) {}

  void Run() {
    std::snprintf(activity_->name, sizeof(activity_->name),
                  pausing_ ? "map-pausing-reader" : "map-reader%d", id_);
    SetThreadName(activity_->name);
    std::uint64_t round = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      activity_->progress.fetch_add(1, std::memory_order_relaxed);
      ++round;
      if (pausing_) {
        if (round % 2 == 0) {
          IterateSide();
        } else {
          Iterate(round % 8 == 1);
        }
        continue;
      }
      Lookups();
      if (round % 16 == 0) Iterate(round % 64 == 0);
    }
    activity_->what.store("finished", std::memory_order_relaxed);
  }

  const ReaderStats& stats() const { return stats_; }

 private:
  void CheckStable(Key key, const Val* v, const char* how) {
    ++stats_.stable_lookups;
    if (v == nullptr) {
      violations.Report(kStableMissing, std::string(how) + ": " + KeyName(key) + " not found");
    } else if (!v->Is(key, 0)) {
      violations.Report(kBadValue,
                        std::string(how) + ": " + KeyName(key) + " has " + v->Describe());
    }
  }

  void CheckHot(Key key, const Val* v, const char* how) {
    ++stats_.hot_lookups;
    if (v == nullptr) {
      violations.Report(kStableMissing, std::string(how) + ": " + KeyName(key) + " not found");
      return;
    }
    if (!v->WellFormed() || v->key() != key) {
      violations.Report(kBadValue,
                        std::string(how) + ": " + KeyName(key) + " has " + v->Describe());
      return;
    }
    std::uint64_t& last = last_hot_[key - kHotBase];
    if (v->version() < last) {
      violations.Report(kHotBackwards, std::string(how) + ": " + KeyName(key) + " version " +
                                           std::to_string(v->version()) + " after " +
                                           std::to_string(last));
    }
    last = std::max(last, v->version());
  }

  void CheckAny(Key key, const Val* v, const char* how) {
    ++stats_.churn_lookups;
    if (v == nullptr) return;
    ++stats_.churn_found;
    if (!v->WellFormed() || v->key() != key) {
      violations.Report(kBadValue,
                        std::string(how) + ": " + KeyName(key) + " has " + v->Describe());
    }
  }

  void Lookups() {
    Map& map = *the_map;
    activity_->what.store("lookups", std::memory_order_relaxed);
    {
      // A batch under one guard, sometimes nested.
      rcu::ReadGuard guard;
      std::optional<rcu::ReadGuard> nested;
      if (rng_.Below(4) == 0) nested.emplace();
      for (int i = 0; i < 64; ++i) {
        const Key stable = rng_.Below(kStable);
        auto it = map.find(guard, stable);
        CheckStable(stable, it == map.end() ? nullptr : &it->second, "find(guard)");
        const Key hot = kHotBase + rng_.Below(kHot);
        auto h = map.find(guard, hot);
        CheckHot(hot, h == map.end() ? nullptr : &h->second, "find(guard)");
        const Key churn = kChurnBase + rng_.Below(kChurn);
        auto c = map.find(guard, churn);
        CheckAny(churn, c == map.end() ? nullptr : &c->second, "find(guard)");
      }
    }
    for (int i = 0; i < 16; ++i) {
      const Key stable = rng_.Below(kStable);
      switch (i % 4) {
        case 0: {
          const std::optional<Val> v = map.get(stable);
          CheckStable(stable, v ? &*v : nullptr, "get");
          break;
        }
        case 1:
          ++stats_.stable_lookups;
          if (!map.contains(stable)) {
            violations.Report(kStableMissing, "contains: " + KeyName(stable));
          }
          break;
        case 2:
          ++stats_.stable_lookups;
          if (map.count(stable) != 1)
            violations.Report(kStableMissing, "count: " + KeyName(stable));
          break;
        default: {
          auto it = map.find(stable);
          CheckStable(stable, it == map.end() ? nullptr : &it->second, "find");
          break;
        }
      }
      const Key hot = kHotBase + rng_.Below(kHot);
      const std::optional<Val> h = map.get(hot);
      CheckHot(hot, h ? &*h : nullptr, "get");
      const Key bulk = kBulkBase + rng_.Below(kBulkTotal);
      const std::optional<Val> b = map.get(bulk);
      CheckAny(bulk, b ? &*b : nullptr, "get");
    }
  }

  void Visit(const Entry& entry, std::uint64_t* entries) {
    if (++*entries == pause_at_) {
      const int changes = PauseForResizes(*the_map);
      ++stats_.pauses;
      if (changes > 0) ++stats_.pauses_with_resize;
      if (changes > 1) {
        ++stats_.pauses_with_two_resizes;
        violations.Report(kTwoResizes, "main map, paused in a pass");
      }
      activity_->what.store("iteration", std::memory_order_relaxed);
      pause_at_ += 1 + rng_.Below(kPauseSpacing);
    }
    const Key key = entry.first;
    const Val& v = entry.second;
    if (!v.WellFormed() || v.key() != key) {
      violations.Report(kBadValue, "iteration: " + KeyName(key) + " has " + v.Describe());
    }
    switch (Classify(key)) {
      case KeyClass::kStable:
        ++seen_[key];
        if (v.version() != 0) {
          violations.Report(kBadValue, "iteration: " + KeyName(key) + " has " + v.Describe());
        }
        break;
      case KeyClass::kHot:
        ++seen_[kStable + (key - kHotBase)];
        break;
      case KeyClass::kChurn:
      case KeyClass::kBulk:
        break;
      case KeyClass::kUnknown:
        violations.Report(kBadValue, "iteration: unknown key " + std::to_string(key));
        break;
    }
  }

  // Pauses in the middle of a pass (often in the middle of a bucket's chain)
  // until the table has been resized twice, or for 2 ms (10 ms once it has
  // been resized once). A correct
  // map cannot finish the second resize meanwhile (it reuses the links of
  // the array this reader may stand on only after a grace period); one that
  // did would send this pass along rewritten links, and the pass would miss
  // or repeat keys.
  // Returns how many resizes it saw (0, 1 or 2).
  int PauseForResizes(const Map& map) {
    activity_->what.store("paused inside a pass", std::memory_order_relaxed);
    std::size_t last = map.bucket_count();
    int changes = 0;
    const auto start = std::chrono::steady_clock::now();
    auto until = start + std::chrono::milliseconds(2);
    while (changes < 2 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::microseconds(20));
      const std::size_t buckets = map.bucket_count();
      if (buckets != last) {
        ++changes;
        last = buckets;
        until = start + std::chrono::milliseconds(10);
      }
    }
    return changes;
  }

  // One pass over the side map, pausing every few hundred entries: every key
  // exactly once, intact; then lookups of random keys under the same guard.
  void IterateSide() {
    const Map& side = *side_map;
    activity_->what.store("side-map pass", std::memory_order_relaxed);
    std::fill(side_seen_.begin(), side_seen_.end(), 0);
    std::uint64_t entries = 0;
    std::uint64_t next_pause = 1 + rng_.Below(kSidePauseSpacing);
    {
      rcu::ReadGuard guard;
      for (const Entry& entry : side.Iterate(guard)) {
        if (++entries == next_pause) {
          const int changes = PauseForResizes(side);
          ++stats_.side_pauses;
          if (changes > 0) ++stats_.side_pauses_with_resize;
          if (changes > 1) {
            ++stats_.side_pauses_with_two_resizes;
            violations.Report(kTwoResizes, "side map, paused in a pass");
          }
          next_pause += 1 + rng_.Below(kSidePauseSpacing);
          activity_->what.store("side-map pass", std::memory_order_relaxed);
        }
        if (entry.first >= kSideKeys || !entry.second.Is(entry.first, 0)) {
          violations.Report(kBadValue, "side map pass: key " + std::to_string(entry.first) +
                                           " has " + entry.second.Describe());
        } else {
          ++side_seen_[entry.first];
        }
      }
      for (int i = 0; i < 64; ++i) {
        const Key key = rng_.Below(kSideKeys);
        auto it = side.find(guard, key);
        ++stats_.side_lookups;
        if (it == side.end()) {
          violations.Report(kStableMissing, "side map: key " + std::to_string(key) + " not found");
        } else if (!it->second.Is(key, 0)) {
          violations.Report(
              kBadValue, "side map: key " + std::to_string(key) + " has " + it->second.Describe());
        }
      }
    }
    ++stats_.side_passes;
    int reported = 0;
    for (std::size_t k = 0; k < kSideKeys; ++k) {
      if (side_seen_[k] != 1 && reported++ < 3) {
        violations.Report(kIterationCount, "side map pass saw key " + std::to_string(k) + " " +
                                               std::to_string(side_seen_[k]) + " times");
      }
    }
  }

  // One full pass: every stable and hot key (present throughout) exactly once.
  void Iterate(bool owning) {
    Map& map = *the_map;
    activity_->what.store(owning ? "iteration (owning iterators)" : "iteration under a guard",
                          std::memory_order_relaxed);
    std::fill(seen_.begin(), seen_.end(), 0);
    std::uint64_t entries = 0;
    pause_at_ = pausing_ ? 1 + rng_.Below(kPauseSpacing) : 0;
    if (owning) {
      for (const Entry& entry : map) Visit(entry, &entries);
      ++stats_.owning_iterations;
    } else {
      rcu::ReadGuard guard;
      for (const Entry& entry : map.Iterate(guard)) Visit(entry, &entries);
    }
    ++stats_.iterations;
    stats_.entries_visited += entries;
    stats_.min_entries = std::min(stats_.min_entries, entries);
    stats_.max_entries = std::max(stats_.max_entries, entries);
    int reported = 0;
    for (std::size_t i = 0; i < seen_.size(); ++i) {
      if (seen_[i] != 1 && reported++ < 3) {
        const Key key = i < kStable ? i : kHotBase + (i - kStable);
        violations.Report(kIterationCount, std::string(owning ? "owning " : "guarded ") +
                                               "pass saw " + KeyName(key) + " " +
                                               std::to_string(seen_[i]) + " times");
      }
    }
  }

  const int id_;
  const bool pausing_;
  Activity* const activity_;
  Rng rng_;
  ReaderStats stats_;
  std::uint64_t pause_at_ = 0;  // entry count of the next pause; 0: none
  std::vector<std::uint64_t> last_hot_;
  std::vector<std::uint32_t> seen_;
  std::vector<std::uint32_t> side_seen_;
};

// Rehashes the side map back-to-back, to sizes from 512 to 8192 buckets
// (its 4096 keys need 512 at load factor 8), never the same size twice in a
// row. Each resize reuses the links of the array before last, so each must
// first wait for the readers of that array: in a correct map the pausing
// reader holds it up; in one that does not wait, it races ahead and the
// pausing reader's pass follows rewritten links.
class SideResizer {
 public:
  explicit SideResizer(Activity* activity) : activity_(activity), rng_(4000) {}
  void Run() {
    std::snprintf(activity_->name, sizeof(activity_->name), "map-side-resizer");
    SetThreadName(activity_->name);
    std::size_t last = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      activity_->progress.fetch_add(1, std::memory_order_relaxed);
      std::size_t n;
      do {
        n = std::size_t{512} << rng_.Below(5);
      } while (n == last);
      last = n;
      activity_->what.store("rehash", std::memory_order_relaxed);
      side_map->rehash(n);
      ++rehashes_;
    }
    activity_->what.store("finished", std::memory_order_relaxed);
  }
  std::uint64_t rehashes() const { return rehashes_; }

 private:
  Activity* const activity_;
  Rng rng_;
  std::uint64_t rehashes_ = 0;
};

// ---------------------------------------------------------------------------
// Maintenance: bulk phases, erase_if, reserve, rehash.

struct MaintenanceStats {
  std::uint64_t bulk_phases = 0;
  std::uint64_t erase_if_calls = 0;
  std::uint64_t erase_if_removed = 0;
  std::uint64_t erase_if_keys_held = 0;
  std::uint64_t erase_if_pred_calls = 0;
  std::uint64_t reserves = 0;
  std::uint64_t rehashes = 0;
  std::uint64_t rehash_bursts = 0;
};

class Maintenance {
 public:
  explicit Maintenance(Activity* activity)
      : activity_(activity), rng_(3000), mine_(Oracle::kSize, 0), stable_seen_(kStable, 0) {}

  void Run() {
    std::snprintf(activity_->name, sizeof(activity_->name), "map-maintenance");
    SetThreadName(activity_->name);
    // Starts with an erase_if and a burst (a grow and a shrink), so that even
    // a short sanitizer run does each at least once.
    std::uint64_t cycle = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      activity_->progress.fetch_add(1, std::memory_order_relaxed);
      AdvanceBulkPhase();
      switch (cycle == 0 ? 0 : cycle == 1 ? 8 : rng_.Below(12)) {
        case 0:
        case 1:
        case 2:
        case 3:
          EraseIf();
          break;
        case 4: {
          activity_->what.store("reserve", std::memory_order_relaxed);
          the_map->reserve(the_map->size() + rng_.Below(300000));
          ++stats_.reserves;
          break;
        }
        case 5:
        case 6:
          activity_->what.store("rehash(0)", std::memory_order_relaxed);
          the_map->rehash(0);
          ++stats_.rehashes;
          break;
        case 7:
          activity_->what.store("rehash(n)", std::memory_order_relaxed);
          the_map->rehash(std::size_t{32} << rng_.Below(14));
          ++stats_.rehashes;
          break;
        case 8: {
          // Back-to-back resizes: each must first wait for the readers of
          // the array before last, whose links it reuses.
          activity_->what.store("rehash burst", std::memory_order_relaxed);
          const std::size_t base = the_map->bucket_count();
          for (int i = 0; i < 6; ++i) the_map->rehash(i % 2 == 0 ? base * 2 : base);
          the_map->rehash(0);
          stats_.rehashes += 7;
          ++stats_.rehash_bursts;
          break;
        }
        default:
          break;
      }
      ++cycle;
      activity_->what.store("sleeping", std::memory_order_relaxed);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    activity_->what.store("finished", std::memory_order_relaxed);
  }

  const MaintenanceStats& stats() const { return stats_; }

 private:
  void AdvanceBulkPhase() {
    const std::uint64_t epoch = bulk_epoch.load(std::memory_order_relaxed);
    if (bulk_done.load(std::memory_order_acquire) >=
        static_cast<std::uint64_t>(num_workers) * (epoch + 1)) {
      bulk_epoch.store(epoch + 1, std::memory_order_release);
      ++stats_.bulk_phases;
    }
  }

  // erase_if over a batch of churn keys this thread owns for the call.
  void EraseIf() {
    activity_->what.store("acquiring keys for erase_if", std::memory_order_relaxed);
    std::vector<std::size_t> held;
    std::uint64_t expected = 0;
    for (int i = 0; i < kEraseIfBatch; ++i) {
      const std::size_t index = kHot + rng_.Below(kChurn);
      if (mine_[index] || !oracle->TryAcquire(index)) continue;
      mine_[index] = 1;
      held.push_back(index);
      if (oracle->State(index).present) ++expected;
    }
    std::fill(stable_seen_.begin(), stable_seen_.end(), 0);
    std::uint64_t pred_calls = 0;
    std::uint64_t mine_seen = 0;
    activity_->what.store("erase_if", std::memory_order_relaxed);
    const std::size_t removed = the_map->erase_if([&](const Entry& entry) {
      ++pred_calls;
      const Key key = entry.first;
      if (!entry.second.WellFormed() || entry.second.key() != key) {
        violations.Report(kBadValue,
                          "erase_if: " + KeyName(key) + " has " + entry.second.Describe());
      }
      switch (Classify(key)) {
        case KeyClass::kStable:
          ++stable_seen_[key];
          return false;
        case KeyClass::kChurn: {
          const std::size_t index = Oracle::Index(key);
          if (!mine_[index]) return false;
          ++mine_seen;
          const KeyState& state = oracle->State(index);
          if (!state.present || !entry.second.Is(key, state.version)) {
            violations.Report(kWrongResult,
                              "erase_if predicate got " + KeyName(key) + " " +
                                  entry.second.Describe() + "; oracle: " +
                                  (state.present ? "version " + std::to_string(state.version)
                                                 : std::string("absent")));
          }
          return true;
        }
        default:
          return false;
      }
    });
    ++stats_.erase_if_calls;
    stats_.erase_if_removed += removed;
    stats_.erase_if_keys_held += held.size();
    stats_.erase_if_pred_calls += pred_calls;
    total_erases.fetch_add(removed, std::memory_order_relaxed);
    if (removed != expected || mine_seen != expected) {
      violations.Report(kWrongResult, "erase_if over " + std::to_string(held.size()) +
                                          " held keys, " + std::to_string(expected) +
                                          " present: removed " + std::to_string(removed) +
                                          ", predicate saw " + std::to_string(mine_seen));
    }
    int reported = 0;
    for (std::uint64_t k = 0; k < kStable; ++k) {
      if (stable_seen_[k] != 1 && reported++ < 3) {
        violations.Report(kEraseIfVisits, "erase_if predicate saw " + KeyName(k) + " " +
                                              std::to_string(stable_seen_[k]) + " times");
      }
    }
    for (std::size_t index : held) {
      oracle->State(index).present = false;
      mine_[index] = 0;
      oracle->Release(index);
    }
  }

  Activity* const activity_;
  Rng rng_;
  MaintenanceStats stats_;
  std::vector<char> mine_;
  std::vector<std::uint32_t> stable_seen_;
};

// ---------------------------------------------------------------------------

[[noreturn]] void ReportHang(const std::vector<std::unique_ptr<Activity>>& activities,
                             const char* when) {
  violations.Report(kHang, std::string("no thread made progress for ") +
                               std::to_string(kHangSeconds) + " s " + when);
  std::printf("HANG %s; thread states:\n", when);
  for (const auto& a : activities) {
    std::printf("  %-18s %s%s%s\n", a->name, a->what.load(),
                a->in_section.load() ? " (inside a read-side section)" : "",
                a->done.load() ? " [done]" : "");
  }
  std::printf("FAILURE: %" PRIu64 " violations\n", violations.Total());
  violations.Print();
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(1);
}

std::uint64_t TotalProgress(const std::vector<std::unique_ptr<Activity>>& activities) {
  std::uint64_t total = 0;
  for (const auto& a : activities) total += a->progress.load(std::memory_order_relaxed);
  return total;
}

// The maps under test, filled: stable keys and hot keys in the main map, a
// side map that the side resizer rehashes while readers pause in it.
struct Fixture {
  std::unique_ptr<Map> map;
  std::unique_ptr<Map> side;
  std::uint64_t initial = 0;       // entries inserted before the run
  std::size_t always_present = 0;  // stable + hot: never absent
  std::size_t initial_buckets = 0;
  rcu::Stats stats_before;
};

Fixture SetUp() {
  Fixture f;
  f.map = std::make_unique<Map>();
  the_map = f.map.get();
  for (Key k = 0; k < kStable; ++k) {
    if (!f.map->insert({k, Val(k, 0)}).second) violations.Report(kWrongResult, "initial insert");
    ++f.initial;
  }
  for (Key i = 0; i < kHot; ++i) {
    const Key k = kHotBase + i;
    KeyState& s = oracle->State(Oracle::Index(k));
    s.next_version = 1;
    s.version = 1;
    s.present = true;
    if (!f.map->try_emplace(k, k, 1).second) violations.Report(kWrongResult, "initial insert");
    ++f.initial;
  }
  f.always_present = kStable + kHot;
  f.initial_buckets = f.map->bucket_count();
  f.side = std::make_unique<Map>();
  f.side->max_load_factor(kSideMaxLoadFactor);
  for (Key k = 0; k < kSideKeys; ++k) f.side->try_emplace(k, k, 0);
  side_map = f.side.get();
  f.stats_before = rcu::GetStats();
  return f;
}

// Every thread of the run, with the Activity the hang detector watches.
struct Crew {
  std::vector<std::unique_ptr<Activity>> activities;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::unique_ptr<Reader>> readers;  // the last one pauses
  std::unique_ptr<Maintenance> maintenance;
  std::unique_ptr<SideResizer> side_resizer;
  std::vector<std::thread> threads;

  Activity* NewActivity() {
    activities.push_back(std::make_unique<Activity>());
    return activities.back().get();
  }
  void Start(Activity* a, std::function<void()> fn) {
    threads.emplace_back([a, fn = std::move(fn)] {
      fn();
      a->done.store(true, std::memory_order_release);
    });
  }
};

void StartCrew(Crew& crew, int num_readers) {
  for (int i = 0; i < num_workers; ++i) {
    Activity* a = crew.NewActivity();
    crew.workers.push_back(std::make_unique<Worker>(i, a));
    crew.Start(a, [w = crew.workers.back().get()] { w->Run(); });
  }
  for (int i = 0; i <= num_readers; ++i) {
    Activity* a = crew.NewActivity();
    crew.readers.push_back(std::make_unique<Reader>(i, i == num_readers, a));
    crew.Start(a, [r = crew.readers.back().get()] { r->Run(); });
  }
  Activity* a = crew.NewActivity();
  crew.maintenance = std::make_unique<Maintenance>(a);
  crew.Start(a, [m = crew.maintenance.get()] { m->Run(); });
  a = crew.NewActivity();
  crew.side_resizer = std::make_unique<SideResizer>(a);
  crew.Start(a, [r = crew.side_resizer.get()] { r->Run(); });
}

// What the main thread saw while the crew ran.
struct Observations {
  double elapsed = 0;
  std::size_t last_buckets = 0, min_buckets = 0, max_buckets = 0;
  std::uint64_t grows = 0, shrinks = 0, samples = 0;
  std::size_t min_size = ~std::size_t{0}, max_size = 0;
  std::uint64_t max_pending = 0;
};

// Samples the map's size and bucket count, checking the size bounds.
void Sample(const Fixture& f, Observations& o) {
  const std::size_t buckets = f.map->bucket_count();
  if (buckets > o.last_buckets) ++o.grows;
  if (buckets < o.last_buckets) ++o.shrinks;
  o.last_buckets = buckets;
  o.min_buckets = std::min(o.min_buckets, buckets);
  o.max_buckets = std::max(o.max_buckets, buckets);
  const std::size_t size = f.map->size();
  o.min_size = std::min(o.min_size, size);
  o.max_size = std::max(o.max_size, size);
  const std::size_t most = f.always_present + kChurn + kBulkTotal;
  if (size < f.always_present || size > most) {
    violations.Report(kSizeWrong, "size() " + std::to_string(size) + " outside [" +
                                      std::to_string(f.always_present) + ", " +
                                      std::to_string(most) + "]");
  }
  o.max_pending = std::max(o.max_pending, stress::PendingCallbacks(rcu::GetStats()));
  ++o.samples;
}

// Runs the crew for `seconds`, sampling, then stops and joins it; a crew
// that makes no progress for kHangSeconds is reported as a hang.
Observations Run(const Fixture& f, Crew& crew, double seconds) {
  Observations o;
  o.last_buckets = o.min_buckets = o.max_buckets = f.initial_buckets;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    std::chrono::duration<double>(seconds));
  std::uint64_t last_progress = 0;
  auto last_progress_time = start;
  stress::Progress progress(
      seconds, [&] { return TotalProgress(crew.activities); }, [] { return violations.Total(); });
  while (std::chrono::steady_clock::now() < deadline) {
    progress.Tick();
    Sample(f, o);
    const auto now = std::chrono::steady_clock::now();
    const std::uint64_t progress = TotalProgress(crew.activities);
    if (progress != last_progress) {
      last_progress = progress;
      last_progress_time = now;
    } else if (now - last_progress_time > std::chrono::seconds(kHangSeconds)) {
      ReportHang(crew.activities, "during the run");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));  // the sampling period
  }
  stop.store(true);
  // Join, but report a hang rather than wait forever.
  last_progress_time = std::chrono::steady_clock::now();
  while (true) {
    bool all_done = true;
    for (const auto& a : crew.activities)
      all_done = all_done && a->done.load(std::memory_order_acquire);
    if (all_done) break;
    if (std::chrono::steady_clock::now() - last_progress_time >
        std::chrono::seconds(kHangSeconds)) {
      ReportHang(crew.activities, "while stopping");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (std::thread& t : crew.threads) t.join();
  o.elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Sample(f, o);
  return o;
}

// What the final, single-threaded checks found.
struct Verdicts {
  std::uint64_t expected_size = 0;
  std::uint64_t iterated = 0;
  std::size_t final_size = 0;
  std::size_t final_buckets = 0;
  std::uint64_t inserts = 0, erases = 0;
  std::int64_t live_values_before = 0, live_nodes_before = 0;
  std::int64_t live_values = 0, live_nodes = 0;
  rcu::Stats stats_after;
};

void ReportIfWrong(Key k, const std::optional<Val>& v, bool present, std::uint64_t version,
                   const std::string& expectation) {
  if (v.has_value() != present || (v && !v->Is(k, version))) {
    violations.Report(kWrongResult, "final: " + KeyName(k) + " " +
                                        (v ? v->Describe() : std::string("missing")) + expectation);
  }
}

// Checks every key against the oracle, a full iteration against size(), the
// resizes seen, and, after destroying both maps, that nothing leaked.
Verdicts Verify(Fixture& f, const Crew& crew, const Observations& o) {
  Verdicts v;
  v.expected_size = kStable;
  for (Key k = 0; k < kStable; ++k) ReportIfWrong(k, f.map->get(k), true, 0, "");
  for (std::size_t i = 0; i < Oracle::kSize; ++i) {
    const Key k = Oracle::KeyAt(i);
    const KeyState& s = oracle->State(i);
    if (s.present) ++v.expected_size;
    ReportIfWrong(k, f.map->get(k), s.present, s.version,
                  ", oracle: " +
                      (s.present ? "version " + std::to_string(s.version) : std::string("absent")));
  }
  for (const auto& w : crew.workers) {
    v.expected_size += w->bulk_filled();
    for (std::uint64_t i = 0; i < bulk_per_worker; ++i) {
      const bool present = i < w->bulk_filled();
      ReportIfWrong(w->bulk_base() + i, f.map->get(w->bulk_base() + i), present, 1,
                    present ? ", expected present" : ", expected absent");
    }
  }
  // A full iteration agrees with size() and holds no duplicates or strays.
  std::vector<char> seen_churn(Oracle::kSize, 0);
  for (const Entry& e : *f.map) {
    ++v.iterated;
    if (Classify(e.first) == KeyClass::kHot || Classify(e.first) == KeyClass::kChurn) {
      const std::size_t i = Oracle::Index(e.first);
      if (seen_churn[i]++ != 0 || !oracle->State(i).present) {
        violations.Report(kWrongResult,
                          "final iteration: " + KeyName(e.first) + " duplicated or not expected");
      }
    } else if (Classify(e.first) == KeyClass::kUnknown) {
      violations.Report(kWrongResult, "final iteration: unknown key " + std::to_string(e.first));
    }
  }
  v.final_size = f.map->size();
  v.inserts = total_inserts.load();
  v.erases = total_erases.load();
  if (v.final_size != v.expected_size || v.iterated != v.expected_size ||
      f.initial + v.inserts - v.erases != v.expected_size) {
    violations.Report(kSizeWrong, "size() " + std::to_string(v.final_size) + ", oracle " +
                                      std::to_string(v.expected_size) + ", iterated " +
                                      std::to_string(v.iterated) + ", initial + inserts - erases " +
                                      std::to_string(f.initial + v.inserts - v.erases));
  }
  if (o.grows == 0 || o.shrinks == 0) {
    violations.Report(kNoResize, std::to_string(o.grows) + " grows, " + std::to_string(o.shrinks) +
                                     " shrinks observed");
  }
  v.final_buckets = f.map->bucket_count();
  if (f.side->size() != kSideKeys) {
    violations.Report(kSizeWrong, "side map size() " + std::to_string(f.side->size()) +
                                      ", expected " + std::to_string(kSideKeys));
  }

  // Leak accounting: destroy the maps, wait for their callbacks.
  v.live_values_before = values_constructed.load() - values_destroyed.load();
  v.live_nodes_before = nodes_allocated.load() - nodes_freed.load();
  f.map.reset();
  the_map = nullptr;
  f.side.reset();
  side_map = nullptr;
  rcu::Barrier();
  v.live_values = values_constructed.load() - values_destroyed.load();
  v.live_nodes = nodes_allocated.load() - nodes_freed.load();
  if (v.live_values != 0 || v.live_nodes != 0) {
    violations.Report(kLeak, std::to_string(v.live_values) + " values and " +
                                 std::to_string(v.live_nodes) + " nodes live after destruction");
  }
  v.stats_after = rcu::GetStats();
  return v;
}

// Prints what was checked, with counts.
void PrintReport(const Fixture& f, const Crew& crew, const Observations& o, const Verdicts& v) {
  WorkerStats ws;
  for (const auto& w : crew.workers) ws.Merge(w->stats());
  ReaderStats rs;
  for (const auto& r : crew.readers) rs.Merge(r->stats());
  const MaintenanceStats& ms = crew.maintenance->stats();
  const rcu::Stats& before = f.stats_before;
  const rcu::Stats& after = v.stats_after;

  std::printf("ran %.2f s\n", o.elapsed);
  std::printf("worker key acquisitions: %" PRIu64 " (%" PRIu64 " contended; %" PRIu64
              " inside read-side sections, %" PRIu64 " nested; %" PRIu64
              " held values checked after the writes)\n",
              ws.acquisitions, ws.contended, ws.in_section, ws.nested, ws.held_old_values);
  std::printf("worker operations (checked against the oracle): calls / changed the map or found\n");
  std::uint64_t total_ops = 0;
  for (int i = 0; i < kNumOps; ++i) {
    std::printf("  %-18s %10" PRIu64 " / %" PRIu64 "\n", kOpNames[i], ws.calls[i], ws.effective[i]);
    total_ops += ws.calls[i];
  }
  std::printf("  compute results:   kUnchanged %" PRIu64 ", kInserted %" PRIu64
              ", kUpdated %" PRIu64 ", kErased %" PRIu64 "\n",
              ws.compute_results[0], ws.compute_results[1], ws.compute_results[2],
              ws.compute_results[3]);
  std::printf("  total              %10" PRIu64 "\n", total_ops);
  std::printf("bulk:                    %" PRIu64 " phases; %" PRIu64 " inserts, %" PRIu64
              " erases, %" PRIu64 " spot lookups\n",
              ms.bulk_phases, ws.bulk_inserts, ws.bulk_erases, ws.bulk_lookups);
  std::printf("reader lookups:          %" PRIu64 " stable (all found), %" PRIu64
              " hot (never older), %" PRIu64 " churn and bulk (%" PRIu64 " found, all intact)\n",
              rs.stable_lookups, rs.hot_lookups, rs.churn_lookups, rs.churn_found);
  std::printf("reader iterations:       %" PRIu64 " full passes (%" PRIu64
              " with owning iterators), %" PRIu64 " entries, %" PRIu64 "..%" PRIu64
              " per pass; each saw all %zu stable+hot keys once\n",
              rs.iterations, rs.owning_iterations, rs.entries_visited,
              rs.iterations ? rs.min_entries : 0, rs.max_entries, f.always_present);
  std::printf("pauses inside passes:    %" PRIu64 " (%" PRIu64 " saw a resize, %" PRIu64
              " saw two)\n",
              rs.pauses, rs.pauses_with_resize, rs.pauses_with_two_resizes);
  std::printf("side map (%" PRIu64 " stable keys, load factor up to %g): %" PRIu64
              " rehashes; %" PRIu64 " paused passes (each key once), %" PRIu64 " pauses (%" PRIu64
              " saw a resize, %" PRIu64 " saw two), %" PRIu64 " lookups\n",
              kSideKeys, static_cast<double>(kSideMaxLoadFactor), crew.side_resizer->rehashes(),
              rs.side_passes, rs.side_pauses, rs.side_pauses_with_resize,
              rs.side_pauses_with_two_resizes, rs.side_lookups);
  std::printf("maintenance:             erase_if %" PRIu64 " calls (%" PRIu64 " keys held, %" PRIu64
              " removed, %" PRIu64 " predicate calls), reserve %" PRIu64 ", rehash %" PRIu64
              " (%" PRIu64 " bursts of 7)\n",
              ms.erase_if_calls, ms.erase_if_keys_held, ms.erase_if_removed, ms.erase_if_pred_calls,
              ms.reserves, ms.rehashes, ms.rehash_bursts);
  std::printf("resizes observed:        %" PRIu64 " grows, %" PRIu64
              " shrinks (bucket_count "
              "%zu..%zu, %" PRIu64 " samples; final %zu)\n",
              o.grows, o.shrinks, o.min_buckets, o.max_buckets, o.samples, v.final_buckets);
  std::printf("size():                  %zu..%zu during the run; final %zu = oracle %" PRIu64
              " = iterated %" PRIu64 " = initial %" PRIu64 " + inserts %" PRIu64
              " - erases %" PRIu64 "\n",
              o.min_size, o.max_size, v.final_size, v.expected_size, v.iterated, f.initial,
              v.inserts, v.erases);
  std::printf(
      "leak accounting:         values constructed %" PRId64 ", destroyed %" PRId64
      " (live before destroying both maps %" PRId64 ", after %" PRId64 "); nodes allocated %" PRId64
      ", freed %" PRId64 " (live before %" PRId64 ", after %" PRId64 ")\n",
      values_constructed.load(), values_destroyed.load(), v.live_values_before, v.live_values,
      nodes_allocated.load(), nodes_freed.load(), v.live_nodes_before, v.live_nodes);
  std::printf("grace periods completed: %" PRIu64 " (rcu::GetStats)\n",
              after.grace_periods - before.grace_periods);
  std::printf("callbacks:               queued %" PRIu64 ", invoked %" PRIu64
              "; max pending %" PRIu64 " (limit %zu), backlog waits %" PRIu64 "\n",
              after.callbacks_queued - before.callbacks_queued,
              after.callbacks_invoked - before.callbacks_invoked, o.max_pending,
              rcu::CallbackBacklogLimit(), after.backlog_waits - before.backlog_waits);
}

int Main() {
  const double seconds = stress::StressSeconds();
  num_workers = static_cast<int>(std::max(4u, std::thread::hardware_concurrency()));
  const int num_readers = static_cast<int>(std::max(2u, std::thread::hardware_concurrency() / 2));
  bulk_per_worker = kBulkTotal / static_cast<std::uint64_t>(num_workers);
  rcu::SetDiagnosticHandler(
      [](const rcu::Diagnostic& d) { violations.Report(kDiagnostic, d.message); });
  std::printf(
      "hash_map_stress_test: %g s, %d workers, %d readers + 1 pausing reader, 1 maintenance "
      "thread; "
      "keys: %" PRIu64 " stable, %" PRIu64 " hot, %" PRIu64 " churn, %" PRIu64 " bulk (%" PRIu64
      " per worker)\n",
      seconds, num_workers, num_readers, kStable, kHot, kChurn, kBulkTotal, bulk_per_worker);
  std::fflush(stdout);

  Oracle the_oracle;
  oracle = &the_oracle;
  Fixture fixture = SetUp();
  Crew crew;
  StartCrew(crew, num_readers);
  const Observations observed = Run(fixture, crew, seconds);
  const Verdicts verdicts = Verify(fixture, crew, observed);
  PrintReport(fixture, crew, observed, verdicts);
  return violations.Verdict();
}

}  // namespace

int main() { return Main(); }
