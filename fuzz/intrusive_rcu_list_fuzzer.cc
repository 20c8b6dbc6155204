// Differential fuzzer: rcu::IntrusiveRcuList (containers/intrusive_rcu_list.h)
// against std::list.
//
// A pool of kObjects objects, each with a hook, moves between states the
// model tracks: free, linked, handed back by erase()/replace() (reusable
// after rcu::Synchronize()), and awaiting its disposer (after remove_if() or
// clear(); reusable once the disposer has run). The input decodes into:
//  - push_front/push_back of a free object, insert_after/insert_before,
//    erase (by position and by object) and replace at a cursor or at
//    iterator_to(object), remove_if, clear; each result checked (false or
//    nullptr exactly when the position's object is no longer linked), and
//    size(), empty(), is_linked() and the content checked often;
//  - writer iteration through Protected(lock), which must match the model;
//  - cursors: up to four iterators found under a read guard and kept across
//    writes, stepped one object at a time (the traversal guarantee:
//    fuzz/list_traversal.h) and used as positions;
//  - read-side sections ended and begun; rcu::Synchronize() (handed-back
//    objects become reusable) and rcu::Barrier() (disposers have run: every
//    object removed by remove_if()/clear() was disposed of exactly once);
//  - disposers that re-link their object, taking the writers' lock on the
//    callback thread, queued several at a time under the lock with the
//    callback backlog limit at its minimum (the deadlock of issue 10, bug 7),
//    and disposers that throw (reported through rcu/diagnostics.h, the rest
//    of the batch still disposed of);
//  - throwing hooks: the remove_if predicate and operator new (the bulk
//    removal's record) may fail on the n-th call. A failed allocation changes
//    nothing; a throwing predicate keeps what it removed before, and those
//    objects are still disposed of.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iterator>
#include <list>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "containers/intrusive_rcu_list.h"
#include "fuzz/fuzz_input.h"
#include "fuzz/hooks.h"
#include "fuzz/list_traversal.h"
#include "rcu/call_rcu.h"
#include "rcu/diagnostics.h"
#include "rcu/grace_period.h"
#include "rcu/mutex.h"
#include "rcu/read_guard.h"

namespace {

constexpr int kObjects = 24;
constexpr int kCursors = 4;

std::atomic<long> callbacks_threw{0};  // counted by the diagnostic handler

struct Obj {
  int id = 0;
  std::uint32_t payload = 0;
  rcu::IntrusiveListHook hook;
};
using List = rcu::IntrusiveRcuList<Obj, &Obj::hook>;
using Pos = List::const_iterator;

enum class State { kFree, kLinked, kHandedBack, kDisposing };

// What the disposers did, on the callback thread.
struct DisposalLog {
  std::mutex mu;
  std::vector<int> disposed;  // in the order the disposers ran
  std::vector<int> relinked;  // the subset that re-linked, in that order
};

struct Cursor {
  bool open = false;
  Pos it;
  fuzz::Traversal traversal;
};

class Fuzzer {
 public:
  explicit Fuzzer(fuzz::Input& in) : in_(in), trace_(std::getenv("RCU_FUZZ_TRACE") != nullptr) {
    for (int i = 0; i < kObjects; ++i) objects_[i].id = i;
  }

  ~Fuzzer() {
    CloseAll();
    {
      rcu::MutexLock lock(mu_);
      const std::size_t n = list_.clear(mu_, Disposer(false, -1));
      FUZZ_CHECK(n == model_.size(), "final clear() removed %zu, the model had %zu", n,
                 model_.size());
      for (int id : model_) state_[id] = State::kDisposing;
      expected_disposals_.insert(expected_disposals_.end(), model_.begin(), model_.end());
      model_.clear();
    }
    SettleDisposals();  // the objects outlive their disposers
    for (const Obj& obj : objects_) {
      FUZZ_CHECK(!obj.hook.is_linked(), "object %d still linked at the end", obj.id);
    }
  }

  void Run() {
    for (int steps = 0; steps < 2000 && !in_.empty(); ++steps) Step();
    CloseAll();
    CompareAll("at the end");
  }

 private:
  enum OpKind {
    kPush,
    kInsertAt,
    kErase,
    kReplace,
    kRemoveIf,
    kClear,
    kRelinkingRemovals,
    kOpenCursor,
    kStepCursor,
    kCloseCursor,
    kCompare,
    kSection,
    kSynchronize,
    kBarrier,
    kNumOps
  };
  static constexpr const char* kOpNames[kNumOps] = {"push",
                                                    "insert at",
                                                    "erase",
                                                    "replace",
                                                    "remove_if",
                                                    "clear",
                                                    "relinking removals",
                                                    "open cursor",
                                                    "step cursor",
                                                    "close cursor",
                                                    "compare",
                                                    "section",
                                                    "synchronize",
                                                    "barrier"};

