// A per-key linearizability checker for map histories, after Wing & Gong's
// search with Lowe's memoization, as Porcupine implements it.
//
// A history is the operations on one key. Each operation has the instants at
// which it was called and at which it returned (any totally ordered clock in
// which "A returned before B was called" holds exactly when A.ret < B.call:
// a global atomic counter bumped before each call and after each return) and
// a sequential meaning: the state it expects (the key's value, 0 meaning
// absent) and the state it leaves. The checker looks for an order of all the
// operations that respects real time (A before B whenever A returned before
// B was called) in which each operation's expectation holds in the state the
// previous ones leave, starting from `initial`.
//
//   std::vector<stress::lin::Op> ops = ...;  // one key's operations
//   stress::lin::Result r = stress::lin::Check(ops, /*initial=*/0);
//   if (!r.linearizable) Print(ops, r);
//
// Values must be unique per write (the same value never written twice), so
// that "the state is v" names one write. Checking keys one by one is sound
// for maps by locality (Herlihy & Wing: a history is linearizable iff each
// object's subhistory is), treating each key as an object.
#ifndef STRESS_LINEARIZABILITY_H_
#define STRESS_LINEARIZABILITY_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

namespace stress {
namespace lin {

// The state of one key: its value, or kAbsent.
inline constexpr std::uint64_t kAbsent = 0;

// One operation on one key, as the sequential specification sees it.
struct Op {
  std::uint64_t call = 0;  // clock reading before the call
  std::uint64_t ret = 0;   // clock reading after the return; call < ret

  // What the operation observed about the state when it took effect.
  enum class Expect : std::uint8_t {
    kEquals,   // state == expected (kAbsent: the key was absent)
    kDiffers,  // state != expected (kAbsent: the key was present)
    kAny,      // nothing observed
  };
  Expect expect = Expect::kAny;
  std::uint64_t expected = kAbsent;

  // What the operation did to the state.
  enum class Effect : std::uint8_t {
    kKeep,           // nothing (a read)
    kSet,            // state = value (kAbsent: erased)
    kSetIfAbsent,    // if state == kAbsent: state = value (insert, result unknown)
    kEraseIfEquals,  // if state == value: state = kAbsent (erase of an entry)
  };
  Effect effect = Effect::kKeep;
  std::uint64_t value = kAbsent;

  // For reports: which call this was (an index into the caller's own
  // descriptions) and the thread that made it.
  std::uint32_t what = 0;
  std::uint32_t thread = 0;

