// Internal: the read side of rcu::Domain (rcu/domain.h is its interface).
//
// Each domain keeps, for every thread, a slot of four counters: sections
// begun and sections ended, for each of the two values of the domain's
// current index. A section increments locks[i] of the thread that begins it
// and unlocks[i] of the thread that ends it (the same thread for a guard,
// maybe another for a token), with i the domain's index when it began. Only
// the slot's thread writes it, so the increments are a plain load and store:
// no read-modify-write, no fence. A grace period (rcu/domain.cc) flips the
// index and waits until, for the old index, the ends it can see match the
// beginnings: counts only grow, so ends read first, and beginnings after
// them, are equal only once every section it counted has ended.
//
// A thread has one slot index for all domains, taken on its first section
// of any domain and given back when it exits; the next thread to take it
// continues the same counts (they are only ever summed).
#ifndef RCU_INTERNAL_DOMAIN_READ_SIDE_H_
#define RCU_INTERNAL_DOMAIN_READ_SIDE_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <atomic>
#include <cstdint>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "rcu/internal/sanitizer.h"

namespace rcu {

class Domain;

namespace internal {

struct DomainAccess;
struct DomainState;

// One thread's counters in one domain, on a cache line of its own so that
// readers on different threads never write the same line.
struct alignas(64) DomainSlot {
  // Written by the slot's thread (or, in a domain's shared slot, by any
  // thread with fetch_add): locks with relaxed stores, ordered before the
  // section's reads by the grace period's membarrier(); unlocks with release,
  // so that a grace period that reads them with acquire sees everything the
  // section did, and the locks that came before.
  std::atomic<std::uint64_t> locks[2] = {};
  std::atomic<std::uint64_t> unlocks[2] = {};
};

inline constexpr std::uint32_t kDomainChunkSlots = 64;
inline constexpr std::uint32_t kDomainMaxChunks = 1024;
// Slot indexes are [1, kDomainChunkSlots * kDomainMaxChunks); this one means
// "no slot": it selects a domain's always-null chunk pointer.
inline constexpr std::uint32_t kNoDomainSlot = kDomainChunkSlots * kDomainMaxChunks;

// The calling thread's slot index in every domain, or kNoDomainSlot before
// its first section (and after its exit hook has given the index back).
// Constant-initialized, so reading it is one TLS load.
inline thread_local std::uint32_t domain_slot_index = kNoDomainSlot;

// The calling thread's innermost Domain::ReadGuard (they form a stack
// through their `outer_` links), for Domain::InReadSection().
inline thread_local const void* domain_guards = nullptr;

// Set once, before the first domain exists, if the membarrier() system call
// is unavailable: readers then need full fences of their own.
inline std::atomic<bool> domain_readers_fence{false};

// A full fence. ThreadSanitizer does not support fences: there it is a
// sequentially consistent read-modify-write, a full barrier on x86 too.
inline void FullFence() {
#if RCU_INTERNAL_TSAN
  static std::atomic<int> fence_word{0};
  fence_word.fetch_add(0, std::memory_order_seq_cst);
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

inline void AcquireFence() {
#if RCU_INTERNAL_TSAN
  FullFence();
#else
  std::atomic_thread_fence(std::memory_order_acquire);
#endif
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void DomainReaderFence() {
  if (ABSL_PREDICT_FALSE(domain_readers_fence.load(std::memory_order_relaxed))) {
    FullFence();
  } else {
    std::atomic_signal_fence(std::memory_order_seq_cst);  // membarrier does the rest
  }
}

// Increments a counter of the calling thread's own slot, which no other
// thread writes, with `order` (relaxed for a lock, release for an unlock).
// It must be one instruction: a signal handler that runs a section of the
// same domain on this thread, between the load and the store of a plain
// increment, would lose its own increment (the counts would then never
// match, or match while a section is open). On x86-64 that is an `add` to
// memory without the lock prefix: indivisible on its own CPU, as cheap as a
// load and a store, no other thread writes the word, and x86 orders the
// section's loads and stores before it (a release) while the memory clobber
// keeps the compiler from moving them. Elsewhere, and for ThreadSanitizer,
// an atomic fetch_add.
template <std::memory_order kOrder>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void IncrementOwnCounter(std::atomic<std::uint64_t>& counter) {
#if defined(__x86_64__) && !RCU_INTERNAL_TSAN
  static_assert(sizeof(counter) == sizeof(std::uint64_t));
  asm volatile("addq $1, %0" : "+m"(counter) : : "memory");
#else
  counter.fetch_add(1, kOrder);
#endif
}

// Takes a slot index for the calling thread (and installs the exit hook
// that gives it back); returns kNoDomainSlot if none is left or the thread
// is exiting.
std::uint32_t TakeDomainSlotIndex();

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_DOMAIN_READ_SIDE_H_
