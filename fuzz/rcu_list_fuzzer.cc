// Differential fuzzer: rcu::RcuList and rcu::ExternallyLockedRcuList
// (containers/rcu_list.h) against std::list.
//
// The first input byte picks the list (RcuList, through its own methods or
// through Update()'s Writer at random, or an ExternallyLockedRcuList under an
// rcu::Mutex); the rest decodes into operations, each checked against a
// std::list of (id, payload) elements:
//  - push_front/push_back (const&, &&, emplace), insert_after and
//    insert_before (the latter also at end()), erase, replace (const&, &&,
//    emplace_replace), remove_if, remove, clear, size/empty;
//  - compound updates: several operations under one hold of the writers'
//    lock (Update(), or your lock held across calls), including writer
//    iteration that must match the model exactly and an erase-while-
//    iterating scan;
//  - cursors: up to four iterators found under a read guard and kept across
//    writes, stepped one element at a time (a traversal from begin() must
//    meet the lists' guarantee: fuzz/list_traversal.h), and used as
//    positions: a position whose element was removed meanwhile must make the
//    call return false and construct nothing;
//  - read-side sections ended and begun, rcu::Barrier() between them;
//  - throwing hooks: the element's copy constructor, operator new (the
//    node) and the remove_if predicate may throw on the n-th call. A single
//    operation that throws leaves the list unchanged; remove_if keeps what it
//    removed before the throw; a compound update keeps the operations before
//    the one that threw (not a transaction).
// At the end the list is destroyed; after rcu::Barrier() no element may be
// alive.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <list>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "containers/rcu_list.h"
#include "fuzz/fuzz_input.h"
#include "fuzz/hooks.h"
#include "fuzz/list_traversal.h"
#include "rcu/call_rcu.h"
#include "rcu/mutex.h"
#include "rcu/read_guard.h"

namespace {

long constructed = 0;  // Items constructed so far, on the fuzzing thread

struct Item {
  Item(int i, std::uint32_t p) : id(i), payload(p) {
    ++fuzz::live[fuzz::kItems];
    ++constructed;
  }
  Item(const Item& other) : id(other.id), payload(other.payload) {
    fuzz::Hook(fuzz::kCopy);
    ++fuzz::live[fuzz::kItems];
    ++constructed;
  }
  Item(Item&& other) noexcept : id(other.id), payload(other.payload) {
    ++fuzz::live[fuzz::kItems];
    ++constructed;
  }
  Item& operator=(const Item&) = delete;
  ~Item() { --fuzz::live[fuzz::kItems]; }
  bool operator==(const Item& other) const { return payload == other.payload; }

