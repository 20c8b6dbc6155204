// bench/rculfhash_peer.h: liburcu's rculfhash as a peer of rcu::HashMap in
// bench/hash_map_bench.cc.
//
// uint64_t keys and values in intrusive nodes, memb flavor. Every operation
// runs in its own read-side section; replaced and erased nodes are freed with
// call_rcu. Callers must be registered with liburcu (an rcu::ReadGuard
// registers a thread, and liburcu shares that registration).
//
// The implementation lives in its own file, compiled with _LGPL_SOURCE, so
// that liburcu's inline read side and its headers stay out of the benchmark's
// translation unit: there they would add call sites of liburcu's inline
// read-unlock and change the compiler's inlining decisions for
// rcu::ReadGuard. The cost is one direct call per operation, next to the call
// into liburcu-cds that every rculfhash lookup makes anyway.
#ifndef BENCH_RCULFHASH_PEER_H_
#define BENCH_RCULFHASH_PEER_H_

#include <cstddef>
#include <cstdint>

struct cds_lfht;

namespace rcu_bench {

class RculfhashMap {
 public:
  // Presized to `capacity` entries (rounded up to a power of two buckets),
  // with automatic resizing and split counters.
  explicit RculfhashMap(std::size_t capacity);
  // No reader or writer may be left.
  ~RculfhashMap();
  RculfhashMap(const RculfhashMap&) = delete;
  RculfhashMap& operator=(const RculfhashMap&) = delete;

  // The value, or 0 if absent.
  std::uint64_t Lookup(std::uint64_t key) const;
  // Inserts unless present.
  void Insert(std::uint64_t key, std::uint64_t value);
  // Inserts, or replaces the present node (the old one is freed by call_rcu).
  void Assign(std::uint64_t key, std::uint64_t value);
  void Erase(std::uint64_t key);

 private:
  cds_lfht* table_;
};

// urcu_memb_barrier(): waits for the call_rcu callbacks queued above.
void RculfhashBarrier();

}  // namespace rcu_bench

#endif  // BENCH_RCULFHASH_PEER_H_
