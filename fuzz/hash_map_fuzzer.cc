// Differential fuzzer: rcu::HashMap (containers/hash_map.h) against
// std::unordered_map.
//
// Each input decodes into a sequence of operations on a map with keys from
// 0..255 and values that are unique per write. After every operation its
// results are compared with the model's; after every operation that threw,
// and often otherwise, the whole content is (through Iterate(guard),
// begin()/end() and size()). The operations:
//  - every write: insert (const&, &&), emplace (pair, piecewise), try_emplace,
//    insert_or_assign, insert(first, last), erase(key), erase(iterator),
//    update, compute (every outcome), erase_if, clear, bulk inserts and
//    erases of up to 160 keys (automatic growth and shrinking), reserve,
//    rehash, max_load_factor;
//  - every read: get, find(key), find(guard, key), contains, count;
//  - iterator steps: up to four iterators (from begin(), from find(key))
//    kept open across other operations, stepped and dereferenced one at a
//    time, and erased through. An iteration from begin() must visit every key
//    present throughout it exactly once, visit nothing that was never in the
//    map meanwhile, and revisit a key only if it was erased meanwhile; a
//    lookup iterator keeps pointing at the entry it found;
//  - an explicit rcu::ReadGuard held across operations (writes inside a
//    read-side section);
//  - throwing hooks: before an operation the input may arm a countdown that
//    makes the n-th call of the key's hash, equality or copy constructor,
//    the value's copy constructor, the update/compute function, the erase_if
//    predicate, the map's allocator or the global operator new throw. A
//    single-key operation that throws must leave the map exactly as it was.
//    The hash is one of four (identity, heavy collisions, multiplicative, and
//    aligned identity, as std::hash gives for pointers).
// At the end the map is cleared (every stripe lock taken: a lock left held
// by a throw would hang here, which libFuzzer reports as a timeout) and
// destroyed; after rcu::Barrier() no key, value or node may be alive.
//
// corpus/hash_map/regress-bug* hold a reproducer for each of issue 10's map
// bugs that this fuzzer found at a5b674e (written by hash_map_regressions.py);
// they replay as regression tests.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <set>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

// The negative control (fuzz/BUILD) builds this with
// RCU_BUG_MAP_SKIP_GRACE_PERIOD put back: erased entries freed at once.
#include "containers/hash_map.h"
#include "fuzz/fuzz_input.h"
#include "fuzz/hooks.h"
#include "rcu/call_rcu.h"
#include "rcu/read_guard.h"

