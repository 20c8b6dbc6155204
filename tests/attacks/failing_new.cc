#include "tests/attacks/failing_new.h"

#include <cstdlib>
#include <new>

namespace review {
namespace {
thread_local long countdown = -1;
thread_local bool persistent_failure = false;
thread_local bool failing = false;
thread_local long failed = 0;
thread_local long attempted = 0;

bool ShouldFail() {
  ++attempted;
  if (failing) {
    ++failed;
    return true;
  }
  if (countdown < 0) return false;
  if (countdown-- == 0) {
    failing = persistent_failure;
    ++failed;
    return true;
  }
  return false;
}
}  // namespace

void FailAllocationsAfter(long n, bool persistent) {
  countdown = n;
  persistent_failure = persistent;
  failing = false;
}
long FailedAllocations() { return failed; }
long AttemptedAllocations() { return attempted; }

}  // namespace review

void* operator new(std::size_t size) {
  if (review::ShouldFail()) throw std::bad_alloc();
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  if (review::ShouldFail()) return nullptr;
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size) { return operator new(size); }
void* operator new[](std::size_t size, const std::nothrow_t& t) noexcept {
  return operator new(size, t);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
