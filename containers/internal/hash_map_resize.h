// Internal: rcu::HashMap's first allocation, growth and shrinking, and the
// relativistic resize. Part of containers/hash_map.h, which includes it at its
// end; include that instead.
//
// The resize protocol, after Triplett, McKenney and Walpole (USENIX ATC 2011):
// every entry has two links, one per array generation. A resize threads every
// entry into a fresh array through the links the current array does not use,
// with all stripes locked, and publishes the array with one release store.
// Readers of the old array keep walking its links undisturbed. Those links are
// reused by the resize after next, so a resize first waits (or, for a plain
// writer, which must never wait, gives up) until the grace period after the
// last resize has passed; each resize gets that grace period going at once.
#ifndef CONTAINERS_INTERNAL_HASH_MAP_RESIZE_H_
#define CONTAINERS_INTERNAL_HASH_MAP_RESIZE_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <memory>
#include <mutex>
#include <new>
#include <thread>

#include "absl/base/optimization.h"
#include "containers/hash_map.h"
#include "containers/internal/hash_map_section.h"
#include "containers/internal/hash_map_table.h"
#include "rcu/grace_period.h"
#include "rcu/internal/callback_worker.h"
#include "rcu/mutex.h"
#include "rcu/read_guard.h"

namespace rcu {

// --- The public entry points ---------------------------------------------------------

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline void HashMap<K, V, Hash, Eq, Alloc>::reserve(size_type count) {
  const size_type buckets = BucketsFor(count);
  min_buckets_.store(buckets, std::memory_order_relaxed);
  if (buckets > bucket_count()) RequestResize(buckets);
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline void HashMap<K, V, Hash, Eq, Alloc>::rehash(size_type count) {
  min_buckets_.store(BucketCountFor(count), std::memory_order_relaxed);
  RequestResize(std::max(BucketCountFor(count), BucketsFor(size())));
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline void HashMap<K, V, Hash, Eq, Alloc>::max_load_factor(float factor) {
  // At least 0.125; NaN, which no comparison lets through, is taken as 0.125
  // too rather than left to make every insert try a resize.
  max_load_factor_.store(factor >= 0.125f ? factor : 0.125f, std::memory_order_relaxed);
}

// --- Sizing ----------------------------------------------------------------------------

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline auto HashMap<K, V, Hash, Eq, Alloc>::BucketCountFor(size_type n) -> size_type {
  size_type count = kMinBuckets;
  while (count < n && count < (size_type{1} << 62)) count <<= 1;
  return count;
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline auto HashMap<K, V, Hash, Eq, Alloc>::BucketsFor(size_type entries) const -> size_type {
  // Rounded up: entries / factor just above a power of two needs the next
  // one (GrowFor() asks again with the same numbers, so a count rounded down
  // would leave the map above its factor). Past BucketCountFor()'s cap the
  // quotient is not converted (that would be undefined).
  const double buckets =
      std::ceil(static_cast<double>(entries) / static_cast<double>(max_load_factor()));
  constexpr size_type kCap = size_type{1} << 62;
  return BucketCountFor(buckets >= static_cast<double>(kCap) ? kCap
                                                             : static_cast<size_type>(buckets));
}

// Writers call this before taking their stripe: it gives the map its
// stripes and array on its first write (may throw std::bad_alloc: nothing
// changed yet), performs a resize that reserve() or rehash() left
// pending, and grows the array for `adding` more entries.
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline auto HashMap<K, V, Hash, Eq, Alloc>::PrepareWrite(size_type adding) -> Stripe* {
  Stripe* stripes = stripes_.load(std::memory_order_acquire);
  if (ABSL_PREDICT_FALSE(stripes == nullptr)) {
    stripes =
        Materialize(std::max(BucketsFor(adding), min_buckets_.load(std::memory_order_relaxed)));
  }
  if (ABSL_PREDICT_FALSE(pending_buckets_.load(std::memory_order_relaxed) != 0)) {
    ResizePending();
  }
  if (adding > 0) GrowFor(size() + adding);
  return stripes;
}

// Gives the map its stripes and a bucket array of `buckets`, unless some
// thread already has. Never waits for a thread that may be waiting for a
// grace period (so it is safe inside a read-side section): the only
// holder of resize_mu_ on a map without stripes is another materializer.
// Declared ABSL_ATTRIBUTE_NOINLINE, so not `inline` here (GCC rejects both).
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
auto HashMap<K, V, Hash, Eq, Alloc>::Materialize(size_type buckets) -> Stripe* {
  while (true) {
    if (Stripe* stripes = stripes_.load(std::memory_order_acquire)) return stripes;
    if (resize_mu_.TryLock()) {
      const bool ok = MaterializeLocked(buckets);
      resize_mu_.Unlock();
      if (!ok) throw std::bad_alloc();
    } else {
      std::this_thread::yield();
    }
  }
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline bool HashMap<K, V, Hash, Eq, Alloc>::MaterializeLocked(size_type buckets) {
  if (stripes_.load(std::memory_order_acquire) != nullptr) return true;
  std::unique_ptr<Stripe[]> stripes(new (std::nothrow) Stripe[internal::kHashMapStripes]);
  if (stripes == nullptr) return false;
  Table* table = Table::Create(buckets, 0);
  if (table == nullptr) return false;
  // The array first: a writer that sees the stripes sees it.
  table_.store(table, std::memory_order_release);
  stripes_.store(stripes.release(), std::memory_order_release);
  last_resize_ = CompletedState();  // no reader has seen these links
  RegisterForFork();
  return true;
}

// Automatic resizes never wait (see Resize()). Returns true if the array
// has room for `wanted` entries now. The bucket count is read under a
// guard (bucket_count()): a replaced array is freed after a grace period.
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline bool HashMap<K, V, Hash, Eq, Alloc>::GrowFor(size_type wanted) {
  if (static_cast<double>(wanted) <=
      static_cast<double>(bucket_count()) * static_cast<double>(max_load_factor())) {
    return true;
  }
  return Resize(BucketsFor(wanted), /*may_wait=*/false);
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline void HashMap<K, V, Hash, Eq, Alloc>::MaybeShrink() {
  const size_type buckets = bucket_count();
  const size_type floor = min_buckets_.load(std::memory_order_relaxed);
  if (buckets <= floor) return;
  if (static_cast<double>(size()) * 8 >=
      static_cast<double>(buckets) * static_cast<double>(max_load_factor())) {
    return;
  }
  Resize(std::max(BucketsFor(size()) * 2, floor), /*may_wait=*/false);
}

// reserve() and rehash(): resizes now, waiting if need be outside a
// read-side section; inside one, if that would need a wait, leaves it to
// the next write (PrepareWrite), which makes it once it needs no wait.
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline void HashMap<K, V, Hash, Eq, Alloc>::RequestResize(size_type target) {
  if (!Resize(target, /*may_wait=*/!InReadSection())) {
    pending_buckets_.store(target, std::memory_order_relaxed);
  } else {
    pending_buckets_.store(0, std::memory_order_relaxed);
  }
}

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline void HashMap<K, V, Hash, Eq, Alloc>::ResizePending() {
  const size_type target = pending_buckets_.exchange(0, std::memory_order_relaxed);
  if (target == 0) return;
  if (!Resize(target, /*may_wait=*/false)) {
    size_type none = 0;  // unless a newer request replaced it
    pending_buckets_.compare_exchange_strong(none, target, std::memory_order_relaxed);
  }
}

// --- The resize ------------------------------------------------------------------------

// Rebuilds the bucket array with `target` buckets: every node is threaded
// into the new array through its other link, then the array is published.
// Returns false, changing nothing, if it would have to wait and `may_wait`
// is false; returns true otherwise, also when it gives up because the array
// cannot be allocated (the map stays as it is).
//
// Only reserve() and rehash() called outside read-side sections pass
// may_wait = true. Every other caller is a plain writer, which may hold a
// lock that some reader waits for inside its section, so it must not wait
// for a grace period, nor for resize_mu_, whose holder may itself be
// waiting for one. Such a resize is skipped while the grace period after
// the last resize is pending (each resize hurries that grace period along,
// so a later write soon finds it passed); the old array is always freed
// through a callback. No stripe lock is ever held across anything that
// can wait for a grace period.
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
inline bool HashMap<K, V, Hash, Eq, Alloc>::Resize(size_type target, bool may_wait) {
  std::unique_lock<Mutex> resize_lock(resize_mu_, std::defer_lock);
  if (may_wait) {
    resize_lock.lock();
  } else if (!resize_lock.try_lock()) {
    return false;
  }
  Stripe* stripes = stripes_.load(std::memory_order_acquire);
  if (stripes == nullptr) {
    MaterializeLocked(target);
    return true;
  }
  // The new array reuses the links of the array before the current one:
  // readers of that one must be gone.
  if (!PollState(last_resize_)) {
    if (!may_wait) return false;
    CondSynchronize(last_resize_);
  }
  // clear() replaces the array without resize_mu_ (keeping its shape) and
  // retires the old one: read it under a guard. The shape cannot change
  // while resize_mu_ is held.
  std::size_t shape;
  {
    ReadGuard guard;
    const Table* current = table_.load(std::memory_order_acquire);
    if (ABSL_PREDICT_FALSE(internal::hash_map_resize_hook_for_testing != nullptr)) {
      internal::hash_map_resize_hook_for_testing();
    }
    shape = current->shape();
  }
  if (Table::MaskOf(shape) + 1 == target) return true;
  Table* fresh = Table::Create(target, 1 - Table::GenerationOf(shape));
  if (fresh == nullptr) return true;
  Table* old_array;
  {
    internal::AllStripesLock lock(stripes);
    Table* old = table_.load(std::memory_order_relaxed);
    const int g = old->generation();
    const int h = fresh->generation();
    for (std::size_t b = 0; b < old->size(); ++b) {
      for (Node* node = old->at(b).load(std::memory_order_relaxed); node != nullptr;
           node = node->next[g].load(std::memory_order_relaxed)) {
        std::atomic<Node*>& head = fresh->bucket(node->hash);
        node->next[h].store(head.load(std::memory_order_relaxed), std::memory_order_relaxed);
        head.store(node, std::memory_order_relaxed);
      }
    }
    table_.store(fresh, std::memory_order_release);  // publishes every new link
    old_array = old;
  }
  // Taken after the publication (a later cookie is only more conservative).
  // GetState() cannot fail; StartPoll() also gets the grace period going,
  // but allocates, and the cookie must be updated even if it cannot.
  last_resize_ = GetState();
  try {
    last_resize_ = StartPoll();
    // Now rather than at the callback worker's usual pace: the next
    // automatic resize waits for nothing, and is skipped until then.
    internal::HurryCallbackWorker();
  } catch (const std::bad_alloc&) {
    // The grace period starts with the next callback batch.
  }
  resize_lock.unlock();
  old_array->RetireAlone();  // allocates nothing: cannot fail
  return true;
}

}  // namespace rcu

#endif  // CONTAINERS_INTERNAL_HASH_MAP_RESIZE_H_