namespace {

// --- Types with hooks ---------------------------------------------------------

struct Key {
  explicit Key(int key) : k(key) { ++fuzz::live[fuzz::kKeys]; }
  Key(const Key& other) : k(other.k) {
    fuzz::Hook(fuzz::kCopy);
    ++fuzz::live[fuzz::kKeys];
  }
  Key(Key&& other) noexcept : k(other.k) { ++fuzz::live[fuzz::kKeys]; }
  Key& operator=(const Key&) = delete;
  ~Key() { --fuzz::live[fuzz::kKeys]; }
  int k;
};

struct Value {
  explicit Value(std::uint32_t value) : v(value) { ++fuzz::live[fuzz::kValues]; }
  Value(const Value& other) : v(other.v) {
    fuzz::Hook(fuzz::kCopy);
    ++fuzz::live[fuzz::kValues];
  }
  Value(Value&& other) noexcept : v(other.v) { ++fuzz::live[fuzz::kValues]; }
  Value& operator=(const Value&) = delete;
  ~Value() { --fuzz::live[fuzz::kValues]; }
  std::uint32_t v;
};

struct KeyHash {
  int mode = 0;
  std::size_t operator()(const Key& key) const {
    fuzz::Hook(fuzz::kHash);
    const std::size_t k = static_cast<std::size_t>(key.k);
    switch (mode) {
      case 0:
        return k;  // identity, as std::hash<int>
      case 1:
        return k % 5;  // long collision chains
      case 2:
        return k * 0x9e3779b97f4a7c15;
      default:
        return k << 12;  // aligned, as std::hash of pointers
    }
  }
};

struct KeyEq {
  bool operator()(const Key& a, const Key& b) const {
    fuzz::Hook(fuzz::kEquality);
    return a.k == b.k;
  }
};

// A stateless allocator that can fail, and counts what it hands out.
template <typename T>
struct FailingAllocator {
  using value_type = T;
  using is_always_equal = std::true_type;
  FailingAllocator() = default;
  template <typename U>
  FailingAllocator(const FailingAllocator<U>&) noexcept {}  // NOLINT: rebinding
  T* allocate(std::size_t n) {
    fuzz::Hook(fuzz::kAllocator);
    T* p = static_cast<T*>(::operator new(n * sizeof(T)));
    fuzz::live[fuzz::kNodes] += static_cast<long>(n);
    return p;
  }
  void deallocate(T* p, std::size_t n) noexcept {
    fuzz::live[fuzz::kNodes] -= static_cast<long>(n);
    ::operator delete(p);
  }
  template <typename U>
  bool operator==(const FailingAllocator<U>&) const noexcept {
    return true;
  }
  template <typename U>
  bool operator!=(const FailingAllocator<U>&) const noexcept {
    return false;
  }
};

using Map = rcu::HashMap<Key, Value, KeyHash, KeyEq, FailingAllocator<std::pair<const Key, Value>>>;
using Entry = std::pair<int, std::uint32_t>;

constexpr int kKeySpace = 256;
constexpr int kSlots = 4;

// --- The fuzzer ------------------------------------------------------------------

// An iterator kept open across operations, with what the model needs to
// judge it.
struct Slot {
  bool open = false;
  bool lookup = false;  // from find(key): points at one entry
  Map::const_iterator it;
  Entry found{};  // a lookup iterator's entry
  // For iterations from begin():
  std::map<int, std::uint32_t> at_start;  // the content when it began
  std::set<int> disturbed;                // keys erased since
  std::set<Entry> ever;                   // every entry present since
  std::set<Entry> visited;
  std::map<int, int> visits;  // by key
};

class Fuzzer {
 public:
  // RCU_FUZZ_TRACE=1 prints each operation as it is decoded (to read a
  // reproducer).
  explicit Fuzzer(fuzz::Input& in) : in_(in), trace_(std::getenv("RCU_FUZZ_TRACE") != nullptr) {}

  void Run() {
    const std::uint8_t config = in_.Byte();
    KeyHash hash;
    hash.mode = config & 3;
    map_.emplace((config >> 2) & 1 ? std::size_t{200} : 0, hash);
    for (int steps = 0; steps < 3000 && !in_.empty(); ++steps) Step();
    for (Slot& slot : slots_) Close(slot);
    guard_.reset();
    CompareAll("at the end");
    map_->clear();  // takes every stripe lock: hangs if one was left locked
    FUZZ_CHECK(map_->size() == 0 && map_->empty(), "clear() left %zu entries", map_->size());
    map_.reset();
  }

 private:
  enum OpKind {
    kInsert,
    kErase,
    kRead,
    kUpdate,
    kCompute,
    kEraseIf,
    kClear,
    kResize,
    kBulkInsert,
    kBulkErase,
    kOpenBegin,
    kOpenFind,
    kStep,
    kCloseSlot,
    kEraseAtSlot,
    kCompare,
    kGuard,
    kMaxLoadFactor,
    kInsertRange,
    kBarrier,
    kNumOps
  };

  // Runs one call into the map with the operation's armed hook, if any, so
  // that the model's own allocations and checks never fail.
  template <typename F>
  decltype(auto) Call(F&& f) {
    struct Disarmer {
      Fuzzer* self;
      ~Disarmer() { self->fired_ |= fuzz::Disarm(); }
    } disarmer{this};
    fuzz::Arm(std::exchange(arm_count_, 0), arm_kinds_, arm_persistent_);
    return std::forward<F>(f)();
  }

  static constexpr const char* kOpNames[kNumOps] = {
      "insert",   "erase",       "read",       "update",      "compute",      "erase_if", "clear",
      "resize",   "bulk insert", "bulk erase", "open begin",  "open find",    "step",     "close",
      "erase at", "compare",     "guard",      "load factor", "insert range", "barrier"};

  bool InSection() const {
    if (guard_.has_value()) return true;
    for (const Slot& slot : slots_) {
      if (slot.open) return true;
    }
    return false;
  }