  int id;
  std::uint32_t payload;
};

using List = rcu::RcuList<Item>;
using ExternalList = rcu::ExternallyLockedRcuList<Item>;
using Pos = List::const_iterator;
static_assert(std::is_same_v<Pos, ExternalList::const_iterator>);

struct Elem {
  int id;
  std::uint32_t payload;
};

constexpr int kCursors = 4;

// RcuList's own writer methods, in the Writer's spelling.
struct Direct {
  List& l;
  void push_front(const Item& v) { l.push_front(v); }
  void push_front(Item&& v) { l.push_front(std::move(v)); }
  template <typename... A>
  void emplace_front(A&&... a) {
    l.emplace_front(std::forward<A>(a)...);
  }
  void push_back(const Item& v) { l.push_back(v); }
  void push_back(Item&& v) { l.push_back(std::move(v)); }
  template <typename... A>
  void emplace_back(A&&... a) {
    l.emplace_back(std::forward<A>(a)...);
  }
  bool insert_after(Pos p, const Item& v) { return l.insert_after(p, v); }
  bool insert_after(Pos p, Item&& v) { return l.insert_after(p, std::move(v)); }
  template <typename... A>
  bool emplace_after(Pos p, A&&... a) {
    return l.emplace_after(p, std::forward<A>(a)...);
  }
  bool insert_before(Pos p, const Item& v) { return l.insert_before(p, v); }
  bool insert_before(Pos p, Item&& v) { return l.insert_before(p, std::move(v)); }
  template <typename... A>
  bool emplace_before(Pos p, A&&... a) {
    return l.emplace_before(p, std::forward<A>(a)...);
  }
  bool erase(Pos p) { return l.erase(p); }
  bool replace(Pos p, const Item& v) { return l.replace(p, v); }
  bool replace(Pos p, Item&& v) { return l.replace(p, std::move(v)); }
  template <typename... A>
  bool emplace_replace(Pos p, A&&... a) {
    return l.emplace_replace(p, std::forward<A>(a)...);
  }
  template <typename P>
  std::size_t remove_if(P p) {
    return l.remove_if(std::move(p));
  }
  std::size_t remove(const Item& v) { return l.remove(v); }
  std::size_t clear() { return l.clear(); }
  std::size_t size() const { return l.size(); }
};

// ExternallyLockedRcuList's methods, with the lock (held by the caller)
// passed as evidence.
struct External {
  ExternalList& l;
  rcu::Mutex& mu;
#define EXTERNAL_METHOD ABSL_NO_THREAD_SAFETY_ANALYSIS  // the caller holds mu
  void push_front(const Item& v) EXTERNAL_METHOD { l.push_front(mu, v); }
  void push_front(Item&& v) EXTERNAL_METHOD { l.push_front(mu, std::move(v)); }
  template <typename... A>
  void emplace_front(A&&... a) EXTERNAL_METHOD {
    l.emplace_front(mu, std::forward<A>(a)...);
  }
  void push_back(const Item& v) EXTERNAL_METHOD { l.push_back(mu, v); }
  void push_back(Item&& v) EXTERNAL_METHOD { l.push_back(mu, std::move(v)); }
  template <typename... A>
  void emplace_back(A&&... a) EXTERNAL_METHOD {
    l.emplace_back(mu, std::forward<A>(a)...);
  }
  bool insert_after(Pos p, const Item& v) EXTERNAL_METHOD { return l.insert_after(mu, p, v); }
  bool insert_after(Pos p, Item&& v) EXTERNAL_METHOD { return l.insert_after(mu, p, std::move(v)); }
  template <typename... A>
  bool emplace_after(Pos p, A&&... a) EXTERNAL_METHOD {
    return l.emplace_after(mu, p, std::forward<A>(a)...);
  }
  bool insert_before(Pos p, const Item& v) EXTERNAL_METHOD { return l.insert_before(mu, p, v); }
  bool insert_before(Pos p, Item&& v) EXTERNAL_METHOD {
    return l.insert_before(mu, p, std::move(v));
  }
  template <typename... A>
  bool emplace_before(Pos p, A&&... a) EXTERNAL_METHOD {
    return l.emplace_before(mu, p, std::forward<A>(a)...);
  }
  bool erase(Pos p) EXTERNAL_METHOD { return l.erase(mu, p); }
  bool replace(Pos p, const Item& v) EXTERNAL_METHOD { return l.replace(mu, p, v); }
  bool replace(Pos p, Item&& v) EXTERNAL_METHOD { return l.replace(mu, p, std::move(v)); }
  template <typename... A>
  bool emplace_replace(Pos p, A&&... a) EXTERNAL_METHOD {
    return l.emplace_replace(mu, p, std::forward<A>(a)...);
  }
  template <typename P>
  std::size_t remove_if(P p) EXTERNAL_METHOD {
    return l.remove_if(mu, std::move(p));
  }
  std::size_t remove(const Item& v) EXTERNAL_METHOD { return l.remove(mu, v); }
  std::size_t clear() EXTERNAL_METHOD { return l.clear(mu); }
  std::size_t size() const { return l.size(); }
  auto begin() EXTERNAL_METHOD { return l.Protected(mu).begin(); }
  auto end() EXTERNAL_METHOD { return l.Protected(mu).end(); }
#undef EXTERNAL_METHOD
};

struct Cursor {
  bool open = false;
  Pos it;
  bool traversing = false;  // walked from begin() only: Traversal applies
  fuzz::Traversal traversal;
};

class Fuzzer {
 public:
  explicit Fuzzer(fuzz::Input& in) : in_(in), trace_(std::getenv("RCU_FUZZ_TRACE") != nullptr) {}

  void Run() {
    kind_ = in_.Byte() % 3;  // 0: RcuList direct/Update, 1: the same, 2: external
    for (int steps = 0; steps < 2000 && !in_.empty(); ++steps) Step();
    CloseAll();
    CompareAll("at the end");
  }

 private:
  enum OpKind {
    kPushFront,
    kPushBack,
    kInsertAfter,
    kInsertBefore,
    kErase,
    kReplace,
    kRemoveIf,
    kRemove,
    kClear,
    kCompound,
    kOpenCursor,
    kStepCursor,
    kCloseCursor,
    kCompare,
    kSection,
    kBarrier,
    kNumOps
  };
  static constexpr const char* kOpNames[kNumOps] = {
      "push_front",   "push_back", "insert_after", "insert_before", "erase",       "replace",
      "remove_if",    "remove",    "clear",        "compound",      "open cursor", "step cursor",
      "close cursor", "compare",   "section",      "barrier"};

