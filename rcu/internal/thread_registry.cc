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
#include "liburcu_config/version.h"
#include "rcu/internal/checks.h"
#include "rcu/internal/report.h"
#include "rcu/internal/runtime.h"
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
      CheckFailed("pthread_key_create failed; cannot track thread exits",
                  __FILE__, __LINE__);
    }
    return k;
  }();
  return key;
}

// Runs as a pthread key destructor, after the thread's C++ thread_local
// destructors, so guards used by those destructors are still covered.
void OnThreadExit(void* arg) {
  auto* self = static_cast<ReaderThread*>(arg);
  backlog_debt = false;  // an exiting thread does not wait for the backlog
  int open_guards = 0;
  while (urcu_memb_read_ongoing()) {
    ReadUnlock();
    ++open_guards;
  }
  if (open_guards > 0) {
    Report(Diagnostic::Kind::kThreadExitInReadSection, false,
           "rcu: thread " + std::to_string(self->tid) +
               " exited inside a read-side critical section (" +
               std::to_string(open_guards) +
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
#endif
  Bump(GetCounters().threads_unregistered);
}

}  // namespace

#if RCU_INTERNAL_INLINE_READ_SIDE
// A grace period waits only for sections that began in the other phase than
// the current one (liburcu's RCU_READER_ACTIVE_OLD). liburcu's read side wakes
// the waiter whenever any section ends while it sleeps; on a machine with
// fewer cores than threads that turned one grace period into hundreds of
// membarrier() calls: the waiter sleeps because a preempted reader holds it
// up, a running reader ends a section of the current phase and wakes it, it
// checks again (membarrier()), sleeps again, and so on until the preempted
// reader gets a CPU, which the spinning waiter keeps from it. Sections of
// the current phase therefore leave it asleep.
//
// Why no wake-up a waiter needs is lost: the waiter flips the phase and then
// (after a full barrier) sets the futex to -1, then sends membarrier() and
// reads the reader words. If it read this section as still active, this
// thread's loads after ending the section follow that membarrier(), so they
// see the futex at -1 (acquire, below) and, written before it, the flipped
// phase: an old section sees the phase differ and wakes the waiter. At most
// one flip can happen during a section (the grace period after it waits for
// the section), so "same phase" means no flip, and then the waiter is not
// waiting for this section.
//
// This rests on how liburcu's synchronize_rcu() waits, which its inline
// read side does not pin down (that side wakes unconditionally). It was
// checked against liburcu 0.13's urcu.c; with any other version the filter
// is off and every section wakes the waiter, as liburcu's own does.
#if RCU_LIBURCU_VERSION_MAJOR == 0 && RCU_LIBURCU_VERSION_MINOR == 13
inline constexpr bool kWakeOnlyForOldSections = true;
#else
inline constexpr bool kWakeOnlyForOldSections = false;
#endif

void WakeGracePeriodWaiter(unsigned long section) {
  if (__atomic_load_n(&urcu_memb_gp.futex, __ATOMIC_ACQUIRE) != -1) return;
  const unsigned long phase = __atomic_load_n(&urcu_memb_gp.ctr, __ATOMIC_RELAXED);
  if (kWakeOnlyForOldSections && ((section ^ phase) & URCU_GP_CTR_PHASE) == 0) return;
  urcu_common_wake_up_gp(&urcu_memb_gp);
}
#endif

pid_t CurrentThreadId() { return static_cast<pid_t>(syscall(SYS_gettid)); }

void RegisterCurrentThread() {
  if (thread_registered) return;
  EnsureProcessHooks();
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
#endif
  thread_registered = true;
  Bump(GetCounters().threads_registered);
}

void ForEachReaderThread(const std::function<void(ReaderThread&)>& fn) {
  Registry& registry = GetRegistry();
  MutexLock lock(registry.mu);
  for (ReaderThread* t = registry.head; t != nullptr; t = t->next) fn(*t);
}

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
void RegistryAfterForkChild() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Registry& registry = GetRegistry();
  const pthread_t me = pthread_self();
  ReaderThread* t = registry.head;
  while (t != nullptr) {
    ReaderThread* next = t->next;
    if (pthread_equal(t->handle, me)) {
      t->tid = CurrentThreadId();
    } else {
      auto* reader = caa_container_of(const_cast<unsigned long*>(t->urcu_ctr),
                                      struct urcu_reader, ctr);
      reader->ctr = 0;
      cds_list_del(&reader->node);
      reader->registered = 0;
      Unlink(registry, t);  // its memory is the dead thread's, left as it is
    }
    t = next;
  }
  registry.mu.Unlock();
}

}  // namespace internal
}  // namespace rcu