  std::uint32_t Fresh() { return ++last_value_; }
  int PickKey() { return in_.Byte() % kKeySpace; }

  // --- The model, and the iterations that watch it ---

  void ModelSet(int k, std::uint32_t v) {
    model_[k] = v;
    for (Slot& slot : slots_) {
      if (slot.open) slot.ever.insert({k, v});
    }
  }
  void ModelErase(int k) {
    if (model_.erase(k) == 0) return;
    for (Slot& slot : slots_) {
      if (slot.open) slot.disturbed.insert(k);
    }
  }
  std::optional<std::uint32_t> ModelGet(int k) const {
    auto it = model_.find(k);
    if (it == model_.end()) return std::nullopt;
    return it->second;
  }

  void CompareAll(const char* when) {
    std::map<int, std::uint32_t> expected(model_.begin(), model_.end());
    std::map<int, std::uint32_t> seen;
    {
      rcu::ReadGuard guard;
      for (const auto& [k, v] : map_->Iterate(guard)) {
        FUZZ_CHECK(seen.emplace(k.k, v.v).second, "%s: Iterate() visited key %d twice", when, k.k);
      }
    }
    FUZZ_CHECK(seen == expected, "%s: the map holds %zu entries, the model %zu, and they differ",
               when, seen.size(), expected.size());
    FUZZ_CHECK(map_->size() == model_.size(), "%s: size() %zu, model %zu", when, map_->size(),
               model_.size());
    FUZZ_CHECK(map_->empty() == model_.empty(), "%s: empty()", when);
  }

  // A full pass with the self-guarding iterators, as standard algorithms
  // take them.
  void CompareWithAlgorithms() {
    const auto copy =
        Call([&] { return std::vector<std::pair<const Key, Value>>(map_->begin(), map_->end()); });
    FUZZ_CHECK(copy.size() == model_.size(), "vector(begin(), end()) has %zu entries, model %zu",
               copy.size(), model_.size());
    for (const auto& [k, v] : copy) {
      FUZZ_CHECK(ModelGet(k.k) == v.v, "vector(begin(), end()) has key %d with a wrong value", k.k);
    }
    FUZZ_CHECK(static_cast<std::size_t>(std::distance(map_->begin(), map_->end())) == model_.size(),
               "std::distance(begin(), end())");
  }

  // --- Operations ---

  void Step() {
    const OpKind op = static_cast<OpKind>(in_.Below(kNumOps));
    const std::uint8_t variant = in_.Byte();
    const std::uint8_t arm = in_.Byte();
    // One operation in four runs with a hook armed: the n-th call fails.
    std::uint32_t kinds = 0, n = 0;
    if (arm < 64) {
      n = 1 + (arm & 7);
      const std::uint32_t choice = arm >> 3;  // 0..7
      kinds = choice < 2   ? fuzz::kAnyHook
              : choice < 4 ? fuzz::kAllocation
              : choice < 6 ? fuzz::kUserCode
                           : fuzz::kPredicate;
    }
    arm_count_ = kinds == 0 ? 0 : n;
    arm_kinds_ = kinds;
    arm_persistent_ = (variant & 0x80) != 0 && (kinds & fuzz::kUserCode) == 0;
    fired_ = false;
    const bool threw = fuzz::ThrewInjected([&] { Dispatch(op, variant); });
    arm_count_ = 0;
    if (trace_) {
      std::fprintf(stderr, "fuzz: %-12s variant %3u, hook %u of kinds %#x%s: %s; %zu entries\n",
                   kOpNames[op], variant, kinds == 0 ? 0 : n, kinds,
                   InSection() ? ", in a section" : "", threw ? "threw" : "ok", model_.size());
    }
    FUZZ_CHECK(!threw || fired_, "an operation threw without an injected failure");
    if (threw) {
      Recover(op);
      CompareAll("after a throw");
    } else if (++since_compare_ >= 8) {
      since_compare_ = 0;
      CompareAll("after an operation");
    }
  }