  // --- The model ---

  std::list<Elem>::iterator Find(int id) {
    for (auto it = model_.begin(); it != model_.end(); ++it) {
      if (it->id == id) return it;
    }
    return model_.end();
  }
  void Linked(int id) {
    for (Cursor& c : cursors_) {
      if (c.open && c.traversing) c.traversal.Linked(id);
    }
  }
  void Unlinked(int id) {
    for (Cursor& c : cursors_) {
      if (c.open && c.traversing) c.traversal.Unlinked(id);
    }
  }
  void ModelInsert(std::list<Elem>::iterator before, const Item& v) {
    fuzz::HooksPaused paused;
    model_.insert(before, {v.id, v.payload});
    Linked(v.id);
  }
  void ModelErase(std::list<Elem>::iterator at) {
    fuzz::HooksPaused paused;
    Unlinked(at->id);
    model_.erase(at);
  }
  std::vector<int> Ids() const {
    std::vector<int> ids;
    for (const Elem& e : model_) ids.push_back(e.id);
    return ids;
  }

  void CompareAll(const char* when) {
    std::vector<int> seen;
    {
      rcu::ReadGuard guard;
      for (const Item& item : list_.Iterate(guard)) seen.push_back(item.id);
    }
    if (kind_ == 2) {
      rcu::ReadGuard guard;
      std::vector<int> external;
      for (const Item& item : external_.Iterate(guard)) external.push_back(item.id);
      seen.insert(seen.end(), external.begin(), external.end());  // one is empty
    }
    FUZZ_CHECK(seen == Ids(), "%s: the list holds %zu elements, the model %zu, and they differ",
               when, seen.size(), model_.size());
    const std::size_t size = kind_ == 2 ? external_.size() : list_.size();
    FUZZ_CHECK(size == model_.size(), "%s: size() %zu, model %zu", when, size, model_.size());
  }

  // --- Operations ---

  Item NewItem() {
    fuzz::HooksPaused paused;
    return Item(++last_id_, in_.Byte());
  }

  void Step() {
    const OpKind op = static_cast<OpKind>(in_.Below(kNumOps));
    const std::uint8_t variant = in_.Byte();
    const std::uint8_t arm = in_.Byte();
    std::uint32_t kinds = 0, n = 0;
    if (arm < 64) {
      n = 1 + (arm & 7);
      kinds = (arm >> 3) < 3 ? fuzz::kAnyHook : (arm >> 3) < 5 ? fuzz::kCopy : fuzz::kPredicate;
    }
    fuzz::Arm(kinds == 0 ? 0 : n, kinds);
    const bool threw = fuzz::ThrewInjected([&] { Dispatch(op, variant); });
    const bool fired = fuzz::Disarm();
    if (trace_) {
      std::fprintf(stderr, "fuzz: %-13s variant %3u, hook %u of kinds %#x: %s; %zu elements\n",
                   kOpNames[op], variant, n, kinds, threw ? "threw" : "ok", model_.size());
    }
    FUZZ_CHECK(!threw || fired, "an operation threw without an injected failure");
    if (threw || ++since_compare_ >= 8) {
      since_compare_ = 0;
      CompareAll(threw ? "after a throw" : "after an operation");
    }
  }

  void Dispatch(OpKind op, std::uint8_t variant) {
    if (op >= kOpenCursor) {
      // Not a list operation: the model's bookkeeping, which must not fail.
      fuzz::HooksPaused paused;
      return Bookkeeping(op, variant);
    }
    if (op == kCompound) return Compound(variant);
    // A single operation, through one of the writers' spellings.
    if (kind_ == 2) {
      rcu::MutexLock lock(mu_);
      External w{external_, mu_};
      return Single(w, op, variant);
    }
    if (variant & 0x80) {
      Direct w{list_};
      return Single(w, op, variant);
    }
    list_.Update([&](List::Writer& w) { Single(w, op, variant); });
  }

  void Bookkeeping(OpKind op, std::uint8_t variant) {
    switch (op) {
      case kOpenCursor:
        return OpenCursor(cursors_[variant % kCursors], variant / kCursors);
      case kStepCursor:
        return StepCursor(cursors_[variant % kCursors], 1 + variant / kCursors % 8);
      case kCloseCursor:
        cursors_[variant % kCursors] = Cursor();
        return;
      case kCompare:
        return CompareAll("on request");
      case kSection:
        if (guard_.has_value()) {
          CloseAll();
        } else {
          guard_.emplace();
        }
        return;
      case kBarrier:
        if (!guard_.has_value()) rcu::Barrier();
        return;
      default:
        return;
    }
  }

