// Internal: how rcu::HashMap hands what it unlinks to the RCU core, and the
// read-side section an iterator owns.
//
// Unlinked entries and replaced bucket arrays carry their own rcu::RcuHead,
// so queueing them allocates nothing and cannot fail: a write that has
// published its change never throws afterwards.
//
// Backpressure (rcu/call_rcu.h): a thread outside any read-side section
// waits when the callback backlog is over its limit. A thread inside one
// must not wait (the backlog drains only after a grace period, which that
// very section holds up), and a write made through an iterator, or while
// one is alive, runs inside the iterator's section. Such a write records a
// debt instead; the thread pays it (waits if the backlog is still over the
// limit) as soon as it is outside every section again: when the section of
// an iterator it owns ends, or at its next write outside a section. So a
// loop of `m.insert_or_assign(k, v);` or `m.erase(m.find(k));` statements,
// each of whose results dies at the end of its statement, is held to the
// limit like a loop of `m.erase(k);`.
#ifndef CONTAINERS_INTERNAL_HASH_MAP_SECTION_H_
#define CONTAINERS_INTERNAL_HASH_MAP_SECTION_H_

#include <cstdint>
#include <exception>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "rcu/call_rcu.h"
#include "rcu/internal/callbacks.h"
#include "rcu/read_guard.h"

namespace rcu {
namespace internal {

// Set when the calling thread queued a map's retirement inside a read-side
// section, where it could not wait for the backlog.
inline thread_local bool hash_map_backlog_debt = false;

// Waits, if the callback backlog is over its limit, as rcu::CallRcu() would
// have when the debt was made. Call outside every read-side section.
inline void PayHashMapBacklogDebt() {
  hash_map_backlog_debt = false;
  try {
    ApplyBackpressure();
  } catch (const std::exception&) {
    // The core could not set up the wait (its first one allocates): the
    // writer goes on, one retirement over the limit. Nothing is lost.
  }
}

// Queues callback(head) to run after a grace period, for an object the
// caller has unpublished. Allocates nothing. Never waits inside a read-side
// section (it records the debt instead), so it may be called under a lock
// that readers wait for, provided the caller is inside a section then.
inline void QueueReclaim(RcuHead* head, void (*callback)(RcuHead*)) {
  try {
    CallRcuWithoutBackpressure(head, callback);
  } catch (const std::exception&) {
    // Only the core's first use in a process can throw here: starting its
    // callback thread. Then reclaim in the caller after a grace period, if
    // waiting is allowed here; otherwise (inside a read-side section or an
    // RCU callback) the object cannot be freed safely and is left allocated.
    if (ReclaimInlineAfterGracePeriod()) callback(head);
    return;
  }
  if (InReadSection()) {
    hash_map_backlog_debt = true;
  } else {
    PayHashMapBacklogDebt();
  }
}

// A read-side section that an iterator owns: a ReadGuard that can move
// (within its thread; the section stays open) and copy (a copy enters a
// nested section of its own). Assignment enters before it leaves. Leaving
// the thread's outermost section pays the backlog debt (see above).
class OwnedSection {
 public:
  OwnedSection() = default;
  explicit OwnedSection(bool enter) {
    if (enter) Enter();
  }
  OwnedSection(const OwnedSection& other) {
    if (other.held_) Enter();
  }
  OwnedSection(OwnedSection&& other) noexcept : reader_(other.reader_), held_(other.held_) {
    other.held_ = false;
  }
  OwnedSection& operator=(OwnedSection other) noexcept {
    std::swap(reader_, other.reader_);
    std::swap(held_, other.held_);
    return *this;  // `other` leaves the section this one held, if any
  }
  // Small enough to inline everywhere, so that an iterator that owns no
  // section (every find(guard, key)) costs nothing when it dies; leaving
  // is out of line. (Inlining the whole read-side exit here made GCC stop
  // inlining the iterator's destructor into lookups: two calls per
  // lookup, 25% of a cache-resident lookup's rate.)
  ~OwnedSection() {
    if (ABSL_PREDICT_FALSE(held_)) Leave(reader_);
  }

  bool held() const { return held_; }
  void Enter() {
    if (!held_) EnterOutOfLine();
  }
  // Leaves the section, if held, without paying any debt (for readers,
  // which never wait).
  void LeaveQuietly() {
    if (held_) {
      held_ = false;
      ReadUnlock(reader_);
    }
  }

 private:
  ABSL_ATTRIBUTE_NOINLINE void EnterOutOfLine() {
    reader_ = ReadLock();
    held_ = true;
  }
  ABSL_ATTRIBUTE_NOINLINE static void Leave(std::uintptr_t reader) {
    ReadUnlock(reader);
    if (ABSL_PREDICT_FALSE(hash_map_backlog_debt) && !InReadSection()) PayHashMapBacklogDebt();
  }
  std::uintptr_t reader_ = 0;  // from ReadLock(), for ReadUnlock()
  bool held_ = false;
};

}  // namespace internal
}  // namespace rcu

#endif  // CONTAINERS_INTERNAL_HASH_MAP_SECTION_H_
