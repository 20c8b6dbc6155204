// Internal: rcu::HashMap across fork().
//
// The child of a fork() has only the forking thread. A stripe lock that
// another thread held at the fork would stay locked there forever, and the
// child's first write to that stripe would hang. So every map that has
// stripes is registered here, and the library's fork handler (the
// kContainers stage, rcu/internal/fork_hooks.h) takes every stripe of every
// registered map before the fork, once no grace period and no callback
// batch is in progress: writers hold a stripe only briefly and never wait for a reader
// while they hold it. Both processes then release them. In the child, the
// resize lock (whose holder may wait for a grace period, so it is not taken
// before the fork) is made anew, and the cookie of the last resize reads as
// completed (no reader of the old links exists there).
//
// A map registers itself when it first gets its stripes, and unregisters in
// its destructor. Registration takes one process-wide lock and allocates
// nothing.
#ifndef CONTAINERS_INTERNAL_HASH_MAP_FORK_H_
#define CONTAINERS_INTERNAL_HASH_MAP_FORK_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <atomic>
#include <cstdint>

#include "containers/internal/hash_map_table.h"
#include "rcu/grace_period.h"
#include "rcu/mutex.h"

namespace rcu {
namespace internal {

// One map's entry in the process-wide registry; a member of the map. Not
// copyable or movable: it points into the map it is part of.
class HashMapForkEntry {
 public:
  HashMapForkEntry() = default;
  HashMapForkEntry(const HashMapForkEntry&) = delete;
  HashMapForkEntry& operator=(const HashMapForkEntry&) = delete;
  ~HashMapForkEntry() { Unregister(); }

  // Registers the map whose stripes, resize lock and resize cookie these
  // are, unless it is already registered.
  void Register(std::atomic<HashMapStripe*>* stripes, Mutex* resize_mu,
                GracePeriodCookie* last_resize) {
    if (!registered_.load(std::memory_order_acquire)) RegisterSlow(stripes, resize_mu, last_resize);
  }
  // Before the map frees its stripes for good (its destructor).
  void Unregister() {
    if (registered_.load(std::memory_order_acquire)) UnregisterSlow();
  }

 private:
  friend struct HashMapForkHooks;
  void RegisterSlow(std::atomic<HashMapStripe*>* stripes, Mutex* resize_mu,
                    GracePeriodCookie* last_resize);
  void UnregisterSlow();

  // Guarded by the registry's lock (hash_map_fork.cc).
  HashMapForkEntry* prev_ = nullptr;
  HashMapForkEntry* next_ = nullptr;
  std::atomic<HashMapStripe*>* stripes_ = nullptr;
  Mutex* resize_mu_ = nullptr;
  GracePeriodCookie* last_resize_ = nullptr;
  // Across a fork: the stripes the prepare handler locked (a bit per stripe;
  // a stripe the forking thread already held is left alone).
  HashMapStripe* locked_ = nullptr;
  std::uint64_t locked_mask_ = 0;
  std::atomic<bool> registered_{false};
};

}  // namespace internal
}  // namespace rcu

#endif  // CONTAINERS_INTERNAL_HASH_MAP_FORK_H_