  // Several operations under one hold of the lock. Not a transaction: what
  // the ones before a throw did stays.
  void Compound(std::uint8_t variant) {
    const int count = 1 + variant % 6;
    std::vector<std::pair<OpKind, std::uint8_t>> ops;
    {
      fuzz::HooksPaused paused;
      for (int i = 0; i < count; ++i) {
        const std::uint8_t v = in_.Byte();
        ops.emplace_back(static_cast<OpKind>(in_.Below(kClear + 3)), v);
      }
    }
    auto run = [&](auto& w) {
      for (const auto& [op, v] : ops) {
        if (op == kClear + 1) {
          WriterScan(w);
        } else if (op == kClear + 2) {
          EraseWhileIterating(w, v);
        } else {
          Single(w, op, v);
        }
      }
    };
    if (kind_ == 2) {
      rcu::MutexLock lock(mu_);
      External w{external_, mu_};
      run(w);
    } else {
      list_.Update([&](List::Writer& w) { run(w); });
    }
  }

  // Writer iteration under the lock: exactly the model.
  template <typename W>
  void WriterScan(W& w) {
    fuzz::HooksPaused paused;
    std::vector<int> seen;
    for (auto it = w.begin(); it != w.end(); ++it) seen.push_back(it->id);
    FUZZ_CHECK(seen == Ids(), "writer iteration saw %zu elements, the model has %zu", seen.size(),
               model_.size());
    FUZZ_CHECK(w.size() == model_.size(), "writer size()");
  }

  // Erases every element whose payload has the variant's low bits, while
  // iterating as a writer.
  template <typename W>
  void EraseWhileIterating(W& w, std::uint8_t v) {
    const std::uint32_t mask = v & 3;
    for (auto it = w.begin(); it != w.end();) {
      auto next = std::next(it);
      if ((it->payload & 3) == mask) {
        const int id = it->id;
        FUZZ_CHECK(w.erase(it), "erase of element %d found by writer iteration failed", id);
        ModelErase(Find(id));
      }
      it = next;
    }
  }

  // The position at cursor `c`, if it has one (end() allowed if `may_end`).
  std::optional<Pos> PositionOf(const Cursor& c, bool may_end) {
    if (!c.open) return std::nullopt;
    if (c.it == End() && !may_end) return std::nullopt;
    return c.it;
  }
  Pos End() {
    // Both lists' end() is their head; guard_ is alive while cursors are.
    return kind_ == 2 ? external_.Iterate(*guard_).end() : list_.Iterate(*guard_).end();
  }

