// Internal: type-stable reuse of rcu::HashMap's entries, per writing thread.
//
// Without it, every update allocates a node, and the node it replaces is
// freed by the callback thread after a grace period: a cross-thread free()
// per update, on a thread that competes with the writers for the cores. With
// it, a thread's retired nodes stay with that thread, in batches, each with a
// grace-period cookie (rcu::StartPoll(), one per batch). Once a batch's grace
// period has elapsed, the thread's next inserts and updates build their
// entries in those nodes instead of allocating: no malloc, no free, no
// callback per node.
//
// Only for maps whose nodes any map of the same type could have allocated
// and freed, and whose allocator allows the memory to stay with the thread
// (std::allocator, or a stateless allocator that opts in:
// kAllocatorAllowsRecycling in hash_map_table.h), and whose keys and values
// are trivially destructible, so that delaying their destruction from
// "after the grace period" to "when the memory is reused" is unobservable:
// rcu::Barrier() still means every erased value has been destroyed. (It no
// longer means every node is back in the allocator: a thread keeps its
// batches until it reuses or frees them, or exits. That is why other
// allocators, which may count, track or purge their memory, are left out.
// An allocator that opts in gets the nodes of the main thread back from the
// callback thread during exit().)
//
// Bounds: a thread keeps at most kRecyclerBatches sealed batches of
// kRecyclerBatchSize nodes per node type (65,536 nodes; for uint64_t ->
// uint64_t about 4 MiB), plus the open batch and the one being reused
// (kRecyclerBatchSize each). Past
// that, a retired node goes the usual way (the callback thread frees it).
// Each time it seals a batch, a thread that asked for fewer than half as
// many nodes as it retired while filling that batch (an erase loop) frees
// the batches whose grace period has elapsed beyond kRecyclerReadyBatches
// itself; when every slot is taken, any thread does so before sealing. A
// thread that reuses at least half as many as it retires (updates,
// insert/erase churn) keeps them, up to the bound above: it consumes them
// while the batches behind them wait for their grace period. (Trimming those too made a busy
// updater free, at the first seal after each grace period, all but a few of the batches that period
// had released, and allocate again: it reused about 10% of its nodes.) A thread that reuses between
// half and all of what it retires, or that wrote behind a stalled reader, can so keep up to the
// whole bound while it goes on writing; once it erases more than it reuses
// it trims to a few batches again. A thread that stops writing keeps what
// it kept until it writes again or exits; at thread exit every kept node is
// freed, after its grace period.
//
// A node in a batch keeps its links and its value until it is reused, so a
// reader that still stands on it (its grace period has not elapsed) reads
// what it read before. Batches are chained through the node's RcuHead link,
// which the callback queue would otherwise use.
#ifndef CONTAINERS_INTERNAL_HASH_MAP_RECYCLER_H_
#define CONTAINERS_INTERNAL_HASH_MAP_RECYCLER_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <cstddef>
#include <exception>
#include <type_traits>

#include "containers/internal/hash_map_section.h"
#include "rcu/call_rcu.h"
#include "rcu/grace_period.h"
#include "rcu/internal/negative_control.h"
#include "rcu/internal/rcu_head_access.h"
#include "rcu/internal/sanitizer.h"

#if RCU_INTERNAL_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace rcu {
namespace internal {

inline constexpr std::size_t kRecyclerBatchSize = 256;
// Enough sealed batches to cover the nodes a busy writer retires while one
// grace period is pending (the callback thread starts at most one batch per
// 10 ms; at 3-6 M retirements per second that is 30-60 thousand nodes).
inline constexpr std::size_t kRecyclerBatches = 256;
// Batches past their grace period that a thread retiring more than it
// reuses (an erase loop) keeps; more are freed (by the thread itself) when
// it seals its next batch, so that it does not sit on them.
inline constexpr std::size_t kRecyclerReadyBatches = 4;

// One thread's kept nodes of one type. Node is a HashNode: it derives from
// RcuHead and has static Reclaim(RcuHead*) and Destroy(Node*).
template <typename Node>
class NodeRecycler {
 public:
  // The calling thread's recycler for Node; made on first use.
  static NodeRecycler& ForThisThread() {
    // The recycler itself is trivially destructible, so it stays usable
    // through the thread's exit; `closer`, made after it, closes it when the
    // thread exits. (A destructor that cleared the recycler's own fields
    // would not do: the compiler may drop stores to an object whose
    // lifetime ends, and a later thread-exit destructor that writes to a map
    // would then find the freed nodes still listed.)
    static thread_local NodeRecycler recycler;
    static thread_local Closer closer{&recycler};
    return recycler;
  }

  NodeRecycler() = default;
  NodeRecycler(const NodeRecycler&) = delete;
  NodeRecycler& operator=(const NodeRecycler&) = delete;

 private:
  struct Closer {
    NodeRecycler* recycler;
    ~Closer() { recycler->Close(); }
  };

  // Thread exit: reused nodes are freed now, the rest after their grace
  // period (through the callback thread). Later writes of the thread take
  // the usual path.
  void Close() noexcept {
    while (Node* node = PopReady()) Node::Destroy(node);
    for (std::size_t i = 0; i < sealed_count_; ++i) {
      RetireChain(sealed_[(sealed_first_ + i) % kRecyclerBatches].first);
    }
    RetireChain(open_);
    open_ = nullptr;
    open_count_ = 0;
    sealed_count_ = 0;
    // A later thread-exit destructor (of another thread_local) may still
    // write to a map: it then gets the usual path.
    closed_ = true;
  }

