// bench/locked_map_peer.h: a hash map behind one reader-writer mutex, the
// classic way to share a map between threads, as a peer for rcu::HashMap in
// bench/hash_map_bench.cc.
//
// Lookups take the mutex shared, writes take it exclusive. `Map` is any map
// with find, try_emplace, insert_or_assign, erase and reserve
// (std::unordered_map, absl::flat_hash_map); `Mutex` is absl::Mutex or any
// standard shared mutex (std::shared_mutex, std::shared_timed_mutex).
//
//   namespace {
//   struct SharedMutexMap
//       : rcu_bench::LockedMapPeer<std::unordered_map<std::uint64_t, std::uint64_t>,
//                                  std::shared_mutex, SharedMutexMap> {
//     using LockedMapPeer::LockedMapPeer;
//   };
//   }  // namespace
//
//   SharedMutexMap map(/*capacity=*/1 << 20);
//   map.Insert(key, value);             // inserts if absent
//   std::uint64_t v = map.Lookup(key);  // the value, or 0 if absent
#ifndef BENCH_LOCKED_MAP_PEER_H_
#define BENCH_LOCKED_MAP_PEER_H_

#include <cstddef>
#include <mutex>
#include <shared_mutex>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace rcu_bench {

namespace locked_map_internal {

// The lock objects a hand-written peer would use for `Mutex`, so that the
// peers compile to what such code compiles to: std::shared_lock and
// std::unique_lock for the standard shared mutexes.
template <typename Mutex>
struct LockObjects {
  using Shared = std::shared_lock<Mutex>;
  using Exclusive = std::unique_lock<Mutex>;
  static Mutex& Arg(Mutex& mu) { return mu; }
};

template <>
struct LockObjects<absl::Mutex> {
  using Shared = absl::ReaderMutexLock;
  using Exclusive = absl::MutexLock;
  static absl::Mutex* Arg(absl::Mutex& mu) { return &mu; }
};

// Holds `mu` shared for its lifetime, in a way clang's thread-safety
// analysis can see.
template <typename Mutex>
class ABSL_SCOPED_LOCKABLE SharedLock {
 public:
  explicit SharedLock(Mutex& mu) ABSL_SHARED_LOCK_FUNCTION(mu)
      : lock_(LockObjects<Mutex>::Arg(mu)) {}
  ~SharedLock() ABSL_UNLOCK_FUNCTION() {}
  SharedLock(const SharedLock&) = delete;
  SharedLock& operator=(const SharedLock&) = delete;

 private:
  typename LockObjects<Mutex>::Shared lock_;
};

// Holds `mu` exclusively for its lifetime, likewise.
template <typename Mutex>
class ABSL_SCOPED_LOCKABLE ExclusiveLock {
 public:
  explicit ExclusiveLock(Mutex& mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu)
      : lock_(LockObjects<Mutex>::Arg(mu)) {}
  ~ExclusiveLock() ABSL_UNLOCK_FUNCTION() {}
  ExclusiveLock(const ExclusiveLock&) = delete;
  ExclusiveLock& operator=(const ExclusiveLock&) = delete;

 private:
  typename LockObjects<Mutex>::Exclusive lock_;
};

}  // namespace locked_map_internal

// `Peer` is the benchmark's own class for this peer, which derives from this
// one (see the example above); it makes each instantiation local to the
// benchmark's file when `Peer` is declared in an unnamed namespace. GCC then
// inlines the operations into the benchmark loops as it does the other
// peers': an instantiation that could be shared across files is a weak
// symbol, which it inlines less eagerly, and that would add a call to this
// peer's cost alone.
template <typename Map, typename Mutex, typename Peer>
class LockedMapPeer {
 public:
  using Key = typename Map::key_type;
  using Value = typename Map::mapped_type;

  // Reserves room for `capacity` entries, so that no benchmark measures a
  // rehash.
  explicit LockedMapPeer(std::size_t capacity) { map_.reserve(capacity); }

  // The value under `key`, or Value() if absent.
  Value Lookup(Key key) const {
    locked_map_internal::SharedLock<Mutex> lock(mu_);
    auto it = map_.find(key);
    return it != map_.end() ? it->second : Value();
  }
  // Inserts (key, value) unless `key` is present.
  void Insert(Key key, Value value) {
    locked_map_internal::ExclusiveLock<Mutex> lock(mu_);
    map_.try_emplace(key, value);
  }
  // Inserts (key, value), or sets the value of a present `key`.
  void Assign(Key key, Value value) {
    locked_map_internal::ExclusiveLock<Mutex> lock(mu_);
    map_.insert_or_assign(key, value);
  }
  // Removes `key` if present.
  void Erase(Key key) {
    locked_map_internal::ExclusiveLock<Mutex> lock(mu_);
    map_.erase(key);
  }

 private:
  mutable Mutex mu_;
  Map map_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rcu_bench

#endif  // BENCH_LOCKED_MAP_PEER_H_