  void Dispatch(OpKind op, std::uint8_t variant) {
    pending_ = {};
    switch (op) {
      case kInsert:
        return Insert(variant);
      case kErase:
        return Erase();
      case kRead:
        return Read(variant);
      case kUpdate:
        return Update(variant);
      case kCompute:
        return Compute(variant);
      case kEraseIf:
        return EraseIf(variant);
      case kClear:
        Call([&] { map_->clear(); });
        for (const auto& [k, v] : std::map<int, std::uint32_t>(model_.begin(), model_.end())) {
          ModelErase(k);
        }
        return;
      case kResize:
        return Resize(variant);
      case kBulkInsert:
      case kBulkErase:
        return Bulk(op == kBulkInsert, variant);
      case kOpenBegin:
      case kOpenFind:
        return Open(slots_[variant % kSlots], op == kOpenFind);
      case kStep:
        return StepSlot(slots_[variant % kSlots], 1 + (variant >> 2) % 8);
      case kCloseSlot:
        return Close(slots_[variant % kSlots]);
      case kEraseAtSlot:
        return EraseAtSlot(slots_[variant % kSlots]);
      case kCompare:
        CompareAll("on request");
        return CompareWithAlgorithms();
      case kGuard:
        if (guard_.has_value()) {
          guard_.reset();
        } else {
          guard_.emplace();
        }
        return;
      case kMaxLoadFactor: {
        const float factors[] = {0.25f, 0.5f, 1.0f, 2.0f, 4.0f};
        map_->max_load_factor(factors[variant % 5]);
        return;
      }
      case kInsertRange:
        return InsertRange(variant);
      case kBarrier:  // reclaims what was retired, so stale pointers hit freed memory
        if (!InSection()) rcu::Barrier();
        return;
      case kNumOps:
        break;
    }
  }

  // After a throw: what may have changed. Single-key operations must have
  // changed nothing; erase_if may have erased entries its predicate chose.
  void Recover(OpKind op) {
    if (op == kEraseIf) {
      std::map<int, std::uint32_t> now;
      {
        rcu::ReadGuard guard;
        for (const auto& [k, v] : map_->Iterate(guard)) now.emplace(k.k, v.v);
      }
      for (const auto& [k, v] : std::map<int, std::uint32_t>(model_.begin(), model_.end())) {
        auto it = now.find(k);
        if (it == now.end()) {
          FUZZ_CHECK(pending_.chosen.count(k) != 0,
                     "erase_if threw and key %d, which its predicate did not choose, is gone", k);
          ModelErase(k);
        } else {
          FUZZ_CHECK(it->second == v, "erase_if threw and key %d changed value", k);
        }
      }
      FUZZ_CHECK(now.size() <= model_.size(), "erase_if threw and added entries");
    }
    if (op == kInsertRange) {
      // Each element inserted before the throw is in; none after it.
      std::map<int, std::uint32_t> now;
      {
        rcu::ReadGuard guard;
        for (const auto& [k, v] : map_->Iterate(guard)) now.emplace(k.k, v.v);
      }
      for (const Entry& e : pending_.batch) {
        auto it = now.find(e.first);
        if (ModelGet(e.first).has_value() || it == now.end() || it->second != e.second) continue;
        ModelSet(e.first, e.second);
      }
    }
  }

  void CheckInsertResult(int k, std::uint32_t v, const std::pair<Map::const_iterator, bool>& r,
                         bool assigns) {
    const std::optional<std::uint32_t> before = ModelGet(k);
    FUZZ_CHECK(r.first != map_->end(), "insert returned end()");
    FUZZ_CHECK(r.first->first.k == k, "insert's iterator points to key %d, not %d",
               r.first->first.k, k);
    FUZZ_CHECK(r.second == !before.has_value(), "insert of key %d says inserted=%d", k, r.second);
    if (assigns || !before.has_value()) {
      FUZZ_CHECK(r.first->second.v == v, "insert's iterator has value %u, not %u",
                 r.first->second.v, v);
      ModelSet(k, v);
    } else {
      FUZZ_CHECK(r.first->second.v == *before, "insert's iterator has value %u, the key %u",
                 r.first->second.v, *before);
    }
  }

