// Internal: process-wide state shared by the RCU core's translation units:
// the counters behind rcu::GetStats(), the callback-context flag, and the
// fork and exit hooks (rcu/internal/runtime.cc).
#ifndef RCU_INTERNAL_RUNTIME_H_
#define RCU_INTERNAL_RUNTIME_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>

namespace rcu {
namespace internal {

// Process-wide counters behind rcu::GetStats(). Relaxed increments.
struct Counters {
  std::atomic<std::uint64_t> grace_periods{0};
  std::atomic<std::uint64_t> callbacks_queued{0};
  std::atomic<std::uint64_t> callbacks_invoked{0};
  std::atomic<std::uint64_t> callbacks_failed{0};
  std::atomic<std::uint64_t> backlog_waits{0};
  std::atomic<std::uint64_t> worker_wakeups{0};
  std::atomic<std::uint64_t> stalls_reported{0};
  std::atomic<std::uint64_t> threads_registered{0};
  std::atomic<std::uint64_t> threads_unregistered{0};
  std::atomic<std::uint64_t> diagnostics_reported{0};
};
Counters& GetCounters();

inline void Bump(std::atomic<std::uint64_t>& counter) {
  counter.fetch_add(1, std::memory_order_relaxed);
}

// True while the calling thread runs an RCU callback (on the worker, or
// after the exit-time drain in the thread that queued it).
inline thread_local bool in_callback = false;

// Installs the fork and exit hooks; cheap after the first call.
void EnsureProcessHooks();

// fork() hooks of the containers built on the core, for their writers'
// locks. `prepare` runs in the library's fork prepare handler once no
// callback batch and no grace period is in progress, and before the library
// takes its own locks: it may wait for locks that writers hold briefly (a
// writer blocked there may be inside a read-side section: nothing waits for
// readers any more), never for a reader or a callback. `parent` and `child`
// run after the library's own handlers, in registration order. Register
// each set once per process (from a static initializer); at most
// kMaxContainerForkHooks sets. Allocates nothing.
struct ContainerForkHooks {
  void (*prepare)();
  void (*parent)();
  void (*child)();
};
inline constexpr int kMaxContainerForkHooks = 8;
void RegisterContainerForkHooks(const ContainerForkHooks& hooks);

// The calling thread's kernel thread id.
pid_t CurrentThreadId();

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_RUNTIME_H_