 public:
  // Takes `node`, unlinked by the caller, whose readers may still stand on
  // it. Returns false, having done nothing, when this thread keeps as many
  // nodes as it may: the caller then retires it the usual way. Never waits;
  // may be called inside a read-side section (it may queue one grace-period
  // callback per batch, which allocates; if that fails, the batch is retired
  // the usual way).
  bool Push(Node* node) noexcept {
    if (closed_) return false;
    if (open_count_ == kRecyclerBatchSize) {
      if (sealed_count_ == kRecyclerBatches) FreeSurplus();
      if (!Seal()) return false;
    }
    RcuHeadAccess::Next(node) = open_;
    open_ = node;
    ++open_count_;
    return true;
  }

  // A node whose grace period has elapsed (no reader can reach it), still
  // holding its old, trivially destructible, entry; or nullptr.
  Node* Pop() noexcept {
    ++asked_;
    if (ready_ == nullptr && sealed_count_ > 0) {
      Sealed& oldest = sealed_[sealed_first_];
#if RCU_BUG_PUT_BACK(MAP_RECYCLE_EARLY)
      const bool elapsed = true;  // the bug: reused before its grace period
#else
      const bool elapsed = PollState(oldest.cookie);
#endif
      if (elapsed) {
        ready_ = oldest.first;
        ready_count_ = kRecyclerBatchSize;
        Poison(ready_);
        sealed_first_ = (sealed_first_ + 1) % kRecyclerBatches;
        --sealed_count_;
      }
    }
    return PopReady();
  }

  // Tests: how many nodes this thread keeps (open, sealed and ready).
  std::size_t KeptForTesting() const {
    return open_count_ + sealed_count_ * kRecyclerBatchSize + ready_count_;
  }

 private:
  struct Sealed {
    RcuHead* first;
    GracePeriodCookie cookie;
  };

  // Closes the open batch with a cookie. False if every slot is taken.
  bool Seal() noexcept {
    if (sealed_count_ == kRecyclerBatches) return false;
    GracePeriodCookie cookie;
    try {
      cookie = StartPoll();
    } catch (const std::exception&) {
      // No memory for the grace-period callback: hand this batch over.
      RetireChain(open_);
      open_ = nullptr;
      open_count_ = 0;
      return true;
    }
    sealed_[(sealed_first_ + sealed_count_) % kRecyclerBatches] = {open_, cookie};
    ++sealed_count_;
    open_ = nullptr;
    open_count_ = 0;
    // Asked for fewer than half as many nodes as this batch retired: it
    // retires more than it reuses.
    if (asked_ < kRecyclerBatchSize / 2) FreeSurplus();
    asked_ = 0;
    return true;
  }

  // Frees the oldest sealed batches past their grace period while more than
  // kRecyclerReadyBatches of them wait at the front of the ring.
  void FreeSurplus() noexcept {
    std::size_t elapsed = 0;
    while (elapsed < sealed_count_ &&
           PollState(sealed_[(sealed_first_ + elapsed) % kRecyclerBatches].cookie)) {
      ++elapsed;
    }
    for (; elapsed > kRecyclerReadyBatches; --elapsed) {
      RcuHead* head = sealed_[sealed_first_].first;
      sealed_first_ = (sealed_first_ + 1) % kRecyclerBatches;
      --sealed_count_;
      while (head != nullptr) {
        RcuHead* next = RcuHeadAccess::Next(head);
        Node::Destroy(static_cast<Node*>(head));
        head = next;
      }
    }
  }

  Node* PopReady() noexcept {
    if (ready_ == nullptr) return nullptr;
    Node* node = static_cast<Node*>(ready_);
    Unpoison(node);
    ready_ = RcuHeadAccess::Next(node);
    --ready_count_;
    return node;
  }

  // Retires each node of a chain through the callback thread.
  static void RetireChain(RcuHead* head) noexcept {
    while (head != nullptr) {
      RcuHead* next = RcuHeadAccess::Next(head);
      QueueReclaim(head, &Node::Reclaim);
      head = next;
    }
  }

  // AddressSanitizer: a kept node past its grace period is off limits until
  // reused, as if freed. (Its link is read once unpoisoned.)
  static void Poison(RcuHead* head) noexcept {
#if RCU_INTERNAL_ASAN
    while (head != nullptr) {
      Node* node = static_cast<Node*>(head);
      RcuHead* next = RcuHeadAccess::Next(head);
      ASAN_POISON_MEMORY_REGION(node, sizeof(Node));
      head = next;
    }
#else
    (void)head;
#endif
  }
  static void Unpoison(Node* node) noexcept {
#if RCU_INTERNAL_ASAN
    ASAN_UNPOISON_MEMORY_REGION(node, sizeof(Node));
#else
    (void)node;
#endif
  }

  // Retired nodes not yet sealed, newest first, chained through RcuHead.
  RcuHead* open_ = nullptr;
  std::size_t open_count_ = 0;
  // A ring of sealed batches, oldest at sealed_first_; each holds exactly
  // kRecyclerBatchSize nodes, chained, retired before its cookie was taken.
  Sealed sealed_[kRecyclerBatches];
  std::size_t sealed_first_ = 0;
  std::size_t sealed_count_ = 0;
  // Nodes past their grace period, chained (poisoned under ASan).
  RcuHead* ready_ = nullptr;
  std::size_t ready_count_ = 0;
  // Nodes the thread asked for (Pop() calls) since it last sealed a batch.
  std::size_t asked_ = 0;
  // Set when the thread's exit destroyed this recycler.
  bool closed_ = false;
};

}  // namespace internal
}  // namespace rcu

#endif  // CONTAINERS_INTERNAL_HASH_MAP_RECYCLER_H_
