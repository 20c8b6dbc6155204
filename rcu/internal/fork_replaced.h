// Internal: process-wide state that a fork() child replaces with a fresh
// instance.
//
// Some state cannot be carried into a fork() child: a condition variable
// that counts waiters from threads that do not exist there, a mutex that one
// of them held. The child gets a fresh instance instead. The old one is not
// destroyed (destroying a condition variable that has waiters blocks) and
// not lost to leak checkers either: each instance keeps the one it replaced
// reachable.
//
//   ForkReplaced<Worker> the_worker;          // a constant-initialized global
//   Worker& w = the_worker.Get();             // created on first use
//   Worker& old = the_worker.ReplaceInForkChild();  // in the child handler
#ifndef RCU_INTERNAL_FORK_REPLACED_H_
#define RCU_INTERNAL_FORK_REPLACED_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <atomic>
#include <new>

namespace rcu {
namespace internal {

template <typename T>
class ForkReplaced {
 public:
  constexpr ForkReplaced() = default;
  ForkReplaced(const ForkReplaced&) = delete;
  ForkReplaced& operator=(const ForkReplaced&) = delete;

  // The current instance. The first is made on first use, in static
  // storage: it allocates nothing, so that the library's first use cannot
  // fail for want of memory, and it is never destroyed (threads use it
  // during and after static destruction).
  T& Get() {
    Instance* current = current_.load(std::memory_order_acquire);
    if (current != nullptr) return current->value;
    alignas(Instance) static unsigned char storage[sizeof(Instance)];
    static Instance* const first = new (storage) Instance;
    current_.compare_exchange_strong(current, first, std::memory_order_acq_rel);
    return current_.load(std::memory_order_acquire)->value;
  }

  // For a fork() child handler, where only the calling thread exists:
  // installs a fresh instance (allocated: a failure there is fatal, as any
  // in a fork child handler) and returns the one it replaces, for the
  // caller to copy what carries over.
  T& ReplaceInForkChild() {
    Get();  // so that there is one to replace
    Instance* old = current_.load(std::memory_order_relaxed);
    auto* fresh = new Instance;
    fresh->replaced = old;
    current_.store(fresh, std::memory_order_release);
    return old->value;
  }

 private:
  struct Instance {
    T value;
    const Instance* replaced = nullptr;  // kept reachable, never used
  };
  std::atomic<Instance*> current_{nullptr};
};

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_FORK_REPLACED_H_