  // --- The model ---

  std::vector<int> Ids() const { return std::vector<int>(model_.begin(), model_.end()); }
  std::list<int>::iterator Find(int id) { return std::find(model_.begin(), model_.end(), id); }

  void ModelLink(std::list<int>::iterator before, int id) {
    fuzz::HooksPaused paused;
    model_.insert(before, id);
    state_[id] = State::kLinked;
    for (Cursor& c : cursors_) {
      if (c.open) c.traversal.Linked(id);
    }
  }
  void ModelUnlink(int id, State to) {
    fuzz::HooksPaused paused;
    model_.erase(Find(id));
    state_[id] = to;
    for (Cursor& c : cursors_) {
      if (c.open) c.traversal.Unlinked(id);
    }
  }

  void CompareAll(const char* when) {
    std::vector<int> seen;
    {
      rcu::ReadGuard guard;
      for (const Obj& obj : list_.Iterate(guard)) seen.push_back(obj.id);
    }
    FUZZ_CHECK(seen == Ids(), "%s: the list holds %zu objects, the model %zu, and they differ",
               when, seen.size(), model_.size());
    FUZZ_CHECK(list_.size() == model_.size() && list_.empty() == model_.empty(),
               "%s: size() %zu, model %zu", when, list_.size(), model_.size());
    for (const Obj& obj : objects_) {
      // A disposal in progress resets its hook on the callback thread.
      if (state_[obj.id] == State::kDisposing) continue;
      FUZZ_CHECK(obj.hook.is_linked() == (state_[obj.id] == State::kLinked),
                 "%s: object %d is_linked() %d, model state %d", when, obj.id, obj.hook.is_linked(),
                 static_cast<int>(state_[obj.id]));
    }
  }

  // A free object chosen by the input, or nullptr.
  Obj* PickFree() {
    const int start = in_.Byte() % kObjects;
    for (int i = 0; i < kObjects; ++i) {
      Obj& obj = objects_[(start + i) % kObjects];
      if (state_[obj.id] == State::kFree) {
        obj.payload = in_.Byte();
        return &obj;
      }
    }
    return nullptr;
  }
  Obj* PickLinked() {
    if (model_.empty()) return nullptr;
    return &objects_[*std::next(model_.begin(), in_.Byte() % model_.size())];
  }

  // A position: a cursor's (end() allowed only if `may_end`), or
  // iterator_to() a linked object.
  std::optional<Pos> PickPosition(std::uint8_t variant, bool may_end) {
    if ((variant & 0x40) == 0) {
      Obj* obj = PickLinked();
      if (obj == nullptr) return std::nullopt;
      return List::iterator_to(std::as_const(*obj));
    }
    const Cursor& c = cursors_[(variant >> 2) % kCursors];
    if (!c.open) return std::nullopt;
    if (c.it == End() && !may_end) return std::nullopt;
    return c.it;
  }
  Pos End() { return list_.Iterate(*guard_).end(); }
  bool AtEnd(const Pos& pos) { return guard_.has_value() && pos == End(); }

  // Disposers log what they got; some re-link it (taking mu_), one may throw.
  std::function<void(Obj*)> Disposer(bool relink, int throw_for) {
    return [this, relink, throw_for](Obj* obj) {
      {
        std::lock_guard<std::mutex> lock(log_.mu);
        log_.disposed.push_back(obj->id);
      }
      if (relink) {
        rcu::MutexLock lock(mu_);
        FUZZ_CHECK(!obj->hook.is_linked(), "a disposer got object %d still linked", obj->id);
        list_.push_back(mu_, *obj);
        std::lock_guard<std::mutex> log_lock(log_.mu);
        log_.relinked.push_back(obj->id);
      }
      if (obj->id == throw_for) throw std::runtime_error("fuzz: a throwing disposer");
    };
  }

  // After rcu::Barrier(): every pending disposal ran exactly once; re-linked
  // objects are at the back in the order their disposers ran.
  void SettleDisposals() {
    rcu::Barrier();
    std::vector<int> disposed, relinked;
    {
      std::lock_guard<std::mutex> lock(log_.mu);
      disposed.swap(log_.disposed);
      relinked.swap(log_.relinked);
    }
    std::vector<int> expected = expected_disposals_;
    std::sort(expected.begin(), expected.end());
    std::vector<int> got = disposed;
    std::sort(got.begin(), got.end());
    FUZZ_CHECK(got == expected, "%zu disposals ran, %zu were due (or not the same objects)",
               got.size(), expected.size());
    for (int id : disposed) state_[id] = State::kFree;
    for (int id : relinked) ModelLink(model_.end(), id);
    expected_disposals_.clear();
    const long threw = callbacks_threw.exchange(0);
    FUZZ_CHECK(threw == expected_throws_, "%ld disposal batches reported a throw, expected %ld",
               threw, expected_throws_);
    expected_throws_ = 0;
  }