  void Insert(std::uint8_t variant) {
    const int k = PickKey();
    const std::uint32_t v = Fresh();
    std::pair<Map::const_iterator, bool> r;
    switch (variant % 8) {
      case 0: {
        const std::pair<const Key, Value> kv{Key(k), Value(v)};
        r = Call([&] { return map_->insert(kv); });
        break;
      }
      case 1:
        r = Call([&] { return map_->insert(std::pair<const Key, Value>(Key(k), Value(v))); });
        break;
      case 2:
        r = Call([&] { return map_->emplace(Key(k), Value(v)); });
        break;
      case 3:
        r = Call([&] {
          return map_->emplace(std::piecewise_construct, std::forward_as_tuple(k),
                               std::forward_as_tuple(v));
        });
        break;
      case 4: {
        const Key key(k);
        r = Call([&] { return map_->try_emplace(key, v); });
        break;
      }
      case 5:
        r = Call([&] { return map_->try_emplace(Key(k), v); });
        break;
      case 6: {
        const Key key(k);
        r = Call([&] { return map_->insert_or_assign(key, Value(v)); });
        break;
      }
      default:
        r = Call([&] { return map_->insert_or_assign(Key(k), Value(v)); });
        break;
    }
    CheckInsertResult(k, v, r, variant % 8 >= 6);
  }

  void InsertRange(std::uint8_t variant) {
    std::vector<std::pair<const Key, Value>> batch;
    const int count = 1 + variant % 4;
    for (int i = 0; i < count; ++i) batch.emplace_back(Key(PickKey()), Value(Fresh()));
    for (const auto& [k, v] : batch) pending_.batch.emplace_back(k.k, v.v);
    Call([&] { map_->insert(batch.begin(), batch.end()); });  // may throw part-way: Recover()
    for (const auto& [k, v] : batch) {
      if (!ModelGet(k.k).has_value()) ModelSet(k.k, v.v);
    }
  }

  void Erase() {
    const int k = PickKey();
    const std::size_t n = Call([&] { return map_->erase(Key(k)); });
    FUZZ_CHECK(n == model_.count(k), "erase(%d) returned %zu", k, n);
    ModelErase(k);
  }

  void Read(std::uint8_t variant) {
    const int k = PickKey();
    const std::optional<std::uint32_t> want = ModelGet(k);
    switch (variant % 5) {
      case 0: {
        const std::optional<Value> got = Call([&] { return map_->get(Key(k)); });
        FUZZ_CHECK(got.has_value() == want.has_value() && (!got || got->v == *want), "get(%d)", k);
        break;
      }
      case 1: {
        rcu::ReadGuard guard;
        auto it = Call([&] { return map_->find(guard, Key(k)); });
        FUZZ_CHECK((it != map_->end()) == want.has_value() &&
                       (it == map_->end() || (it->first.k == k && it->second.v == *want)),
                   "find(guard, %d)", k);
        break;
      }
      case 2: {
        auto it = Call([&] { return map_->find(Key(k)); });
        FUZZ_CHECK((it != map_->end()) == want.has_value() &&
                       (it == map_->end() || (it->first.k == k && it->second.v == *want)),
                   "find(%d)", k);
        break;
      }
      case 3:
        FUZZ_CHECK(Call([&] { return map_->contains(Key(k)); }) == want.has_value(), "contains(%d)",
                   k);
        break;
      default:
        FUZZ_CHECK(Call([&] { return map_->count(Key(k)); }) == (want ? 1u : 0u), "count(%d)", k);
        break;
    }
  }

  void Update(std::uint8_t) {
    const int k = PickKey();
    const std::uint32_t v = Fresh();
    const std::optional<std::uint32_t> before = ModelGet(k);
    int calls = 0;
    const bool updated = Call([&] {
      return map_->update(Key(k), [&](const Value& old) {
        ++calls;
        FUZZ_CHECK(before && old.v == *before, "update(%d) was given value %u", k, old.v);
        fuzz::Hook(fuzz::kPredicate);
        return Value(v);
      });
    });
    FUZZ_CHECK(updated == before.has_value() && calls == (updated ? 1 : 0),
               "update(%d) returned %d after %d calls", k, updated, calls);
    if (updated) ModelSet(k, v);
  }