  template <typename W>
  void Single(W& w, OpKind op, std::uint8_t variant) {
    const int how = variant % 3;
    switch (op) {
      case kPushFront:
      case kPushBack: {
        Item v = NewItem();
        const bool front = op == kPushFront;
        if (how == 0) {
          front ? w.push_front(v) : w.push_back(v);
        } else if (how == 1) {
          front ? w.push_front(std::move(v)) : w.push_back(std::move(v));
        } else if (front) {
          w.emplace_front(v.id, v.payload);
        } else {
          w.emplace_back(v.id, v.payload);
        }
        return ModelInsert(front ? model_.begin() : model_.end(), v);
      }
      case kInsertAfter:
      case kInsertBefore: {
        const bool after = op == kInsertAfter;
        const std::optional<Pos> pos = PositionOf(cursors_[(variant >> 2) % kCursors], !after);
        if (!pos) return;
        Item v = NewItem();
        const bool at_end = *pos == End();
        auto at = at_end ? model_.end() : Find((*pos)->id);
        const bool live = at_end || at != model_.end();
        const long before = constructed;
        bool ok;
        if (how == 0) {
          ok = after ? w.insert_after(*pos, v) : w.insert_before(*pos, v);
        } else if (how == 1) {
          ok = after ? w.insert_after(*pos, std::move(v)) : w.insert_before(*pos, std::move(v));
        } else {
          ok = after ? w.emplace_after(*pos, v.id, v.payload)
                     : w.emplace_before(*pos, v.id, v.payload);
        }
        FUZZ_CHECK(ok == live, "%s at element %d: returned %d",
                   after ? "insert_after" : "insert_before", at_end ? -1 : (*pos)->id, ok);
        if (!ok) {
          FUZZ_CHECK(constructed == before, "a failed positional insert constructed an element");
          return;
        }
        return ModelInsert(after ? std::next(at) : at, v);
      }
      case kErase:
      case kReplace: {
        const std::optional<Pos> pos = PositionOf(cursors_[(variant >> 2) % kCursors], false);
        if (!pos) return;
        const int id = (*pos)->id;
        auto at = Find(id);
        const bool live = at != model_.end();
        if (op == kErase) {
          const bool ok = w.erase(*pos);
          FUZZ_CHECK(ok == live, "erase at element %d returned %d", id, ok);
          if (ok) ModelErase(at);
          return;
        }
        Item v = NewItem();
        const long before = constructed;
        bool ok;
        if (how == 0) {
          ok = w.replace(*pos, v);
        } else if (how == 1) {
          ok = w.replace(*pos, std::move(v));
        } else {
          ok = w.emplace_replace(*pos, v.id, v.payload);
        }
        FUZZ_CHECK(ok == live, "replace at element %d returned %d", id, ok);
        if (!ok) {
          FUZZ_CHECK(constructed == before, "a failed replace constructed an element");
          return;
        }
        ModelInsert(at, v);
        return ModelErase(at);
      }
      case kRemoveIf: {
        const std::uint32_t mask = in_.Byte() & 7;
        std::vector<int> chosen;
        try {
          const std::size_t n = w.remove_if([&](const Item& item) {
            fuzz::Hook(fuzz::kPredicate);
            const bool remove = (item.payload & 7) == mask;
            fuzz::HooksPaused paused;
            if (remove) chosen.push_back(item.id);
            return remove;
          });
          FUZZ_CHECK(n == chosen.size(), "remove_if returned %zu, its predicate chose %zu", n,
                     chosen.size());
        } catch (...) {
          for (int id : chosen) ModelErase(Find(id));  // removed before the throw
          throw;
        }
        for (int id : chosen) ModelErase(Find(id));
        return;
      }
      case kRemove: {
        const Item like(0, in_.Byte());
        std::size_t expected = 0;
        for (const Elem& e : model_) expected += e.payload == like.payload;
        const std::size_t n = w.remove(like);
        FUZZ_CHECK(n == expected, "remove(%u) removed %zu, the model has %zu", like.payload, n,
                   expected);
        for (auto it = model_.begin(); it != model_.end();) {
          auto next = std::next(it);
          if (it->payload == like.payload) ModelErase(it);
          it = next;
        }
        return;
      }
      case kClear: {
        const std::size_t n = w.clear();
        FUZZ_CHECK(n == model_.size(), "clear() removed %zu, the model had %zu", n, model_.size());
        while (!model_.empty()) ModelErase(model_.begin());
        return;
      }
      default:
        return;
    }
  }

  // --- Cursors: iterators found under guard_, kept across writes ---

  void OpenCursor(Cursor& c, int skip) {
    fuzz::HooksPaused paused;
    if (!guard_.has_value()) guard_.emplace();
    c = Cursor();
    c.open = true;
    c.it = kind_ == 2 ? external_.Iterate(*guard_).begin() : list_.Iterate(*guard_).begin();
    c.traversing = true;
    c.traversal.Start(Ids());
    StepCursor(c, skip % 4);
  }

  void StepCursor(Cursor& c, int steps) {
    fuzz::HooksPaused paused;
    for (int i = 0; i < steps && c.open; ++i) {
      if (c.it == End()) {
        if (c.traversing) c.traversal.Finish();
        c = Cursor();
        return;
      }
      if (c.traversing) c.traversal.Visit(c.it->id);
      ++c.it;
    }
  }

  void CloseAll() {
    for (Cursor& c : cursors_) c = Cursor();
    guard_.reset();
  }

  fuzz::Input& in_;
  const bool trace_;
  int kind_ = 0;
  List list_;
  rcu::Mutex mu_;
  ExternalList external_;
  std::list<Elem> model_;
  Cursor cursors_[kCursors];
  std::optional<rcu::ReadGuard> guard_;
  int last_id_ = 0;
  int since_compare_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  {
    rcu::ReadGuard guard;
  }  // registration is not under test here
  rcu::Barrier();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  {
    fuzz::Input in(data, size);
    Fuzzer fuzzer(in);
    fuzzer.Run();
    // ~Fuzzer: the lists retire what is left.
  }
  rcu::Barrier();
  FUZZ_CHECK(fuzz::live[fuzz::kItems].load() == 0, "leak: %ld elements alive after rcu::Barrier()",
             fuzz::live[fuzz::kItems].load());
  return 0;
}