  // --- Operations ---

  void Step() {
    const OpKind op = static_cast<OpKind>(in_.Below(kNumOps));
    const std::uint8_t variant = in_.Byte();
    const std::uint8_t arm = in_.Byte();
    std::uint32_t kinds = 0, n = 0;
    if (arm < 64) {
      n = 1 + (arm & 7);
      kinds = (arm >> 3) < 4 ? fuzz::kPredicate : fuzz::kNew;
    }
    fuzz::Arm(kinds == 0 ? 0 : n, kinds);
    const bool threw = fuzz::ThrewInjected([&] { Dispatch(op, variant); });
    const bool fired = fuzz::Disarm();
    if (trace_) {
      std::fprintf(stderr, "fuzz: %-18s variant %3u, hook %u of kinds %#x: %s; %zu objects\n",
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
    if (op == kRelinkingRemovals) return RelinkingRemovals(variant);
    rcu::MutexLock lock(mu_);
    Write(op, variant);
  }

  void Bookkeeping(OpKind op, std::uint8_t variant) {
    switch (op) {
      case kOpenCursor:
        return OpenCursor(cursors_[variant % kCursors], variant / kCursors % 4);
      case kStepCursor:
        return StepCursor(cursors_[variant % kCursors], 1 + variant / kCursors % 8);
      case kCloseCursor:
        cursors_[variant % kCursors] = Cursor();
        return;
      case kCompare:
        CompareAll("on request");
        return WriterScan();
      case kSection:
        if (guard_.has_value()) {
          CloseAll();
        } else {
          guard_.emplace();
        }
        return;
      case kSynchronize:
        if (guard_.has_value()) return;
        rcu::Synchronize();
        for (State& s : state_) {
          if (s == State::kHandedBack) s = State::kFree;  // a grace period later
        }
        return;
      case kBarrier:
        if (!guard_.has_value()) SettleDisposals();
        return;
      default:
        return;
    }
  }

  void Write(OpKind op, std::uint8_t variant) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    switch (op) {
      case kPush: {
        Obj* obj = PickFree();
        if (obj == nullptr) return;
        if (variant & 1) {
          list_.push_back(mu_, *obj);
          return ModelLink(model_.end(), obj->id);
        }
        list_.push_front(mu_, *obj);
        return ModelLink(model_.begin(), obj->id);
      }
      case kInsertAt: {
        const bool after = (variant & 1) != 0;
        const std::optional<Pos> pos = PickPosition(variant, !after);
        if (!pos) return;
        Obj* obj = PickFree();
        if (obj == nullptr) return;
        const bool at_end = AtEnd(*pos);
        auto at = at_end ? model_.end() : Find((*pos)->id);
        const bool live = at_end || at != model_.end();
        const bool ok =
            after ? list_.insert_after(mu_, *pos, *obj) : list_.insert_before(mu_, *pos, *obj);
        FUZZ_CHECK(ok == live, "%s at object %d returned %d",
                   after ? "insert_after" : "insert_before", at_end ? -1 : (*pos)->id, ok);
        if (ok) ModelLink(after ? std::next(at) : at, obj->id);
        return;
      }
      case kErase: {
        const std::optional<Pos> pos = PickPosition(variant, false);
        if (!pos) return;
        const int id = (*pos)->id;
        const bool live = Find(id) != model_.end();
        Obj* got = (variant & 1) ? list_.erase(mu_, objects_[id]) : list_.erase(mu_, *pos);
        FUZZ_CHECK(got == (live ? &objects_[id] : nullptr), "erase at object %d", id);
        if (live) ModelUnlink(id, State::kHandedBack);
        return;
      }
      case kReplace: {
        const std::optional<Pos> pos = PickPosition(variant, false);
        if (!pos) return;
        Obj* obj = PickFree();
        if (obj == nullptr) return;
        const int id = (*pos)->id;
        auto at = Find(id);
        const bool live = at != model_.end();
        Obj* got = list_.replace(mu_, *pos, *obj);
        FUZZ_CHECK(got == (live ? &objects_[id] : nullptr), "replace at object %d", id);
        if (!live) return;
        ModelLink(at, obj->id);
        return ModelUnlink(id, State::kHandedBack);
      }
      case kRemoveIf:
      case kClear:
        return Remove(op == kClear, variant, /*relink=*/false);
      default:
        return;
    }
  }

  // remove_if() or clear() with a logging disposer (re-linking, if asked).
  void Remove(bool clear, std::uint8_t variant, bool relink) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::uint32_t mask = in_.Byte() & 3;
    // One object of the batch may make its disposer throw.
    const int throw_for = (variant & 0x20) != 0 && !model_.empty() ? model_.front() : -1;
    std::vector<int> chosen;
    try {
      std::size_t n;
      if (clear) {
        std::vector<int> all;
        {
          fuzz::HooksPaused paused;
          all = Ids();
        }
        n = list_.clear(mu_, Disposer(relink, throw_for));
        chosen.swap(all);
      } else {
        n = list_.remove_if(
            mu_,
            [&](const Obj& obj) {
              fuzz::Hook(fuzz::kPredicate);
              const bool remove = (obj.payload & 3) == mask;
              fuzz::HooksPaused paused;
              if (remove) chosen.push_back(obj.id);
              return remove;
            },
            Disposer(relink, throw_for));
      }
      FUZZ_CHECK(n == chosen.size(), "bulk removal returned %zu, expected %zu", n, chosen.size());
    } catch (...) {
      Settle(chosen, throw_for);  // removed before the throw: still disposed of
      throw;
    }
    Settle(chosen, throw_for);
  }