  void Compute(std::uint8_t variant) {
    const int k = PickKey();
    const std::uint32_t v = Fresh();
    const std::optional<std::uint32_t> before = ModelGet(k);
    const bool erase = variant % 3 == 0;
    int calls = 0;
    const rcu::ComputeResult result = Call([&] {
      return map_->compute(Key(k), [&](const Value* old) -> std::optional<Value> {
        ++calls;
        FUZZ_CHECK((old != nullptr) == before.has_value() && (!old || old->v == *before),
                   "compute(%d) was given the wrong value", k);
        fuzz::Hook(fuzz::kPredicate);
        if (erase) return std::nullopt;
        return Value(v);
      });
    });
    const rcu::ComputeResult expected =
        before ? (erase ? rcu::ComputeResult::kErased : rcu::ComputeResult::kUpdated)
               : (erase ? rcu::ComputeResult::kUnchanged : rcu::ComputeResult::kInserted);
    FUZZ_CHECK(result == expected && calls == 1, "compute(%d): result %d, %d calls", k,
               static_cast<int>(result), calls);
    if (erase) {
      ModelErase(k);
    } else {
      ModelSet(k, v);
    }
  }

  void EraseIf(std::uint8_t variant) {
    const std::uint8_t mask = in_.Byte();
    std::size_t chosen = 0;
    const std::size_t n = Call([&] {
      return map_->erase_if([&](const std::pair<const Key, Value>& kv) {
        fuzz::Hook(fuzz::kPredicate);
        const bool erase = ((static_cast<unsigned>(kv.first.k) ^ variant) & mask) == 0;
        if (erase) {
          ++chosen;
          pending_.chosen.insert(kv.first.k);
        }
        return erase;
      });
    });
    FUZZ_CHECK(n == chosen, "erase_if returned %zu, its predicate chose %zu", n, chosen);
    for (const auto& [k, v] : std::map<int, std::uint32_t>(model_.begin(), model_.end())) {
      if (((static_cast<unsigned>(k) ^ variant) & mask) == 0) {
        FUZZ_CHECK(pending_.chosen.count(k) != 0, "erase_if never asked about key %d", k);
        ModelErase(k);
      }
    }
  }

  void Resize(std::uint8_t variant) {
    const std::size_t n = static_cast<std::size_t>(in_.Byte()) * (variant & 1 ? 4 : 1);
    const std::size_t before = map_->bucket_count();
    if (variant & 2) {
      Call([&] { map_->reserve(n); });
      FUZZ_CHECK(map_->bucket_count() >= before, "reserve() shrank the table");
    } else {
      Call([&] { map_->rehash(n); });
    }
  }

  // Many keys at once, to make the map grow and shrink. Unarmed: a throw in
  // the middle would leave the model unsure which ones happened.
  void Bulk(bool insert, std::uint8_t variant) {
    arm_count_ = 0;
    const int start = PickKey();
    const int count = 1 + variant % 160;
    for (int i = 0; i < count; ++i) {
      const int k = (start + i) % kKeySpace;
      if (insert) {
        const std::uint32_t v = Fresh();
        CheckInsertResult(k, v, map_->try_emplace(Key(k), v), false);
      } else {
        FUZZ_CHECK(map_->erase(Key(k)) == model_.count(k), "bulk erase(%d)", k);
        ModelErase(k);
      }
    }
  }

  // --- Iterators kept open ---

  void Open(Slot& slot, bool lookup) {
    Close(slot);
    if (lookup) {
      const int k = PickKey();
      Map::const_iterator it = Call([&] { return map_->find(Key(k)); });
      const std::optional<std::uint32_t> want = ModelGet(k);
      FUZZ_CHECK((it != map_->end()) == want.has_value(), "find(%d) for a slot", k);
      if (it == map_->end()) return;
      slot.lookup = true;
      slot.found = {k, *want};
      slot.it = std::move(it);
    } else {
      slot.it = Call([&] { return map_->begin(); });
      slot.lookup = false;
      slot.at_start = std::map<int, std::uint32_t>(model_.begin(), model_.end());
    }
    slot.ever = std::set<Entry>(model_.begin(), model_.end());
    slot.open = true;
  }

  void Close(Slot& slot) {
    slot = Slot();  // leaves the iterator's read-side section
  }

