#include "rcu/internal/retire_buffer.h"

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <new>

#include "absl/base/thread_annotations.h"
#include "rcu/call_rcu.h"
#include "rcu/internal/callback_worker.h"
#include "rcu/internal/rcu_head_access.h"
#include "rcu/internal/runtime.h"
#include "rcu/mutex.h"

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
    try {
      block->items[i].reclaim(block->items[i].ptr);
    } catch (...) {
      ReportThrownCallback();
    }
  }
  delete block;
}

// One thread's partial block. Created by its thread on its first batched
// Retire(); destroyed by it at exit (or, in a forked child, by the fork
// handler for threads that do not exist there).
struct ThreadBuffer {
  Mutex mu;
  // The partial block, or null. Changed only under `mu`; only the owner
  // thread sets it non-null, so the owner may read it without `mu` to learn
  // whether it has a block at all.
  std::atomic<RetireBlock*> block{nullptr};
  // Links in the registry's list, guarded by Registry::mu.
  ThreadBuffer* prev = nullptr;
  ThreadBuffer* next = nullptr;
};

struct Registry {
  Mutex mu;
  ThreadBuffer* head ABSL_GUARDED_BY(mu) = nullptr;  // every live buffer
  pthread_key_t exit_key;  // its destructor flushes a thread's buffer at exit
};

std::atomic<std::int64_t> flush_delay_ns{10'000'000};

// Set when a thread starts a block; cleared by FlushAllRetireBlocks() before
// it looks at the buffers (see the comment there).
std::atomic<bool> blocks_started{false};

void ReleaseThreadBuffer(void* arg);

Registry& GetRegistry() {
  static Registry* registry = [] {
    auto* r = new Registry;
    pthread_key_create(&r->exit_key, &ReleaseThreadBuffer);
    return r;
  }();
  return *registry;
}

// The calling thread's buffer: null until its first batched Retire().
thread_local ThreadBuffer* own_buffer = nullptr;
// Set once the thread's buffer has been released at thread exit; Retire()
// calls made later in the exit sequence are not batched.
thread_local bool own_buffer_released = false;

// Takes `buffer`'s block, if any. The caller hands it over.
RetireBlock* TakeBlock(ThreadBuffer& buffer) {
  MutexLock lock(buffer.mu);
  return buffer.block.exchange(nullptr, std::memory_order_relaxed);
}

// Queues a block for the worker. The items are counted as queued callbacks
// (rcu::Stats) now, when the worker can first see them.
void HandOver(RetireBlock* block) {
  if (block != nullptr) QueueCallback(block, &RunRetireBlock, block->count);
}

// Hands `buffer`'s partial block, if any, to the worker, queueing it under
// the buffer's lock: whoever finds the buffer empty afterwards (a Barrier(),
// the owner's next CallRcu()) then queues behind the block, never ahead of
// it. After the exit-time drain a block runs inline instead (a grace period,
// then reclaimers that may retire again), so it is taken first and run
// after unlocking.
void HandOverBlockOf(ThreadBuffer& buffer) {
  if (CallbacksRunInline()) {
    HandOver(TakeBlock(buffer));
    return;
  }
  MutexLock lock(buffer.mu);
  HandOver(buffer.block.exchange(nullptr, std::memory_order_relaxed));
}

void ReleaseThreadBuffer(void* arg) {
  auto* buffer = static_cast<ThreadBuffer*>(arg);
  own_buffer_released = true;
  own_buffer = nullptr;
  Registry& registry = GetRegistry();
  {
    MutexLock lock(registry.mu);
    if (buffer->prev != nullptr) buffer->prev->next = buffer->next;
    if (buffer->next != nullptr) buffer->next->prev = buffer->prev;
    if (registry.head == buffer) registry.head = buffer->next;
  }
  HandOverBlockOf(*buffer);
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

}  // namespace

