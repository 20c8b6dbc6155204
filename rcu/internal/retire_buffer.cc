#include "rcu/internal/negative_control.h"
#include "rcu/internal/retire_buffer.h"

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <new>

#include "absl/base/thread_annotations.h"
#include "rcu/call_rcu.h"
#include "rcu/internal/callback_list.h"
#include "rcu/internal/callback_worker.h"
#include "rcu/internal/callbacks.h"
#include "rcu/internal/checks.h"
#include "rcu/internal/exit_drain.h"
#include "rcu/internal/fork_hooks.h"
#include "rcu/internal/rcu_head_access.h"
#include "rcu/internal/counters.h"
#include "rcu/mutex.h"
#include "rcu/read_guard.h"

namespace rcu {
namespace internal {
namespace {

// kRetireBatchSize retired objects, queued as one callback.
struct RetireBlock : RcuHead {
  struct Item {
    void* ptr;
    Reclaimer reclaim;
  };
  int count = 0;  // items[0, count) are filled
  Item items[kRetireBatchSize];
};

// Reclaims every object in the block, in retirement order, then the block.
// A reclaimer that throws is reported like a throwing callback; the others
// still run.
void RunRetireBlock(RcuHead* head) {
  auto* block = static_cast<RetireBlock*>(head);
  for (int i = 0; i < block->count; ++i) {
    BeginCallback(reinterpret_cast<const void*>(block->items[i].reclaim));
    try {
      block->items[i].reclaim(block->items[i].ptr);
    } catch (...) {
      ReportThrownCallback();
    }
    EndCallback();
  }
  delete block;
}

// One thread's pending work. Created by its thread on its first batched
// Retire(); destroyed by it at exit (or, in a forked child, by the fork
// handler for threads that do not exist there).
struct ThreadBuffer {
  Mutex mu;
  // The partial block, or null. Only the owner thread starts one; anyone
  // holding `mu` may hand it over (and then queues it before unlocking).
  RetireBlock* block ABSL_GUARDED_BY(mu) = nullptr;
  // After the exit-time drain only: the owner's queued callbacks (full
  // blocks among them), oldest first, counted as queued, not yet run. Its
  // partial block, if any, comes after all of them.
  CallbackList after_drain ABSL_GUARDED_BY(mu);
  // Links in the registry's list, guarded by Registry::mu.
  ThreadBuffer* prev = nullptr;
  ThreadBuffer* next = nullptr;
};

struct Registry {
  Mutex mu;
  ThreadBuffer* head ABSL_GUARDED_BY(mu) = nullptr;  // every live buffer
  // After the exit-time drain: the queues of threads that have exited, each
  // in its order, for the next after-drain run to take (TakeAll...()).
  CallbackList orphaned ABSL_GUARDED_BY(mu);
  pthread_key_t exit_key;  // its destructor hands a thread's work over at exit
};

std::atomic<std::int64_t> flush_delay_ns{
    std::chrono::duration_cast<std::chrono::nanoseconds>(kRetireFlushDelay).count()};

// Set when a thread starts a block; cleared by FlushAllRetireBlocks() before
// it looks at the buffers (see the comment there).
std::atomic<bool> blocks_started{false};

void ReleaseThreadBuffer(void* arg);

// Never destroyed, and made without allocating (see ForkReplaced).
Registry& GetRegistry() {
  alignas(Registry) static unsigned char storage[sizeof(Registry)];
  static Registry* const registry = [] {
    auto* r = new (storage) Registry;
    if (pthread_key_create(&r->exit_key, &ReleaseThreadBuffer) != 0) {
      CheckFailed("pthread_key_create failed; cannot track thread exits", __FILE__, __LINE__);
    }
    return r;
  }();
  return *registry;
}

// The calling thread's buffer: null until its first batched Retire().
thread_local ThreadBuffer* own_buffer = nullptr;
// Set once the thread's buffer has been released at thread exit; Retire()
// calls made later in the exit sequence are not batched.
thread_local bool own_buffer_released = false;
// False only if the calling thread's buffer holds nothing: set by the owner
// whenever it adds to its buffer, cleared by the owner when it finds the
// buffer empty. Others may empty the buffer without clearing it, so true
// means "look, under the lock"; it spares CallRcu() the lock when the
// thread has not retired anything since.
thread_local bool own_buffer_may_hold_work = false;

// Queues `buffer`'s after-drain queue and partial block for the worker, in
// that order.
void QueueBufferForWorker(ThreadBuffer& buffer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(buffer.mu) {
  EnqueueCallbacks(std::move(buffer.after_drain));
  if (RetireBlock* block = buffer.block) {
    buffer.block = nullptr;
    CountQueued(block->count);
    EnqueueCallback(block);
  }
}

// Moves `buffer`'s partial block, if any, to the end of its after-drain
// queue.
void MoveBlockToAfterDrainQueue(ThreadBuffer& buffer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(buffer.mu) {
  if (RetireBlock* block = buffer.block) {
    buffer.block = nullptr;
    CountQueued(block->count);
    buffer.after_drain.Append(block, block->count);
  }
}

// After the drain: whether the calling thread may run its after-drain queue
// itself, which takes a grace period and runs callbacks.
bool MayRunCallbacksHere() { return !InReadSection() && !in_callback; }

// After the drain, with `buffer` (the caller's own) locked: if its queue has
// grown to a batch and the caller may wait here, takes it for the caller to
// run after unlocking. Otherwise the queue keeps growing until a run that
// may (see rcu/internal/exit_drain.h).
CallbackList TakeFullAfterDrainQueue(ThreadBuffer& buffer)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(buffer.mu) {
  CallbackList run;
  if (buffer.after_drain.items() >= static_cast<std::uint64_t>(kRetireBatchSize) &&
      MayRunCallbacksHere()) {
    run.Append(std::move(buffer.after_drain));
  }
  return run;
}

// At thread exit (a pthread key destructor). The thread's pending work goes
// to the worker while its buffer is still listed, so that a Barrier() either
// finds it in the buffer or queued ahead of its own wait. After the exit
// drain it joins the orphaned queues instead, for the next after-drain run:
// an earlier run may hold the thread's earlier callbacks, and the worker
// could overtake it.
void ReleaseThreadBuffer(void* arg) {
  auto* buffer = static_cast<ThreadBuffer*>(arg);
  own_buffer_released = true;
  own_buffer = nullptr;
  own_buffer_may_hold_work = false;
  Registry& registry = GetRegistry();
  {
    MutexLock lock(registry.mu);
#if !RCU_BUG_PUT_BACK(CALLBACK_ORDER)
    {
      MutexLock buffer_lock(buffer->mu);
      if (DrainedAtExit()) {
        MoveBlockToAfterDrainQueue(*buffer);
        registry.orphaned.Append(std::move(buffer->after_drain));
      } else {
        QueueBufferForWorker(*buffer);
      }
    }
#endif
    if (buffer->prev != nullptr) buffer->prev->next = buffer->next;
    if (buffer->next != nullptr) buffer->next->prev = buffer->prev;
    if (registry.head == buffer) registry.head = buffer->next;
  }
#if RCU_BUG_PUT_BACK(CALLBACK_ORDER)
  {
    // The old order: unlinked, unlocked, and only then handed over.
    MutexLock buffer_lock(buffer->mu);
    QueueBufferForWorker(*buffer);
  }
#endif
  delete buffer;
}

ThreadBuffer* CreateOwnBuffer() {
  auto* buffer = new (std::nothrow) ThreadBuffer;
  if (buffer == nullptr) return nullptr;
  Registry& registry = GetRegistry();
  if (pthread_setspecific(registry.exit_key, buffer) != 0) {
    delete buffer;
    return nullptr;
  }
  {
    MutexLock lock(registry.mu);
    buffer->next = registry.head;
    if (registry.head != nullptr) registry.head->prev = buffer;
    registry.head = buffer;
  }
  own_buffer = buffer;
  return buffer;
}

// The calling thread's buffer, created on first use; null if it has been
// released (the thread is exiting) or cannot be allocated.
ThreadBuffer* OwnBuffer() {
  if (own_buffer != nullptr) return own_buffer;
  if (own_buffer_released) return nullptr;
  EnsureExitDrainInstalled();
  return CreateOwnBuffer();
}

}  // namespace

bool RetireBatched(void* ptr, Reclaimer reclaim) {
#if RCU_BUG_PUT_BACK(SKIP_GRACE_PERIODS)
  return false;  // every callback must reach the queue at once
#endif
  ThreadBuffer* buffer = OwnBuffer();
  if (buffer == nullptr) return false;
  NoteQueuedByCallback();
  bool started = false;
  bool queued_full = false;
  AfterDrainRun run;
  CallbackList run_now;
  {
    MutexLock lock(buffer->mu);
    RetireBlock* block = buffer->block;
    if (block == nullptr) {
      block = new (std::nothrow) RetireBlock;
      if (block == nullptr) return false;
      RcuHeadAccess::SetCallback(block, &RunRetireBlock);
      buffer->block = block;
      started = true;
    }
    own_buffer_may_hold_work = true;
    block->items[block->count++] = {ptr, reclaim};
    if (block->count == kRetireBatchSize) {
      if (!DrainedAtExit()) {
        QueueBufferForWorker(*buffer);
        queued_full = true;
      } else {
        MoveBlockToAfterDrainQueue(*buffer);
        run_now = TakeFullAfterDrainQueue(*buffer);
        if (!run_now.empty()) run.Begin();
      }
    }
  }
  if (queued_full) {
    ApplyBackpressure();
  } else if (!run_now.empty()) {
    run.Run(std::move(run_now));
  } else if (started && !DrainedAtExit()) {
    // seq_cst: pairs with the worker's check of this flag before it sleeps.
    blocks_started.store(true, std::memory_order_seq_cst);
    WakeIdleCallbackWorker();
  }
  return true;
}

#if RCU_BUG_PUT_BACK(CALLBACK_ORDER)
// The old check: "is my block empty?" without the lock, while the worker
// may have emptied it under the lock and not yet queued it.
bool LooksEmptyWithoutLock(ThreadBuffer* buffer) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  return __atomic_load_n(&buffer->block, __ATOMIC_RELAXED) == nullptr &&
         buffer->after_drain.empty();
}
#endif

void FlushOwnRetireBlock() {
  if (!own_buffer_may_hold_work) return;  // nothing added since it was empty
  ThreadBuffer* buffer = own_buffer;
#if RCU_BUG_PUT_BACK(CALLBACK_ORDER)
  if (LooksEmptyWithoutLock(buffer)) return;
#endif
  MutexLock lock(buffer->mu);
  QueueBufferForWorker(*buffer);
  own_buffer_may_hold_work = false;
}

bool QueueAfterDrain(RcuHead* head, std::uint64_t items, bool may_run_here) {
  ThreadBuffer* buffer = OwnBuffer();
  if (buffer == nullptr) return false;
  AfterDrainRun run;
  CallbackList run_now;
  {
    MutexLock lock(buffer->mu);
    MoveBlockToAfterDrainQueue(*buffer);
    CountQueued(items);
    buffer->after_drain.Append(head, items);
    own_buffer_may_hold_work = true;
    if (may_run_here) run_now = TakeFullAfterDrainQueue(*buffer);
    if (!run_now.empty()) run.Begin();
  }
  if (!run_now.empty()) run.Run(std::move(run_now));
  return true;
}

CallbackList TakeAllQueuedAfterDrain(AfterDrainRun& run) {
  CallbackList taken;
  Registry& registry = GetRegistry();
  MutexLock lock(registry.mu);
  run.Begin();
  taken.Append(std::move(registry.orphaned));
  for (ThreadBuffer* b = registry.head; b != nullptr; b = b->next) {
    MutexLock buffer_lock(b->mu);
    MoveBlockToAfterDrainQueue(*b);
    taken.Append(std::move(b->after_drain));
  }
  return taken;
}

void FlushAllRetireBlocks() {
  // Cleared before looking: a block started after a buffer was looked at
  // sets the flag again (its thread sets it after starting the block), so no
  // block is left behind with the flag clear.
  blocks_started.store(false, std::memory_order_seq_cst);
  Registry& registry = GetRegistry();
  // Queueing only pushes onto the worker's stack: nothing here waits.
  MutexLock lock(registry.mu);
  for (ThreadBuffer* b = registry.head; b != nullptr; b = b->next) {
    MutexLock buffer_lock(b->mu);
    QueueBufferForWorker(*b);
  }
}

std::chrono::nanoseconds RetireFlushDelay() {
  return std::chrono::nanoseconds(flush_delay_ns.load(std::memory_order_relaxed));
}

void SetRetireFlushDelayForTesting(std::chrono::nanoseconds delay) {
  flush_delay_ns.store(delay.count(), std::memory_order_relaxed);
}

bool RetireBlocksPending() { return blocks_started.load(std::memory_order_seq_cst); }

std::uint64_t ItemsIn(RcuHead* head) {
  if (RcuHeadAccess::Callback(head) != &RunRetireBlock) return 1;
  return static_cast<std::uint64_t>(static_cast<RetireBlock*>(head)->count);
}

std::uint64_t BufferedRetirements() {
  std::uint64_t total = 0;
  Registry& registry = GetRegistry();
  MutexLock lock(registry.mu);
  for (ThreadBuffer* b = registry.head; b != nullptr; b = b->next) {
    MutexLock buffer_lock(b->mu);
    if (const RetireBlock* block = b->block) total += block->count;
  }
  return total;
}

namespace {

// fork(): every buffer is locked across it. Nothing is waited for while
// these locks are held (see ForkStage in rcu/internal/fork_hooks.h), so
// taking them cannot deadlock with a reader.
void RetireBuffersBeforeFork() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Registry& registry = GetRegistry();
  registry.mu.Lock();
  for (ThreadBuffer* b = registry.head; b != nullptr; b = b->next) b->mu.Lock();
}

void RetireBuffersAfterForkParent() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Registry& registry = GetRegistry();
  for (ThreadBuffer* b = registry.head; b != nullptr; b = b->next) b->mu.Unlock();
  registry.mu.Unlock();
}

// Only the forking thread exists in the child. The other threads' buffers
// are removed (their key destructors will never run) and their pending work
// queued for the child's worker, which starts on demand; no thread is
// started here.
void RetireBuffersAfterForkChild(ForkChildCallbacks& inherited) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Registry& registry = GetRegistry();
  ThreadBuffer* b = registry.head;
  registry.head = nullptr;
  inherited.pending += registry.orphaned.items();
  while (b != nullptr) {
    ThreadBuffer* next = b->next;
    b->mu.Unlock();
    if (b == own_buffer) {
      inherited.pending += b->after_drain.items();
      b->prev = nullptr;
      b->next = registry.head;
      if (registry.head != nullptr) registry.head->prev = b;
      registry.head = b;
    } else {
      inherited.orphaned.Append(std::move(b->after_drain));
      if (RetireBlock* block = b->block) inherited.orphaned.Append(block, block->count);
      delete b;
    }
    b = next;
  }
  registry.mu.Unlock();
}

[[maybe_unused]] const bool fork_hooks_registered = RegisterForkHandlers(
    ForkStage::kRetireBuffers,
    {&RetireBuffersBeforeFork, &RetireBuffersAfterForkParent, &RetireBuffersAfterForkChild});

}  // namespace

}  // namespace internal
}  // namespace rcu
