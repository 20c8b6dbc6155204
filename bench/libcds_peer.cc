// bench/libcds_peer.cc: libcds's SplitListMap over its buffered URCU as a
// benchmark peer. See libcds_peer.h. Compiled with -mcx16 (bench/BUILD), as
// libcds itself is; libcds's headers are included here only.
#include "bench/libcds_peer.h"

// The order libcds asks for: the RCU flavor, the ordered list, the map.
#include <cds/init.h>
#include <cds/urcu/general_buffered.h>
// (keep apart: include order matters)
#include <cds/container/michael_list_rcu.h>
// (keep apart: include order matters)
#include <cds/container/split_list_map_rcu.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>

#include "absl/hash/hash.h"

namespace rcu_bench {
namespace {

namespace cc = cds::container;
using Rcu = cds::urcu::gc<cds::urcu::general_buffered<>>;

// The mapped value: Assign stores into the entry a reader may be loading, so
// the value is atomic (relaxed: plain loads and stores on x86-64). Copyable,
// because libcds copies the mapped value into a new node.
struct Slot {
  Slot(std::uint64_t v = 0) : value(v) {}  // NOLINT: implicit, as libcds constructs it
  Slot(const Slot& other) : value(other.value.load(std::memory_order_relaxed)) {}
  Slot& operator=(const Slot& other) {
    value.store(other.value.load(std::memory_order_relaxed), std::memory_order_relaxed);
    return *this;
  }
  std::atomic<std::uint64_t> value;
};

struct MapTraits : cc::split_list::traits {
  using ordered_list = cc::michael_list_tag;
  using hash = absl::Hash<std::uint64_t>;  // what rcu::HashMap uses by default
  struct ordered_list_traits : cc::michael_list::traits {
    using less = std::less<std::uint64_t>;
  };
};

using Map = cc::SplitListMap<Rcu, std::uint64_t, Slot, MapTraits>;

// The process's runtime: cds::Initialize() done and the RCU singleton built.
Rcu* rcu_instance = nullptr;

// Whether this thread is attached to libcds (a plain flag, so that the check
// on every operation is one TLS load).
thread_local bool this_thread_attached = false;

// Detaches its thread when the thread exits, if it is still attached.
struct Detacher {
  ~Detacher() {
    if (this_thread_attached) {
      cds::threading::Manager::detachThread();
      this_thread_attached = false;
    }
  }
};

void AttachSlow() {
  if (rcu_instance == nullptr) std::abort();  // no LibcdsRuntime
  static thread_local Detacher detacher;      // constructed here, destroyed at thread exit
  (void)detacher;
  if (!cds::threading::Manager::isThreadAttached()) cds::threading::Manager::attachThread();
  this_thread_attached = true;
}

inline void EnsureAttached() {
  if (!this_thread_attached) AttachSlow();
}

}  // namespace

struct LibcdsMap::Impl {
  explicit Impl(std::size_t capacity) : map(capacity, /*nLoadFactor=*/1) {}
  Map map;
};

LibcdsRuntime::LibcdsRuntime() {
  if (rcu_instance != nullptr) std::abort();  // one at a time
  cds::Initialize();
  rcu_instance = new Rcu();
  AttachSlow();
}

LibcdsRuntime::~LibcdsRuntime() {
  if (this_thread_attached) {
    cds::threading::Manager::detachThread();
    this_thread_attached = false;
  }
  delete rcu_instance;  // frees what is still buffered; detaches any thread left
  rcu_instance = nullptr;
  cds::Terminate();
}

LibcdsMap::LibcdsMap(std::size_t capacity) {
  EnsureAttached();
  impl_ = std::make_unique<Impl>(capacity);
}

LibcdsMap::~LibcdsMap() {
  EnsureAttached();  // the map's destructor retires its nodes
  impl_.reset();
}

std::uint64_t LibcdsMap::Lookup(std::uint64_t key) const {
  EnsureAttached();
  // Destroyed after the lock: a raw_ptr retires, on release, nodes that the
  // search unlinked, which must happen outside the read-side section.
  Map::raw_ptr found;
  std::uint64_t value = 0;
  {
    Map::rcu_lock lock;
    found = impl_->map.get(key);
    if (found) value = found->second.value.load(std::memory_order_relaxed);
  }
  return value;
}

void LibcdsMap::Insert(std::uint64_t key, std::uint64_t value) {
  EnsureAttached();
  impl_->map.insert(key, Slot(value));
}

void LibcdsMap::Assign(std::uint64_t key, std::uint64_t value) {
  EnsureAttached();
  impl_->map.update(key, [value](bool /*inserted*/, Map::value_type& item) {
    item.second.value.store(value, std::memory_order_relaxed);
  });
}

void LibcdsMap::Erase(std::uint64_t key) {
  EnsureAttached();
  impl_->map.erase(key);
}

void LibcdsBarrier() {
  if (rcu_instance == nullptr) return;
  EnsureAttached();
  Rcu::synchronize();
}

}  // namespace rcu_bench