  bool Legal(std::uint64_t state) const {
    switch (expect) {
      case Expect::kEquals:
        return state == expected;
      case Expect::kDiffers:
        return state != expected;
      case Expect::kAny:
        return true;
    }
    return false;
  }
  std::uint64_t Next(std::uint64_t state) const {
    switch (effect) {
      case Effect::kKeep:
        return state;
      case Effect::kSet:
        return value;
      case Effect::kSetIfAbsent:
        return state == kAbsent ? value : state;
      case Effect::kEraseIfEquals:
        return state == value ? kAbsent : state;
    }
    return state;
  }
};

struct Result {
  bool linearizable = true;
  // The search gave up (more than `max_states` distinct configurations):
  // neither a proof nor a refutation.
  bool undecided = false;
  std::uint64_t states = 0;  // configurations explored (cache entries)
  // If not linearizable: the most operations any partial order linearized,
  // and the operation whose return the search could never get past with
  // that many (the earliest-returning one still pending then).
  std::size_t deepest = 0;
  std::size_t stuck = 0;
};

namespace internal {

// The call/return events in time order, as a doubly linked list from which
// linearized operations are lifted out and put back.
struct Event {
  std::uint32_t op;
  bool is_call;
  std::uint32_t match;  // a call's return event
  std::uint32_t prev, next;
};

struct ConfigHash {
  std::size_t operator()(const std::vector<std::uint64_t>& words) const {
    std::uint64_t h = 0x9e3779b97f4a7c15;
    for (std::uint64_t w : words) h = (h ^ w) * 0xff51afd7ed558ccd + (h >> 29);
    return static_cast<std::size_t>(h);
  }
};

}  // namespace internal

// Searches for a linearization of `ops` from `initial`.
inline Result Check(const std::vector<Op>& ops, std::uint64_t initial,
                    std::uint64_t max_states = 4'000'000) {
  using internal::Event;
  Result result;
  const std::uint32_t n = static_cast<std::uint32_t>(ops.size());
  if (n == 0) return result;

  // Events sorted by time; index 0 is the list head.
  struct Stamp {
    std::uint64_t time;
    std::uint32_t op;
    bool is_call;
  };
  std::vector<Stamp> stamps;
  stamps.reserve(2 * n);
  for (std::uint32_t i = 0; i < n; ++i) {
    stamps.push_back({ops[i].call, i, true});
    stamps.push_back({ops[i].ret, i, false});
  }
  std::sort(stamps.begin(), stamps.end(), [](const Stamp& a, const Stamp& b) {
    if (a.time != b.time) return a.time < b.time;
    return a.is_call && !b.is_call;  // equal readings: treat as overlapping
  });
  const std::uint32_t kNone = UINT32_MAX;
  std::vector<Event> events(2 * n + 1);
  events[0] = {kNone, false, kNone, kNone, 1};
  std::vector<std::uint32_t> call_event(n), return_event(n);
  for (std::uint32_t i = 0; i < 2 * n; ++i) {
    const std::uint32_t e = i + 1;
    events[e] = {stamps[i].op, stamps[i].is_call, kNone, e - 1, e + 1 <= 2 * n ? e + 1 : kNone};
    (stamps[i].is_call ? call_event : return_event)[stamps[i].op] = e;
  }
  for (std::uint32_t i = 0; i < n; ++i) events[call_event[i]].match = return_event[i];

  auto lift = [&](std::uint32_t call) {
    for (std::uint32_t e : {call, events[call].match}) {
      events[events[e].prev].next = events[e].next;
      if (events[e].next != kNone) events[events[e].next].prev = events[e].prev;
    }
  };
  auto unlift = [&](std::uint32_t call) {
    for (std::uint32_t e : {events[call].match, call}) {
      events[events[e].prev].next = e;
      if (events[e].next != kNone) events[events[e].next].prev = e;
    }
  };

  // Configurations seen: the set of linearized operations plus the state.
  const std::size_t words = (n + 63) / 64;
  std::vector<std::uint64_t> config(words + 1, 0);
  std::unordered_set<std::vector<std::uint64_t>, internal::ConfigHash> seen;
  struct Frame {
    std::uint32_t call;
    std::uint64_t state;
  };
  std::vector<Frame> stack;
  std::uint64_t state = initial;
  std::uint32_t e = events[0].next;
  while (events[0].next != kNone) {
    const Event& event = events[e];
    if (event.is_call) {
      const Op& op = ops[event.op];
      if (op.Legal(state)) {
        const std::uint64_t next = op.Next(state);
        config[event.op / 64] |= std::uint64_t{1} << (event.op % 64);
        config[words] = next;
        if (seen.insert(config).second) {
          if (seen.size() > max_states) {
            result.undecided = true;
            result.states = seen.size();
            return result;
          }
          stack.push_back({e, state});
          state = next;
          lift(e);
          e = events[0].next;
          continue;
        }
        config[event.op / 64] &= ~(std::uint64_t{1} << (event.op % 64));
      }
      e = event.next;
    } else {
      // An operation returned before it could be linearized: backtrack.
      if (stack.size() >= result.deepest) {
        result.deepest = stack.size();
        result.stuck = event.op;
      }
      if (stack.empty()) {
        result.linearizable = false;
        result.states = seen.size();
        return result;
      }
      const Frame top = stack.back();
      stack.pop_back();
      state = top.state;
      const std::uint32_t undone = events[top.call].op;
      config[undone / 64] &= ~(std::uint64_t{1} << (undone % 64));
      unlift(top.call);
      e = events[top.call].next;
    }
  }
  result.states = seen.size();
  return result;
}

}  // namespace lin
}  // namespace stress

#endif  // STRESS_LINEARIZABILITY_H_
