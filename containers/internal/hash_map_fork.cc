// The fork() handlers of rcu::HashMap: see hash_map_fork.h.
#include "containers/internal/hash_map_fork.h"

#include <new>

#include "absl/base/thread_annotations.h"
#include "rcu/internal/fork_hooks.h"
#include "rcu/mutex.h"

namespace rcu {
namespace internal {
namespace {

static_assert(kHashMapStripes <= 64, "HashMapForkEntry::locked_mask_ has a bit per stripe");

// The registry: a list of every map that has stripes. Held from the fork's
// prepare handler until the parent's and the child's handlers.
ABSL_CONST_INIT Mutex registry_mu;
HashMapForkEntry* registry_head ABSL_GUARDED_BY(registry_mu) = nullptr;

}  // namespace

struct HashMapForkHooks {
  static void Prepare() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    registry_mu.Lock();
    for (HashMapForkEntry* e = registry_head; e != nullptr; e = e->next_) {
      HashMapStripe* stripes = e->stripes_->load(std::memory_order_acquire);
      e->locked_ = stripes;
      e->locked_mask_ = 0;
      if (stripes == nullptr) continue;
      for (std::size_t s = 0; s < kHashMapStripes; ++s) {
        if (stripes[s].mu.HeldByCurrentThread()) continue;  // forked under its own write
        stripes[s].mu.Lock();
        e->locked_mask_ |= std::uint64_t{1} << s;
      }
    }
  }

  static void Release(HashMapForkEntry* e) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (std::size_t s = 0; s < kHashMapStripes; ++s) {
      if (e->locked_mask_ & (std::uint64_t{1} << s)) e->locked_[s].mu.Unlock();
    }
    e->locked_ = nullptr;
    e->locked_mask_ = 0;
  }

  static void Parent() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (HashMapForkEntry* e = registry_head; e != nullptr; e = e->next_) Release(e);
    registry_mu.Unlock();
  }

  // Only the forking thread exists: whoever held a resize lock is gone, and
  // no reader can be on the links an earlier resize left.
  static void Child(ForkChildCallbacks& /*inherited*/) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (HashMapForkEntry* e = registry_head; e != nullptr; e = e->next_) {
      Release(e);
      new (e->resize_mu_) Mutex;  // the old one may be locked by a thread not here
      *e->last_resize_ = CompletedState();
    }
    registry_mu.Unlock();
  }
};

namespace {

[[maybe_unused]] const bool fork_hooks_registered = RegisterForkHandlers(
    ForkStage::kContainers,
    {&HashMapForkHooks::Prepare, &HashMapForkHooks::Parent, &HashMapForkHooks::Child});

}  // namespace

void HashMapForkEntry::RegisterSlow(std::atomic<HashMapStripe*>* stripes, Mutex* resize_mu,
                                    GracePeriodCookie* last_resize) {
  MutexLock lock(registry_mu);
  if (registered_.load(std::memory_order_relaxed)) return;
  stripes_ = stripes;
  resize_mu_ = resize_mu;
  last_resize_ = last_resize;
  prev_ = nullptr;
  next_ = registry_head;
  if (registry_head != nullptr) registry_head->prev_ = this;
  registry_head = this;
  registered_.store(true, std::memory_order_release);
}

void HashMapForkEntry::UnregisterSlow() {
  MutexLock lock(registry_mu);
  if (!registered_.load(std::memory_order_relaxed)) return;
  if (prev_ != nullptr) {
    prev_->next_ = next_;
  } else {
    registry_head = next_;
  }
  if (next_ != nullptr) next_->prev_ = prev_;
  prev_ = next_ = nullptr;
  registered_.store(false, std::memory_order_release);
}

}  // namespace internal
}  // namespace rcu
