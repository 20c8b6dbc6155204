// Internal: the registry of reader threads, for the stall watchdog.
#ifndef RCU_INTERNAL_THREAD_REGISTRY_H_
#define RCU_INTERNAL_THREAD_REGISTRY_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>

#include "absl/time/time.h"

namespace rcu {
namespace internal {

// One registered thread: a thread_local record of the thread itself, so
// that registering allocates nothing (a first ReadGuard cannot fail), linked
// into the registry while the thread is registered. Other threads touch it
// only under the registry lock.
struct ReaderThread {
  pid_t tid = 0;
  pthread_t handle = 0;
  // liburcu's reader word for this thread (its nesting count and grace-period
  // phase). Written by the owner thread; read with relaxed atomics by the
  // watchdog while the owner cannot exit (the registry lock is held).
  const unsigned long* urcu_ctr = nullptr;
  // The count of this thread's outermost sections, where the reader word
  // does not carry it (call mode, see rcu/read_guard.h); null otherwise.
  const std::atomic<std::uint64_t>* sections = nullptr;
  // Links in the registry's list, guarded by its lock.
  ReaderThread* prev = nullptr;
  ReaderThread* next = nullptr;

  // Watchdog bookkeeping, touched only by the watchdog under the registry lock.
  unsigned long stalled_ctr = 0;                    // reader word when the stall began
  std::uint64_t stalled_sections = 0;               // *sections when the stall began
  absl::Time stalled_since = absl::InfinitePast();  // InfinitePast: not stalled
  absl::Time last_report = absl::InfinitePast();
};

// Calls `fn` for every registered thread, with the registry lock held. `fn`
// must not register threads or block.
void ForEachReaderThread(const std::function<void(ReaderThread&)>& fn);

// Registers the calling thread with liburcu and with the stall watchdog,
// and arranges for it to be unregistered when the thread exits (the slow
// path of rcu/internal/read_side.h).
void RegisterCurrentThread();

// The calling thread's kernel thread id.
pid_t CurrentThreadId();

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_THREAD_REGISTRY_H_
