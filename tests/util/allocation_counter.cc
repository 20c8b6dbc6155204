#include "tests/util/allocation_counter.h"

#include <atomic>
#include <cstdlib>
#include <new>

namespace rcu_test {
namespace {

thread_local long allocations = 0;

// Failure injection, per thread: the allocation numbered fail_at (counted
// from the last FailNthAllocation()) fails, and with fail_later every one
// after it.
thread_local long fail_at = 0;
thread_local long seen_since_armed = 0;
thread_local bool fail_later = false;
thread_local bool injected = false;

std::atomic<long> live{0};

// Counts an allocation of the calling thread; true if it must fail.
bool CountAndDecide() {
  ++allocations;
  if (fail_at == 0) return false;
  ++seen_since_armed;
  if (seen_since_armed == fail_at || (fail_later && seen_since_armed > fail_at)) {
    injected = true;
    return true;
  }
  return false;
}

void* Allocate(std::size_t size) {
  if (CountAndDecide()) return nullptr;
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p != nullptr) live.fetch_add(1, std::memory_order_relaxed);
  return p;
}

void* AllocateAligned(std::size_t size, std::align_val_t align) {
  if (CountAndDecide()) return nullptr;
  const std::size_t alignment = static_cast<std::size_t>(align);
  // aligned_alloc wants a multiple of the alignment.
  const std::size_t rounded = (size + alignment - 1) / alignment * alignment;
  void* p = std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded);
  if (p != nullptr) live.fetch_add(1, std::memory_order_relaxed);
  return p;
}

void Free(void* p) {
  if (p == nullptr) return;
  live.fetch_sub(1, std::memory_order_relaxed);
  std::free(p);
}

}  // namespace

long ThreadAllocations() { return allocations; }

void FailNthAllocation(long n, bool and_later) {
  fail_at = n < 0 ? 0 : n;
  fail_later = and_later;
  seen_since_armed = 0;
  injected = false;
}

bool InjectedFailureHappened() { return injected; }

long LiveAllocations() { return live.load(std::memory_order_relaxed); }

}  // namespace rcu_test

void* operator new(std::size_t size) {
  if (void* p = rcu_test::Allocate(size)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return rcu_test::Allocate(size);
}
void* operator new[](std::size_t size) {
  if (void* p = rcu_test::Allocate(size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return rcu_test::Allocate(size);
}
void* operator new(std::size_t size, std::align_val_t align) {
  if (void* p = rcu_test::AllocateAligned(size, align)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return rcu_test::AllocateAligned(size, align);
}
void* operator new[](std::size_t size, std::align_val_t align) {
  if (void* p = rcu_test::AllocateAligned(size, align)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return rcu_test::AllocateAligned(size, align);
}
void operator delete(void* p) noexcept { rcu_test::Free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { rcu_test::Free(p); }
void operator delete(void* p, std::size_t) noexcept { rcu_test::Free(p); }
void operator delete[](void* p) noexcept { rcu_test::Free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { rcu_test::Free(p); }
void operator delete[](void* p, std::size_t) noexcept { rcu_test::Free(p); }
void operator delete(void* p, std::align_val_t) noexcept { rcu_test::Free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  rcu_test::Free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { rcu_test::Free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { rcu_test::Free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  rcu_test::Free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { rcu_test::Free(p); }
