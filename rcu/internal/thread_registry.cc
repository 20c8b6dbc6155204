// Registration of threads with liburcu, and what happens when they exit.
#include "rcu/internal/thread_registry.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>

#include "absl/base/thread_annotations.h"
#include "rcu/internal/callbacks.h"
#include "rcu/internal/checks.h"
#include "rcu/internal/exit_drain.h"
#include "rcu/internal/fork_hooks.h"
#include "rcu/internal/read_side.h"
#include "rcu/internal/report.h"
#include "rcu/internal/counters.h"
#include "rcu/internal/urcu.h"
#include "rcu/mutex.h"
#include "rcu/read_guard.h"

// The reader word's layout and the per-thread reader state (data layout and
// accessor only; none of liburcu's inline functions are used from here).
#include <urcu/static/urcu-memb.h>

namespace rcu {
namespace internal {
namespace {

struct Registry {
  Mutex mu;
  ReaderThread* head ABSL_GUARDED_BY(mu) = nullptr;  // every registered thread
};

// Never destroyed, and made without allocating: threads may exit during or
// after static destruction, and a first ReadGuard must not fail.
Registry& GetRegistry() {
  alignas(Registry) static unsigned char storage[sizeof(Registry)];
  static Registry* const registry = new (storage) Registry;
  return *registry;
}

// The calling thread's record (see ReaderThread).
thread_local ReaderThread own_record;

void Link(Registry& registry, ReaderThread* t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(registry.mu) {
  t->prev = nullptr;
  t->next = registry.head;
  if (registry.head != nullptr) registry.head->prev = t;
  registry.head = t;
}

void Unlink(Registry& registry, ReaderThread* t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(registry.mu) {
  if (t->prev != nullptr) t->prev->next = t->next;
  if (t->next != nullptr) t->next->prev = t->prev;
  if (registry.head == t) registry.head = t->next;
  t->prev = t->next = nullptr;
}

void OnThreadExit(void* arg);

pthread_key_t ExitKey() {
  static const pthread_key_t key = [] {
    pthread_key_t k;
    if (pthread_key_create(&k, &OnThreadExit) != 0) {
      CheckFailed("pthread_key_create failed; cannot track thread exits", __FILE__, __LINE__);
    }
    return k;
  }();
  return key;
}

// Runs as a pthread key destructor, after the thread's C++ thread_local
// destructors, so guards used by those destructors are still covered.
void OnThreadExit(void* arg) {
  auto* self = static_cast<ReaderThread*>(arg);
  SetBacklogDebt(false);  // an exiting thread does not wait for the backlog
  int open_guards = 0;
  while (urcu_memb_read_ongoing()) {
    ReadUnlock();
    ++open_guards;
  }
  if (open_guards > 0) {
    Report(Diagnostic::Kind::kThreadExitInReadSection, false,
           "rcu: thread " + std::to_string(self->tid) +
               " exited inside a read-side critical section (" + std::to_string(open_guards) +
               " open ReadGuard(s), leaked or skipped by pthread_exit); the "
               "section was ended for it so that grace periods can complete");
  }
  {
    // Held across liburcu's unregistration too, so that fork() (which takes
    // this lock) never copies liburcu's registry in the middle of a change.
    Registry& registry = GetRegistry();
    MutexLock lock(registry.mu);
    Unlink(registry, self);
    urcu_memb_unregister_thread();
  }
  thread_registered = false;
#if RCU_INTERNAL_INLINE_READ_SIDE
  reader_word = 0;
  SetFastReaderWord();
#endif
  Bump(GetCounters().threads_unregistered);
}

}  // namespace

pid_t CurrentThreadId() { return static_cast<pid_t>(syscall(SYS_gettid)); }

void RegisterCurrentThread() {
  if (thread_registered) return;
  EnsureExitDrainInstalled();
#if RCU_INTERNAL_INLINE_READ_SIDE
  const std::atomic<std::uint64_t>* sections = nullptr;  // in the reader word
#else
  const std::atomic<std::uint64_t>* sections = &sections_begun;
#endif
  ReaderThread* self = &own_record;
  self->tid = CurrentThreadId();
  self->handle = pthread_self();
  self->urcu_ctr = &URCU_TLS(urcu_memb_reader).ctr;
  self->sections = sections;
  // The one step that can fail (glibc may allocate room for the key's
  // value) comes first: a failure leaves the thread unregistered, free to
  // try again at its next ReadGuard.
  if (pthread_setspecific(ExitKey(), self) != 0) throw std::bad_alloc();
  {
    Registry& registry = GetRegistry();
    MutexLock lock(registry.mu);
    Link(registry, self);
    urcu_memb_register_thread();  // cannot fail (liburcu aborts if it does)
  }
#if RCU_INTERNAL_INLINE_READ_SIDE
  // urcu_memb_register_thread() initialized liburcu, so the membarrier
  // decision is final by now.
  reader_word = reinterpret_cast<std::uintptr_t>(&URCU_TLS(urcu_memb_reader).ctr) |
                (urcu_memb_has_sys_membarrier ? 0 : 1);
  SetFastReaderWord();
#endif
  thread_registered = true;
  Bump(GetCounters().threads_registered);
}

void ForEachReaderThread(const std::function<void(ReaderThread&)>& fn) {
  Registry& registry = GetRegistry();
  MutexLock lock(registry.mu);
  for (ReaderThread* t = registry.head; t != nullptr; t = t->next) fn(*t);
}

namespace {

// fork(): no thread registers or leaves across it.
void RegistryBeforeFork() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  (void)ExitKey();  // made by now (waits if another thread is making it)
  GetRegistry().mu.Lock();
}

void RegistryAfterForkParent() ABSL_NO_THREAD_SAFETY_ANALYSIS { GetRegistry().mu.Unlock(); }

// Only the forking thread exists in the child, but liburcu's registry still
// lists the others. That breaks the child in two ways: a thread that was
// inside a read-side section at the fork would block every grace period
// forever, and glibc hands the dead threads' stacks and TLS blocks to new
// threads, so a new thread would register a reader node that is already in
// the list and corrupt it. So, with only this thread running, each dead
// thread's reader is taken out of liburcu's registry (the list unlink
// liburcu's own unregistration does), and our record of it dropped. Threads
// registered with liburcu directly, not through this library, are not known
// here; the caveat in rcu/call_rcu.h applies to them.
void RegistryAfterForkChild(ForkChildCallbacks&) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Registry& registry = GetRegistry();
  const pthread_t me = pthread_self();
  ReaderThread* t = registry.head;
  while (t != nullptr) {
    ReaderThread* next = t->next;
    if (pthread_equal(t->handle, me)) {
      t->tid = CurrentThreadId();
    } else {
      auto* reader =
          caa_container_of(const_cast<unsigned long*>(t->urcu_ctr), struct urcu_reader, ctr);
      reader->ctr = 0;
      cds_list_del(&reader->node);
      reader->registered = 0;
      Unlink(registry, t);  // its memory is the dead thread's, left as it is
    }
    t = next;
  }
  registry.mu.Unlock();
}

[[maybe_unused]] const bool fork_hooks_registered =
    RegisterForkHandlers(ForkStage::kThreadRegistry,
                         {&RegistryBeforeFork, &RegistryAfterForkParent, &RegistryAfterForkChild});

}  // namespace

}  // namespace internal
}  // namespace rcu