  // The objects a bulk removal took: they await their disposers.
  void Settle(const std::vector<int>& chosen, int throw_for) {
    fuzz::HooksPaused paused;
    for (int id : chosen) {
      ModelUnlink(id, State::kDisposing);
      expected_disposals_.push_back(id);
      if (id == throw_for) ++expected_throws_;
    }
  }

  // Bulk removals with disposers that re-link, several under one hold of the
  // lock, with the backlog limit at its minimum: a removal that waited for
  // the backlog there would deadlock against the disposers (which libFuzzer
  // reports as a timeout). Then rcu::Barrier(), so that the re-linking ends
  // before anything else happens.
  void RelinkingRemovals(std::uint8_t variant) {
    if (guard_.has_value()) return;
    const std::size_t saved = rcu::CallbackBacklogLimit();
    rcu::SetCallbackBacklogLimit(2);
    try {
      rcu::MutexLock lock(mu_);
      for (int i = 0; i < 1 + variant % 4; ++i) Remove((variant >> 2) & 1, variant, true);
    } catch (...) {
      rcu::SetCallbackBacklogLimit(saved);
      fuzz::HooksPaused paused;
      SettleDisposals();
      throw;
    }
    rcu::SetCallbackBacklogLimit(saved);
    fuzz::HooksPaused paused;
    SettleDisposals();
  }

  // Writer iteration under the lock: exactly the model.
  void WriterScan() {
    rcu::MutexLock lock(mu_);
    std::vector<int> seen;
    for (Obj& obj : list_.Protected(mu_)) seen.push_back(obj.id);
    FUZZ_CHECK(seen == Ids(), "Protected() iteration differs from the model");
  }

  // --- Cursors ---

  void OpenCursor(Cursor& c, int skip) {
    fuzz::HooksPaused paused;
    if (!guard_.has_value()) guard_.emplace();
    c = Cursor();
    c.open = true;
    c.it = list_.Iterate(*guard_).begin();
    c.traversal.Start(Ids());
    StepCursor(c, skip);
  }

  void StepCursor(Cursor& c, int steps) {
    fuzz::HooksPaused paused;
    for (int i = 0; i < steps && c.open; ++i) {
      if (c.it == End()) {
        c.traversal.Finish();
        c = Cursor();
        return;
      }
      c.traversal.Visit(c.it->id);
      ++c.it;
    }
  }

  void CloseAll() {
    for (Cursor& c : cursors_) c = Cursor();
    guard_.reset();
  }

  fuzz::Input& in_;
  const bool trace_;
  Obj objects_[kObjects];  // outlives list_ (declared before it)
  State state_[kObjects] = {};
  DisposalLog log_;
  rcu::Mutex mu_;
  List list_;
  std::list<int> model_;
  std::vector<int> expected_disposals_;
  long expected_throws_ = 0;
  Cursor cursors_[kCursors];
  std::optional<rcu::ReadGuard> guard_;
  int since_compare_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  {
    rcu::ReadGuard guard;
  }  // registration is not under test here
  rcu::SetDiagnosticHandler([](const rcu::Diagnostic& d) {
    if (d.kind == rcu::Diagnostic::Kind::kCallbackThrew) {
      callbacks_threw.fetch_add(1);
    } else {
      std::fprintf(stderr, "%s\n", d.message.c_str());
    }
  });
  rcu::Barrier();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  Fuzzer fuzzer(in);
  fuzzer.Run();
  return 0;
}
