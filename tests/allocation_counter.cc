#include "tests/allocation_counter.h"

#include <cstdlib>
#include <new>

namespace rcu_test {
namespace {
thread_local long allocations = 0;
}  // namespace

long ThreadAllocations() { return allocations; }

}  // namespace rcu_test

void* operator new(std::size_t size) {
  ++rcu_test::allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  ++rcu_test::allocations;
  return std::malloc(size == 0 ? 1 : size);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
