// Throwing hooks for the differential fuzzers: one countdown that user code
// handed to a container (hashes, equalities, copy constructors, predicates,
// disposers, allocators) and the global operator new consult, so that an
// input can make exactly the n-th such call of one operation fail; and
// counts of live objects, for leak checks that do not depend on a leak
// checker being present.
//
//   fuzz::Arm(3, fuzz::kAnyHook);          // the 3rd hook call from now throws
//   try { map.insert(...); } catch (const fuzz::Injected&) {}
//   bool fired = fuzz::Disarm();           // did it?
//
// Only the thread that armed the countdown is affected (the RCU callback
// thread never is). Linking hooks.cc replaces the global operator new and
// delete (see fuzz/BUILD).
#ifndef FUZZ_HOOKS_H_
#define FUZZ_HOOKS_H_

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>

namespace fuzz {

// What a hook call is; Arm() chooses which kinds count down.
enum HookKind : std::uint32_t {
  kHash = 1,
  kEquality = 2,
  kCopy = 4,        // copy or converting constructors of keys and values
  kPredicate = 8,   // predicates and functions passed to an operation
  kAllocator = 16,  // a container's allocator
  kNew = 32,        // the global operator new (bad_alloc)
  kUserCode = kHash | kEquality | kCopy | kPredicate,
  kAllocation = kAllocator | kNew,
  kAnyHook = kUserCode | kAllocation,
};

// What a throwing hook throws (allocation hooks throw std::bad_alloc).
struct Injected : std::exception {
  const char* what() const noexcept override { return "fuzz: injected exception"; }
};

// Makes the n-th hook call of the given kinds on this thread, counting from
// now, fail (n >= 1), and with `persistent`, every such call after it too
// (memory that stays exhausted); n == 0 disarms.
void Arm(std::uint32_t n, std::uint32_t kinds, bool persistent = false);
// Disarms; returns true if the armed failure happened.
bool Disarm();
// Called by each hook: throws (Injected, or std::bad_alloc for allocation
// kinds) if this call is the armed one.
void Hook(HookKind kind);
// For nothrow allocation: true if this call must fail.
bool HookFails(HookKind kind);

// Runs op(); returns true if it threw what a hook injects (Injected or
// std::bad_alloc). Anything else propagates.
template <typename F>
bool ThrewInjected(F&& op) {
  try {
    op();
    return false;
  } catch (const Injected&) {
    return true;
  } catch (const std::bad_alloc&) {
    return true;
  }
}

// Suspends the armed countdown for its lifetime, for the fuzzer's own code
// (its model, its checks) that runs inside an armed operation, such as in a
// predicate or an RcuList::Update() function.
class HooksPaused {
 public:
  HooksPaused();
  ~HooksPaused();
  HooksPaused(const HooksPaused&) = delete;
  HooksPaused& operator=(const HooksPaused&) = delete;

 private:
  std::uint32_t kinds_;
};

// Objects alive, by category, for leak checks after rcu::Barrier().
enum Counted { kKeys, kValues, kNodes, kItems, kNumCounted };
extern std::atomic<long> live[kNumCounted];

// Stops the process with a message: libFuzzer saves the input as a crash,
// and a replay run fails.
[[noreturn]] void Fail(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace fuzz

#define FUZZ_CHECK(condition, ...)                                                               \
  do {                                                                                           \
    if (!(condition)) {                                                                          \
      std::fprintf(stderr, "fuzz: check failed at %s:%d: %s\n", __FILE__, __LINE__, #condition); \
      ::fuzz::Fail(__VA_ARGS__);                                                                 \
    }                                                                                            \
  } while (false)

#endif  // FUZZ_HOOKS_H_