  void StepSlot(Slot& slot, int steps) {
    if (!slot.open) return;
    for (int i = 0; i < steps && slot.open; ++i) {
      if (slot.lookup) {
        FUZZ_CHECK(slot.it->first.k == slot.found.first && slot.it->second.v == slot.found.second,
                   "a lookup iterator's entry changed under it");
        slot.lookup = false;    // an iteration from here on, which must visit
        slot.at_start.clear();  // only entries present since find(), once each
        slot.visited = {slot.found};
        slot.visits = {{slot.found.first, 1}};
        ++slot.it;
        continue;
      }
      if (slot.it == map_->end()) {
        for (const auto& [k, v] : slot.at_start) {
          if (slot.disturbed.count(k) != 0) continue;
          FUZZ_CHECK(slot.visits[k] == 1,
                     "an iteration visited key %d, present throughout, %d times", k,
                     slot.visits[k]);
        }
        Close(slot);
        return;
      }
      Visit(slot);
      ++slot.it;
    }
  }

  // Checks the entry an iteration from begin() stands on, counted as visited.
  void Visit(Slot& slot) {
    const Entry e{slot.it->first.k, slot.it->second.v};
    FUZZ_CHECK(slot.ever.count(e) != 0,
               "an iteration visited key %d value %u, never in the map while it ran", e.first,
               e.second);
    FUZZ_CHECK(slot.visited.insert(e).second, "an iteration visited key %d value %u twice", e.first,
               e.second);
    FUZZ_CHECK(++slot.visits[e.first] == 1 || slot.disturbed.count(e.first) != 0,
               "an iteration visited key %d again, though it was never erased", e.first);
  }

  // erase(iterator) at an open iterator. An iteration from begin() counts
  // the entry as visited and goes on to the next (erase-while-iterating).
  void EraseAtSlot(Slot& slot) {
    if (!slot.open || slot.it == map_->end()) return;
    const Entry e{slot.it->first.k, slot.it->second.v};
    const bool current = ModelGet(e.first) == e.second;
    if (!slot.lookup) Visit(slot);
    AfterErase(slot, e, current, Call([&] { return map_->erase(slot.it); }));
    if (current) ModelErase(e.first);
    if (slot.lookup) Close(slot);
  }

  // erase(const_iterator) returns a count today; the drop-in API returns the
  // next position. Either is checked.
  template <typename R>
  void AfterErase(Slot& slot, const Entry& e, bool current, R&& result) {
    if constexpr (std::is_integral_v<std::decay_t<R>>) {
      FUZZ_CHECK(result == (current ? 1u : 0u), "erase(iterator) at key %d returned %zu", e.first,
                 static_cast<std::size_t>(result));
      if (!slot.lookup) ++slot.it;  // a removed entry still leads on
    } else {
      slot.it = std::forward<R>(result);  // the next position
    }
  }

  // What the operation in progress did, for Recover().
  struct Pending {
    std::set<int> chosen;      // keys erase_if's predicate chose
    std::vector<Entry> batch;  // what insert(first, last) was given
  };

  fuzz::Input& in_;
  const bool trace_;
  std::optional<Map> map_;
  std::unordered_map<int, std::uint32_t> model_;
  Slot slots_[kSlots];
  std::optional<rcu::ReadGuard> guard_;
  Pending pending_;
  std::uint32_t last_value_ = 0;
  int since_compare_ = 0;
  // The hook armed for the operation in progress, used by its first Call().
  std::uint32_t arm_count_ = 0;
  std::uint32_t arm_kinds_ = 0;
  bool arm_persistent_ = false;  // every allocation after the n-th fails too
  bool fired_ = false;
};

}  // namespace

// Runs the library's lazy set-up (this thread's registration, its retire
// buffer, the callback thread) before any hook is armed: registration under
// allocation failure is a separate bug of the RCU core (it aborts in liburcu
// on the thread's next read-side section), which would mask the map's.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  {
    rcu::ReadGuard guard;
  }
  rcu::Retire(new int(0));
  rcu::Barrier();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  {
    fuzz::Input in(data, size);
    Fuzzer(in).Run();
  }
  rcu::Barrier();  // every retired entry is freed now
  for (fuzz::Counted c : {fuzz::kKeys, fuzz::kValues, fuzz::kNodes}) {
    FUZZ_CHECK(fuzz::live[c].load() == 0, "leak: %ld %s alive after the map and rcu::Barrier()",
               fuzz::live[c].load(),
               c == fuzz::kKeys     ? "keys"
               : c == fuzz::kValues ? "values"
                                    : "nodes");
  }
  return 0;
}
