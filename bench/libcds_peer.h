// bench/libcds_peer.h: libcds's cds::container::SplitListMap over libcds's
// own URCU (cds::urcu::gc<cds::urcu::general_buffered<>>) as a peer of
// rcu::HashMap in bench/hash_map_bench.cc and the showcase.
//
// libcds wants three things a user of rcu::HashMap never sees: the library
// initialized once (cds::Initialize(), an RCU singleton, cds::Terminate()),
// every thread attached before its first operation and detached before it
// exits, and -mcx16. LibcdsRuntime is the first, for the scope of main();
// the map attaches each thread on its first operation and detaches it when
// the thread exits; bench/BUILD compiles the implementation with -mcx16, and
// libcds's headers stay in libcds_peer.cc.
//
//   int main() {
//     rcu_bench::LibcdsRuntime libcds;  // before the first map, after the last
//     rcu_bench::LibcdsMap map(/*capacity=*/1 << 20);
//     map.Insert(key, value);             // inserts if absent
//     std::uint64_t v = map.Lookup(key);  // the value, or 0 if absent
//   }
//
// Lookups take libcds's RCU read lock around get(); Assign updates the value
// in place (a relaxed atomic store: SplitListMap has no node replacement),
// Erase unlinks the node and retires it to the buffered RCU, which waits for
// a grace period when its buffer (256 nodes) fills.
#ifndef BENCH_LIBCDS_PEER_H_
#define BENCH_LIBCDS_PEER_H_

#include <cstddef>
#include <cstdint>
#include <memory>

namespace rcu_bench {

// cds::Initialize() and the process's libcds RCU (general_buffered) for its
// lifetime; attaches the constructing thread and detaches it on destruction,
// then cds::Terminate(). One at a time. Every LibcdsMap must be destroyed,
// and every other thread that used one must have exited, before it is.
class LibcdsRuntime {
 public:
  LibcdsRuntime();
  ~LibcdsRuntime();
  LibcdsRuntime(const LibcdsRuntime&) = delete;
  LibcdsRuntime& operator=(const LibcdsRuntime&) = delete;
};

// uint64_t keys and values; thread-safe. Requires a live LibcdsRuntime.
// Each calling thread is attached to libcds on its first call (and detached
// when it exits); that thread must not call inside a libcds RCU lock.
class LibcdsMap {
 public:
  // Presized for `capacity` entries (load factor 1).
  explicit LibcdsMap(std::size_t capacity);
  // No reader or writer may be left.
  ~LibcdsMap();
  LibcdsMap(const LibcdsMap&) = delete;
  LibcdsMap& operator=(const LibcdsMap&) = delete;

  // The value, or 0 if absent.
  std::uint64_t Lookup(std::uint64_t key) const;
  // Inserts unless present.
  void Insert(std::uint64_t key, std::uint64_t value);
  // Inserts, or stores `value` into the present entry.
  void Assign(std::uint64_t key, std::uint64_t value);
  void Erase(std::uint64_t key);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Waits for a grace period of libcds's RCU and frees what erased entries
// are buffered for reclamation. Outside any libcds RCU lock.
void LibcdsBarrier();

}  // namespace rcu_bench

#endif  // BENCH_LIBCDS_PEER_H_