bool RetireBatched(void* ptr, Reclaimer reclaim) {
#ifdef RCU_INTERNAL_SKIP_GRACE_PERIODS_FOR_NEGATIVE_CONTROL
  return false;  // every callback must reach QueueCallback() at once
#endif
  if (CallbacksRunInline()) return false;  // after the exit-time drain
  ThreadBuffer* buffer = own_buffer;
  if (buffer == nullptr) {
    if (own_buffer_released) return false;
    EnsureProcessHooks();
    buffer = CreateOwnBuffer();
    if (buffer == nullptr) return false;
  }
  RetireBlock* full = nullptr;
  bool started = false;
  {
    MutexLock lock(buffer->mu);
    RetireBlock* block = buffer->block.load(std::memory_order_relaxed);
    if (block == nullptr) {
      block = new (std::nothrow) RetireBlock;
      if (block == nullptr) return false;
      buffer->block.store(block, std::memory_order_relaxed);
      started = true;
    }
    block->items[block->count++] = {ptr, reclaim};
    if (block->count == kRetireBatchSize) {
      full = block;
      buffer->block.store(nullptr, std::memory_order_relaxed);
    }
  }
  if (full != nullptr) {
    HandOver(full);
    ApplyBackpressure();
  } else if (started) {
    // seq_cst: pairs with the worker's check of this flag before it sleeps.
    blocks_started.store(true, std::memory_order_seq_cst);
    WakeIdleCallbackWorker();
  }
  return true;
}

void FlushOwnRetireBlock() {
  ThreadBuffer* buffer = own_buffer;
  if (buffer == nullptr || buffer->block.load(std::memory_order_relaxed) == nullptr) return;
  HandOverBlockOf(*buffer);
}

void FlushAllRetireBlocks() {
  // Cleared before looking: a block started after a buffer was looked at
  // sets the flag again (its thread sets it after starting the block), so no
  // block is left behind with the flag clear.
  blocks_started.store(false, std::memory_order_seq_cst);
  Registry& registry = GetRegistry();
  if (!CallbacksRunInline()) {
    // Queueing only pushes onto the worker's stack: nothing here waits.
    MutexLock lock(registry.mu);
    for (ThreadBuffer* b = registry.head; b != nullptr; b = b->next) HandOverBlockOf(*b);
    return;
  }
  // After the exit-time drain each block waits for a grace period: not with
  // the registry locked, which a reader may be waiting for (GetStats()).
  RetireBlock* taken = nullptr;  // chained through the RcuHead links
  {
    MutexLock lock(registry.mu);
    for (ThreadBuffer* b = registry.head; b != nullptr; b = b->next) {
      if (RetireBlock* block = TakeBlock(*b)) {
        RcuHeadAccess::Next(block) = taken;
        taken = block;
      }
    }
  }
  while (taken != nullptr) {
    auto* next = static_cast<RetireBlock*>(RcuHeadAccess::Next(taken));
    HandOver(taken);
    taken = next;
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
    if (const RetireBlock* block = b->block.load(std::memory_order_relaxed)) total += block->count;
  }
  return total;
}

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
// are removed (their key destructors will never run) and their blocks queued
// for the child's worker, which starts on demand; no thread is started here.
void RetireBuffersAfterForkChild() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Registry& registry = GetRegistry();
  ThreadBuffer* b = registry.head;
  registry.head = nullptr;
  while (b != nullptr) {
    ThreadBuffer* next = b->next;
    b->mu.Unlock();
    if (b == own_buffer) {
      b->prev = nullptr;
      b->next = registry.head;
      if (registry.head != nullptr) registry.head->prev = b;
      registry.head = b;
    } else {
      if (RetireBlock* block = b->block.exchange(nullptr, std::memory_order_relaxed)) {
        AdoptCallbackInForkChild(block, &RunRetireBlock, block->count);
      }
      delete b;
    }
    b = next;
  }
  registry.mu.Unlock();
}

}  // namespace internal
}  // namespace rcu
