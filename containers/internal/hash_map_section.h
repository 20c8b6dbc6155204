// Internal: how rcu::HashMap hands what it unlinks to the RCU core, and the
// read-side section an iterator owns.
//
// Unlinked entries and replaced bucket arrays carry their own rcu::RcuHead,
// so queueing them allocates nothing and cannot fail: a write that has
// published its change never throws afterwards.
//
// Backpressure (rcu/call_rcu.h) is the core's: a thread outside any
// read-side section waits when the callback backlog is over its limit. A
// thread inside one must not wait (the backlog drains only after a grace
// period, which that very section holds up), and a write made inside a
// ReadGuard, through an iterator, or while one is alive, runs inside a
// section. The core then records the thread's backlog debt, and the thread
// pays it (waits if the backlog is still over the limit) when it leaves its
// outermost section: when the user's ReadGuard ends, or the section of the
// iterator it owns. So a loop of `m.insert_or_assign(k, v);`,
// `m.erase(m.find(k));` or `{ rcu::ReadGuard g; m.erase(k); }` statements is
// held to the limit like a loop of `m.erase(k);`.
#ifndef CONTAINERS_INTERNAL_HASH_MAP_SECTION_H_
#define CONTAINERS_INTERNAL_HASH_MAP_SECTION_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <cstdint>
#include <exception>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "rcu/call_rcu.h"
#include "rcu/internal/callbacks.h"
#include "rcu/internal/callbacks.h"
#include "rcu/read_guard.h"

namespace rcu {
namespace internal {

// Queues callback(head) to run after a grace period, for an object the
// caller has unpublished, and applies the core's backpressure: outside
// read-side sections it may wait for the backlog; inside one it only records
// the thread's debt (see above), so it may be called under a lock that
// readers wait for, provided the caller is inside a section then.
// Allocates nothing and cannot fail.
inline void QueueReclaim(RcuHead* head, void (*callback)(RcuHead*)) {
  try {
    // After the exit-time drain (a map destroyed by a static destructor)
    // the callback stays with this thread, and waiting for the backlog
    // would wait forever: no backpressure then, as CallRcu() does.
    if (!CallRcuWithoutBackpressure(head, callback)) return;
  } catch (const std::exception&) {
    // Only the core's first use in a process can throw here: starting its
    // callback thread. Then reclaim in the caller after a grace period, if
    // waiting is allowed here; otherwise (inside a read-side section or an
    // RCU callback) the object cannot be freed safely and is left allocated.
    if (ReclaimInlineAfterGracePeriod()) callback(head);
    return;
  }
  try {
    ApplyBackpressure();
  } catch (const std::exception&) {
    // The core could not set up the wait: the writer goes on, one
    // retirement over the limit. Nothing is lost.
  }
}

// For the destructor of a map whose entries carry a stateful allocator:
// waits until everything queued so far has been reclaimed (rcu::Barrier()),
// so that the allocator's resource may go once the map has. Inside a
// read-side section or an RCU callback it cannot wait, and returns at once
// (the header says what the user must do then).
inline void WaitForReclaimedEntries() {
  if (InReadSection() || in_callback) return;
  Barrier();
}

// A read-side section that an iterator owns: a ReadGuard that can move
// (within its thread; the section stays open) and copy (a copy enters a
// nested section of its own). Assignment enters before it leaves. Leaving
// the thread's outermost section pays its backlog debt (see above).
class OwnedSection {
 public:
  OwnedSection() = default;
  explicit OwnedSection(bool enter) {
    if (enter) Enter();
  }
  OwnedSection(const OwnedSection& other) {
    if (other.held_) Enter();
  }
  OwnedSection(OwnedSection&& other) noexcept : held_(other.held_) { other.held_ = false; }
  OwnedSection& operator=(OwnedSection other) noexcept {
    std::swap(held_, other.held_);
    return *this;  // `other` leaves the section this one held, if any
  }
  // Small enough to inline everywhere, so that an iterator that owns no
  // section (every find(guard, key)) costs nothing when it dies; leaving
  // is out of line. (Inlining the whole read-side exit here made GCC stop
  // inlining the iterator's destructor into lookups: two calls per
  // lookup, 25% of a cache-resident lookup's rate.)
  ~OwnedSection() {
    if (ABSL_PREDICT_FALSE(held_)) Leave();
  }

  bool held() const { return held_; }
  void Enter() {
    if (!held_) EnterOutOfLine();
  }
  // Ends the held section and enters a new one: grace periods that waited
  // for it can complete (and the thread pays its backlog debt, if this was
  // its outermost section).
  ABSL_ATTRIBUTE_NOINLINE void Renew() {
    ReadUnlock();
    ReadLock();
  }
  // Leaves the section, if held, for a lookup that found nothing (no write
  // ran inside it, so there is no debt to pay).
  void LeaveQuietly() {
    if (held_) {
      held_ = false;
      ReadUnlock();
    }
  }

 private:
  ABSL_ATTRIBUTE_NOINLINE void EnterOutOfLine() {
    ReadLock();
    held_ = true;
  }
  ABSL_ATTRIBUTE_NOINLINE static void Leave() { ReadUnlock(); }
  bool held_ = false;  // this object's thread is in a section it entered
};

}  // namespace internal
}  // namespace rcu

#endif  // CONTAINERS_INTERNAL_HASH_MAP_SECTION_H_
