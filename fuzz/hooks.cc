// The countdown behind fuzz/hooks.h, and a global operator new that consults
// it. Compiled into each fuzzer binary (not a library: a sanitizer runtime
// loaded first would otherwise provide operator new).
#include "fuzz/hooks.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <new>

namespace fuzz {
namespace {

thread_local std::uint32_t countdown = 0;  // 0: disarmed
thread_local std::uint32_t armed_kinds = 0;
thread_local bool keep_failing = false;
thread_local bool fired = false;

// True if this call, of kind `kind`, must fail.
bool Fires(HookKind kind) {
  if ((armed_kinds & kind) == 0) return false;
  if (fired && keep_failing) return true;
  if (countdown == 0 || --countdown != 0) return false;
  fired = true;
  return true;
}

}  // namespace

std::atomic<long> live[kNumCounted];

void Arm(std::uint32_t n, std::uint32_t kinds, bool persistent) {
  countdown = n;
  armed_kinds = n == 0 ? 0 : kinds;
  keep_failing = persistent;
  fired = false;
}

bool Disarm() {
  countdown = 0;
  armed_kinds = 0;
  return fired;
}

void Hook(HookKind kind) {
  if (!Fires(kind)) return;
  if ((kind & kAllocation) != 0) throw std::bad_alloc();
  throw Injected();
}

bool HookFails(HookKind kind) { return Fires(kind); }

HooksPaused::HooksPaused() : kinds_(armed_kinds) { armed_kinds = 0; }
HooksPaused::~HooksPaused() { armed_kinds = kinds_; }

void Fail(const char* format, ...) {
  va_list args;
  va_start(args, format);
  std::fputs("fuzz: ", stderr);
  std::vfprintf(stderr, format, args);
  std::fputs("\n", stderr);
  va_end(args);
  std::fflush(stderr);
  std::abort();
}

}  // namespace fuzz

void* operator new(std::size_t size) {
  fuzz::Hook(fuzz::kNew);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  if (fuzz::HookFails(fuzz::kNew)) return nullptr;
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept {
  return operator new(size, tag);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
